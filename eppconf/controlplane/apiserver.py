"""kube-apiserver as a process: TLS, client-certificate authentication, RBAC, loopback only."""

from __future__ import annotations

import ssl
from pathlib import Path

from eppconf.controlplane.certs import CertificateAuthority, KeyPair, new_private_key, private_key_pem, public_key_pem
from eppconf.controlplane.ports import reserve_port
from eppconf.controlplane.process import ManagedProcess, http_ready

#: Loopback address the API server binds to and advertises.
APISERVER_HOST = "127.0.0.1"
#: Service cluster IP range (as envtest uses it).
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"


class APIServer:
    """A kube-apiserver backed by the etcd at ``etcd_url``, ready when ``/readyz`` answers.

    ``admin`` is the client certificate the readiness probe authenticates with.
    """

    def __init__(
        self,
        *,
        binary: Path,
        work_dir: Path,
        etcd_url: str,
        ca: CertificateAuthority,
        admin: KeyPair,
        startup_timeout: float = 60.0,
        detached: bool = False,
    ) -> None:
        port = reserve_port(APISERVER_HOST)
        self.url = f"https://{APISERVER_HOST}:{port}"
        pki = work_dir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        self.ca_path = pki / "ca.crt"
        self.ca_path.write_bytes(ca.cert_pem)
        serving_cert, serving_key = ca.issue_server(
            common_name="kube-apiserver", hosts=[APISERVER_HOST, "localhost"]
        ).write(pki, "apiserver")
        sa_key, sa_pub = _write_service_account_key(pki)
        self._admin_files = admin.write(pki, "admin")
        self.process = ManagedProcess(
            "kube-apiserver",
            [
                str(binary),
                f"--advertise-address={APISERVER_HOST}",
                f"--bind-address={APISERVER_HOST}",
                f"--secure-port={port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={serving_cert}",
                f"--tls-private-key-file={serving_key}",
                f"--client-ca-file={self.ca_path}",
                f"--etcd-servers={etcd_url}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={self.url}",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                # No controller-manager creates default service accounts: pods would wait forever.
                "--disable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
            ],
            log_dir=work_dir / "logs",
            ready=http_ready(f"{self.url}/readyz", ssl_context=self.admin_ssl_context()),
            startup_timeout=startup_timeout,
            detached=detached,
        )

    def admin_ssl_context(self) -> ssl.SSLContext:
        """A TLS context trusting the CA and presenting the admin client certificate."""
        context = ssl.create_default_context(cafile=str(self.ca_path))
        context.load_cert_chain(*map(str, self._admin_files))
        return context

    def start(self) -> None:
        """Start the API server and wait until ``/readyz`` answers 200."""
        self.process.start()

    def stop(self) -> None:
        """Stop the API server; idempotent."""
        self.process.stop()


def _write_service_account_key(pki: Path) -> tuple[Path, Path]:
    """The service-account signing key and its public half, as separate PEM files."""
    key = new_private_key()
    private, public = pki / "service-account.key", pki / "service-account.pub"
    private.touch(mode=0o600)
    private.write_bytes(private_key_pem(key))
    public.write_bytes(public_key_pem(key))
    return private, public
