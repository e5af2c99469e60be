"""The typed model of one port-discovery entry, and the limits it enforces (spec PD-3..PD-8).

The patterns are written so that Python's ``re``, ECMA-262 (JSON Schema) and RE2 agree on them:
``$(?!\\n)`` is an end anchor that also refuses Python's "end before a final newline" match.
The JSON Schema in ``schemas/port-discovery.schema.json`` repeats these limits; the tests check
that both say the same on every vector and on generated input.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

#: PD-3: at most this many entries in one annotation value.
MAX_ENTRIES = 64
#: PD-6: at most this many attributes in one entry.
MAX_ATTRIBUTES = 32
#: PD-4: an InferencePool name is a DNS-1123 subdomain of at most 253 characters.
MAX_POOL_NAME_LENGTH = 253
#: PD-6: an attribute key is a Kubernetes qualified name of at most 128 characters.
MAX_ATTRIBUTE_KEY_LENGTH = 128
#: PD-6: an attribute value is a Kubernetes label value (at most 63 characters).
MAX_ATTRIBUTE_VALUE_LENGTH = 63
#: PD-5: the port range.
MIN_PORT, MAX_PORT = 1, 65535

_DNS_SUBDOMAIN = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
_END = r"$(?!\n)"
POOL_NAME_PATTERN = rf"^{_DNS_SUBDOMAIN}{_END}"
ATTRIBUTE_KEY_PATTERN = rf"^(?:{_DNS_SUBDOMAIN}/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?{_END}"
ATTRIBUTE_VALUE_PATTERN = rf"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?)?{_END}"
KNOWN_FIELDS = ("inferencePool", "number", "attributes")


def _string_rule(pattern: str, max_length: int, what: str) -> AfterValidator:
    """A validator checking length first, then syntax, each with its own message."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if len(value) > max_length:
            raise PydanticCustomError(
                "too_long", "must be at most {limit} characters, got {length}",
                {"limit": max_length, "length": len(value)},
            )
        if not compiled.search(value):
            raise PydanticCustomError("syntax", "{value} is not {what}", {"value": repr(value), "what": what})
        return value

    return AfterValidator(check)


def _refuse_fraction(value: Any) -> Any:
    """PD-5: a port written with a fraction or an exponent (``8000.0``, ``8e3``) is no port.

    The seed's ``Number int32`` is read by Go's ``encoding/json``, which refuses such numbers; JSON
    Schema counts ``8000.0`` as an integer, so the parser keeps the text of every such number
    (``str`` of the value gives it).
    """
    if isinstance(value, float):
        raise PydanticCustomError(
            "integer_text", "must be an integer written without a fraction or an exponent, got {text}",
            {"text": str(value)},
        )
    return value


def _check_port(value: int) -> int:
    if not MIN_PORT <= value <= MAX_PORT:
        raise PydanticCustomError(
            "port_range", "must be a port between {low} and {high}, got {value}",
            {"low": MIN_PORT, "high": MAX_PORT, "value": value},
        )
    return value


def _check_attribute_count(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_ATTRIBUTES:
        raise PydanticCustomError(
            "too_many", "has {count} attributes, at most {limit} are allowed",
            {"count": len(value), "limit": MAX_ATTRIBUTES},
        )
    return value


PoolName = Annotated[
    str,
    _string_rule(POOL_NAME_PATTERN, MAX_POOL_NAME_LENGTH,
                 "a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')"),
]
Port = Annotated[int, BeforeValidator(_refuse_fraction), AfterValidator(_check_port)]
AttributeKey = Annotated[
    str,
    _string_rule(ATTRIBUTE_KEY_PATTERN, MAX_ATTRIBUTE_KEY_LENGTH,
                 "a Kubernetes label key ([prefix/]name, name at most 63 characters)"),
]
AttributeValue = Annotated[
    str,
    _string_rule(ATTRIBUTE_VALUE_PATTERN, MAX_ATTRIBUTE_VALUE_LENGTH,
                 "a Kubernetes label value (letters, digits, '-', '_' and '.', "
                 "starting and ending with a letter or digit)"),
]


class PortEntry(BaseModel):
    """One model server of a pod: the pool it serves, its port and its per-port attributes."""

    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
    )

    inference_pool: PoolName = Field(alias="inferencePool")
    number: Port
    attributes: Annotated[dict[AttributeKey, AttributeValue], AfterValidator(_check_attribute_count)] = Field(
        default_factory=dict
    )
