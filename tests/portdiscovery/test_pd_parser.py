"""The parser, the models and the JSON Schema against the vectors and generated input (PD-1..PD-8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import eppconf.portdiscovery.schema as schema_module
from eppconf import resources
from eppconf.portdiscovery import (
    ACTIVE_PORTS_ANNOTATION,
    LLMD_ACTIVE_PORTS_ANNOTATION,
    PORT_DISCOVERY_ANNOTATION,
    PortDiscoveryError,
    PortEntry,
    dump_port_discovery,
    load_schema,
    parse_port_discovery,
    schemas_dir,
)

VECTORS = Path(__file__).resolve().parents[2] / "schemas" / "vectors"
VALID = json.loads((VECTORS / "port-discovery-valid.json").read_text())["vectors"]
INVALID = json.loads((VECTORS / "port-discovery-invalid.json").read_text())["vectors"]
VALIDATOR = jsonschema.Draft202012Validator(load_schema())


def strict_json(text: str) -> Any:
    """The parsed value, or None when the text is not strict JSON (PD-2)."""
    def refuse(name: str) -> Any:
        raise ValueError(name)
    try:
        return json.loads(text, parse_constant=refuse)
    except (ValueError, RecursionError):
        return None


def parser_accepts(text: str) -> bool:
    try:
        parse_port_discovery(text)
    except PortDiscoveryError:
        return False
    return True


def outside_schema_rules_hold(document: Any) -> bool:
    """PD-5 and PD-7, which JSON Schema cannot express: ports written as integers (``json.dumps``
    writes every float with a fraction or an exponent), one port per pool."""
    pairs = [(e["inferencePool"], e["number"]) for e in document]
    return len(pairs) == len(set(pairs)) and not any(isinstance(e["number"], float) for e in document)


def test_pd1_annotation_keys() -> None:
    assert PORT_DISCOVERY_ANNOTATION == "inference.networking.x-k8s.io/port-discovery"
    assert ACTIVE_PORTS_ANNOTATION == "inference.networking.k8s.io/active-ports"
    assert LLMD_ACTIVE_PORTS_ANNOTATION == "llm-d.ai/active-ports"


def test_schema_is_valid_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())
    assert load_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_vectors_cover_both_outcomes() -> None:
    assert len(VALID) >= 10 and len(INVALID) >= 20
    assert all(v["why"] for v in INVALID)


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_valid_vector(vector: dict[str, Any]) -> None:
    entries = parse_port_discovery(vector["value"])
    if "entries" in vector:
        assert [e.model_dump(by_alias=True) for e in entries] == vector["entries"]
    assert VALIDATOR.is_valid(strict_json(vector["value"]))


@pytest.mark.parametrize("vector", INVALID, ids=[v["name"] for v in INVALID])
def test_invalid_vector(vector: dict[str, Any]) -> None:
    with pytest.raises(PortDiscoveryError) as caught:
        parse_port_discovery(vector["value"])
    got = [{"entry": p.entry, "field": p.field} for p in caught.value.problems]
    assert got == vector["problems"]
    assert all(p.message for p in caught.value.problems)
    document = strict_json(vector["value"])
    assert (None if document is None else VALIDATOR.is_valid(document)) == vector["schemaValid"]


def test_pd2_empty_string_is_invalid() -> None:
    with pytest.raises(PortDiscoveryError, match="not valid JSON"):
        parse_port_discovery("")


def test_pd2_non_string_is_an_error_not_a_crash() -> None:
    with pytest.raises(PortDiscoveryError, match="must be a string"):
        parse_port_discovery(8000)  # type: ignore[arg-type]


def test_pd3_unknown_field_is_named() -> None:
    with pytest.raises(PortDiscoveryError) as caught:
        parse_port_discovery('[{"inferencePool":"p","number":8000,"attribute":{}}]')
    (problem,) = caught.value.problems
    assert (problem.entry, problem.field) == (0, "attribute") and "not a known field" in problem.message


def test_pd3_entry_limit_is_exact() -> None:
    entries = [PortEntry(inference_pool="p", number=1000 + i) for i in range(64)]
    assert len(parse_port_discovery(dump_port_discovery(entries))) == 64
    entries.append(PortEntry(inference_pool="p", number=9999))
    with pytest.raises(PortDiscoveryError, match="65 entries, at most 64"):
        parse_port_discovery(dump_port_discovery(entries))


def test_pd5_port_message_says_what_and_got() -> None:
    with pytest.raises(PortDiscoveryError) as caught:
        parse_port_discovery('[{"inferencePool":"p","number":65536}]')
    assert str(caught.value.problems[0]) == "entry 0, field number: must be a port between 1 and 65535, got 65536"


@pytest.mark.parametrize("number", ["8000.0", "8e3", "8E+3", "80000e-1", "8000.5", "1e999"])
def test_pd5_fraction_or_exponent_is_no_port(number: str) -> None:
    with pytest.raises(PortDiscoveryError) as caught:
        parse_port_discovery(f'[{{"inferencePool":"p","number":{number}}}]')
    assert str(caught.value.problems[0]) == ("entry 0, field number: must be an integer written without a "
                                             f"fraction or an exponent, got {number}")


def test_pd5_model_refuses_a_float_port() -> None:
    with pytest.raises(ValidationError, match="without a fraction or an exponent, got 8000.0"):
        PortEntry(inference_pool="p", number=8000.0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="without a fraction or an exponent"):
        PortEntry.model_validate_json('{"inferencePool": "p", "number": 8e3}')


def test_pd5_a_float_elsewhere_is_still_a_number() -> None:
    with pytest.raises(PortDiscoveryError, match=r'attributes\["r"\]: must be a string, got a number'):
        parse_port_discovery('[{"inferencePool":"p","number":8000,"attributes":{"r":1.5}}]')


def test_pd7_duplicate_names_both_entries() -> None:
    with pytest.raises(PortDiscoveryError) as caught:
        parse_port_discovery('[{"inferencePool":"p","number":1},{"inferencePool":"q","number":1},'
                             '{"inferencePool":"p","number":1}]')
    (problem,) = caught.value.problems
    assert problem.entry == 2 and "entry 0" in problem.message


def test_pd8_every_problem_reported_in_entry_order() -> None:
    with pytest.raises(PortDiscoveryError) as caught:
        parse_port_discovery('[{"inferencePool":"P","number":0,"attributes":{"r":"a b"}}]')
    assert [p.field for p in caught.value.problems] == ["inferencePool", "number", 'attributes["r"]']


def test_dump_round_trips() -> None:
    entries = [PortEntry(inference_pool="a", number=8000, attributes={"llm-d.ai/role": "decode"}),
               PortEntry(inference_pool="b", number=8001)]
    assert parse_port_discovery(dump_port_discovery(entries)) == entries


def test_schema_found_in_installed_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed = tmp_path / "eppconf" / "schemas"
    installed.mkdir(parents=True)
    (installed / schema_module.SCHEMA_FILE).write_text("{}")
    monkeypatch.setattr(resources, "ROOTS", (installed.parent, tmp_path / "missing"))
    assert schemas_dir() == installed
    monkeypatch.setattr(resources, "ROOTS", (tmp_path / "missing",))
    with pytest.raises(FileNotFoundError, match="port-discovery.schema.json not found"):
        schemas_dir()


# -- generated input -----------------------------------------------------------------------------

names = st.one_of(st.sampled_from(["p", "qwen", "pool.v1", "Pool", "", "a" * 253, "a" * 254, "p\n", "-p"]),
                  st.text(max_size=8))
keys = st.one_of(st.sampled_from(["role", "llm-d.ai/role", "a/b/c", "x" * 64, "p." * 60 + "x/y", "k\n"]),
                 st.text(max_size=6))
values = st.one_of(st.sampled_from(["decode", "", "a-b_c.d", "a b", "x" * 64, "-x"]), st.text(max_size=6),
                   st.integers(), st.none())
ports = st.one_of(st.integers(min_value=-2, max_value=70000), st.sampled_from([8000.0, 8000.5, True, "8000", None]))
entry = st.fixed_dictionaries(
    {"inferencePool": names, "number": ports},
    optional={"attributes": st.one_of(st.dictionaries(keys, values, max_size=34), st.none(), st.lists(keys)),
              "extra": st.integers()},
)
documents = st.one_of(st.lists(st.one_of(entry, st.integers(), st.text()), max_size=66),
                      st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=400, deadline=None)
@given(documents)
def test_models_and_schema_agree_on_generated_documents(document: Any) -> None:
    schema_ok = VALIDATOR.is_valid(document)
    expected = schema_ok and outside_schema_rules_hold(document)
    assert parser_accepts(json.dumps(document)) == expected


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet='[]{},:"0123456789.eE-+ntrufalsNI\\ \n', max_size=40)))
def test_parser_raises_only_its_own_error(text: str) -> None:
    try:
        entries = parse_port_discovery(text)
    except PortDiscoveryError as error:
        assert error.problems
    else:
        assert isinstance(entries, list)
        assert all(isinstance(e, PortEntry) for e in entries)
