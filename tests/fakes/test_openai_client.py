"""The official openai client against a fake port: completions, chat, streaming, errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import pytest

from fakes import FakePort, FakeRuntime, PortConfig
from fakes.modelserver.app import SERVED_BY_HEADER


@pytest.fixture
def port(runtime: FakeRuntime) -> FakePort:
    return runtime.serve("127.0.0.7", 0, PortConfig(models=("base", "alias"), lora_adapters=("sql",),
                                                     output_tokens=5))


@pytest.fixture
def client(port: FakePort) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{port.base_url}/v1", api_key="unused", max_retries=0) as api:
        yield api


def test_completion_has_text_and_usage(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="base", prompt="one two three")
    assert completion.object == "text_completion"
    assert len(completion.choices[0].text.split()) == 5
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (3, 5)
    assert completion.usage.total_tokens == 8


def test_chat_completion_honours_max_tokens(client: openai.OpenAI) -> None:
    chat = client.chat.completions.create(model="alias", max_tokens=2,
                                          messages=[{"role": "user", "content": "hello there"}])
    assert chat.object == "chat.completion"
    assert chat.choices[0].message.role == "assistant"
    assert len((chat.choices[0].message.content or "").split()) == 2
    assert chat.choices[0].finish_reason == "length"
    assert chat.model == "alias"


def test_streamed_chat_ends_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="sql", stream=True, stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "hi"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 5
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_streamed_completion(client: openai.OpenAI) -> None:
    pieces = [c.choices[0].text for c in client.completions.create(model="base", prompt="x", stream=True)]
    assert len("".join(pieces).split()) == 5


def test_models_lists_aliases_and_loras(client: openai.OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {"base", "alias", "sql"}
    assert models["sql"].model_extra is not None and models["sql"].model_extra["parent"] == "base"


def test_unknown_model_is_an_openai_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model="nope", prompt="x")
    assert caught.value.body == {"message": "The model `nope` does not exist.", "type": "NotFoundError",
                                 "param": None, "code": 404}


def _post(url: str, data: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


@pytest.mark.parametrize(("body", "says"), [
    (b"{not json", "Failed to read and parse request body"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"model": 3, "prompt": "x"}', "'model' must be a string"),
    (b'{"model": "base"}', "'prompt' must be"),
    (b'{"model": "base", "prompt": "x", "max_tokens": -1}', "max_tokens must be a positive integer"),
    (b'{"model": "base", "prompt": "x", "stream": "yes"}', "'stream' must be a boolean"),
])
def test_malformed_bodies_get_openai_400(port: FakePort, body: bytes, says: str) -> None:
    status, answer = _post(f"{port.base_url}/v1/completions", body)
    assert status == 400
    error = answer["error"]
    assert isinstance(error, dict) and error["type"] == "BadRequestError" and says in error["message"]


def test_answers_name_the_serving_port(port: FakePort) -> None:
    request = urllib.request.Request(f"{port.base_url}/v1/completions", method="POST",
                                     data=b'{"model": "base", "prompt": "x"}')
    with urllib.request.urlopen(request) as response:
        assert response.headers[SERVED_BY_HEADER] == f"127.0.0.7:{port.port}"
