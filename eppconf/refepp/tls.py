"""The self-signed certificate the ext_proc port serves with by default (like GIE's EPP)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from eppconf.controlplane.certs import subject_alt_names


def self_signed_pair(hosts: Sequence[str]) -> tuple[bytes, bytes]:
    """A fresh private key and self-signed certificate for ``hosts``, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eppconf-reference-epp")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=365))
                   .add_extension(subject_alt_names(hosts), critical=False)
                   .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def self_signed_credentials(hosts: Sequence[str]) -> grpc.ServerCredentials:
    """Server TLS credentials with a fresh self-signed certificate for ``hosts`` (GIE's default)."""
    return grpc.ssl_server_credentials([self_signed_pair(hosts)])
