"""Parsing a port-discovery annotation value into entries, or into one problem per defect."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from eppconf.portdiscovery._model import KNOWN_FIELDS, MAX_ENTRIES, PortEntry

_ENTRIES = TypeAdapter(list[PortEntry])
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
               int: "a number", float: "a number", type(None): "null"}
_TYPE_MESSAGES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "list_type": "must be an array",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One defect: the entry (index, or None for the whole value), the field path, what is wrong."""

    entry: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [] if self.entry is None else [f"entry {self.entry}"]
        if self.field is not None:
            where.append(f"field {self.field}")
        return f"{', '.join(where) or 'value'}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The problem as JSON-ready data."""
        return {"entry": self.entry, "field": self.field, "message": self.message}


class PortDiscoveryError(ValueError):
    """An invalid port-discovery value; ``problems`` lists every defect found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def parse_port_discovery(value: str) -> list[PortEntry]:
    """The entries of an annotation value; raises PortDiscoveryError listing every problem."""
    if not isinstance(value, str):
        raise PortDiscoveryError([Problem(None, None, f"must be a string, got {_json_type(value)}")])
    result = _parse_cached(value) if len(value) <= _CACHED_LENGTH else _parse(value)
    if isinstance(result[0], Problem):
        raise PortDiscoveryError(result)
    return list(result[1:])


def dump_port_discovery(entries: Iterable[PortEntry]) -> str:
    """The annotation value declaring ``entries`` (compact JSON, attributes omitted when empty)."""
    return json.dumps(
        [e.model_dump(by_alias=True, exclude_defaults=True) for e in entries], separators=(",", ":")
    )


def _parse(value: str) -> tuple[Any, ...]:
    """Problems, or a leading ``None`` followed by the entries (hashable, so results are cached)."""
    try:
        document = _load_json(value)
    except ValueError as error:
        return (Problem(None, None, str(error)),)
    if not isinstance(document, list):
        return (Problem(None, None, f"must be a JSON array of entries, got {_json_type(document)}"),)
    problems = []
    if len(document) > MAX_ENTRIES:
        problems.append(Problem(None, None, f"has {len(document)} entries, at most {MAX_ENTRIES} are allowed"))
    try:
        entries = _ENTRIES.validate_python(document)
    except ValidationError as error:
        return tuple(problems + [_problem(e) for e in error.errors(include_url=False)])
    problems.extend(_duplicate_ports(entries))
    return tuple(problems) if problems else (None, *entries)


#: Values up to this length are cached: a launcher's annotations repeat, and cached entries are
#: immutable; longer values are parsed each time so the cache cannot grow large.
_CACHED_LENGTH = 4096
_parse_cached = lru_cache(maxsize=4096)(_parse)


def _load_json(value: str) -> Any:
    """Strict JSON: no NaN or Infinity, no repeated member names; ValueError says why."""
    try:
        return json.loads(value, object_pairs_hook=_unique_members, parse_constant=_no_constant,
                          parse_float=_NumberText)
    except json.JSONDecodeError as error:
        raise ValueError(f"is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise ValueError("is not valid JSON: nested too deeply") from None
    except ValueError as error:  # e.g. an integer literal too long to convert
        raise ValueError(f"is not valid JSON: {error}") from None


class _NumberText(float):
    """A JSON number written with a fraction or an exponent, which keeps its text for messages (PD-5)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> _NumberText:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for key, item in pairs:
        if key in members:
            raise ValueError(f"member {key!r} appears twice in one object")
        members[key] = item
    return members


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _duplicate_ports(entries: list[PortEntry]) -> list[Problem]:
    """PD-7: within one pool, each port is declared once."""
    seen: dict[tuple[str, int], int] = {}
    problems = []
    for index, entry in enumerate(entries):
        first = seen.setdefault((entry.inference_pool, entry.number), index)
        if first != index:
            problems.append(Problem(index, "number", f"port {entry.number} is already declared "
                                                      f"for pool {entry.inference_pool!r} by entry {first}"))
    return problems


def _problem(error: Any) -> Problem:
    """A Problem from one pydantic error, located by entry index and field path."""
    loc = list(error["loc"])
    entry = loc.pop(0) if loc and isinstance(loc[0], int) else None
    kind = error["type"]
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = f"is not a known field (known: {', '.join(KNOWN_FIELDS)})"
    elif kind in _TYPE_MESSAGES:
        message = f"{_TYPE_MESSAGES[kind]}, got {_json_type(error['input'])}"
    else:
        message = error["msg"]
    return Problem(entry, _field_path(loc), message)


def _field_path(loc: list[Any]) -> str | None:
    """``attributes["role"]`` style paths; a bad key reports as ``attributes["key"] (key)``."""
    if not loc:
        return None
    path = str(loc[0])
    if len(loc) > 1:
        path += f"[{json.dumps(loc[1])}]"
    if len(loc) > 2 and loc[2] == "[key]":
        path += " (key)"
    return path


def _json_type(value: Any) -> str:
    if isinstance(value, float):
        return "a number"
    return _JSON_TYPES.get(type(value), type(value).__name__)
