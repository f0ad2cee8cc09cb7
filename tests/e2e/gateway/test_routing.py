"""Embeddings, model lists, and what actually reaches the provider (checked in the simulator's request log).

The last test (marked ``gateway_last``, moved to the end of the session by conftest) checks that no provider key
and no caller token ever appeared in the gateway's stdout/stderr.
"""

from __future__ import annotations

import base64
import json
import math
import struct

import anthropic
import httpx
import openai
import pytest

from conftest import Simulator

from .conftest import (
    ALL_MODELS,
    ANTHROPIC_VERSION,
    CHAT_MODELS,
    EMBEDDING_MODELS,
    FAKE_KEYS,
    Stack,
    anthropic_headers,
    openai_headers,
    upstream,
)

USER = [{"role": "user", "content": "hello"}]
CREDENTIAL_HEADERS = {"authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization", "cookie"}
EXPECTED_CREDENTIAL = {
    "openai": "authorization",
    "openai-compatible": "authorization",
    "anthropic": "x-api-key",
    "gemini": "x-goog-api-key",
}


def only_request(sim: Simulator) -> dict:
    entries = sim.requests()
    assert len(entries) == 1, entries
    return entries[0]


def simulator_embedding(sim: Simulator, text: str) -> list[float]:
    """The vector the simulator itself computes for `text` (asked directly, with a fake key)."""
    response = httpx.post(
        f"{sim.base_url}/v1/embeddings",
        json={"model": "reference", "input": text, "encoding_format": "float"},
        headers={"authorization": f"Bearer {FAKE_KEYS['openai-key']}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["data"][0]["embedding"]


# ---------------------------------------------------------------------------------------------------------------
# Embeddings


@pytest.mark.parametrize("encoding", ["default-base64", "float"])
@pytest.mark.parametrize("model", list(EMBEDDING_MODELS))
def test_embeddings(stack: Stack, sim: Simulator, oai: openai.OpenAI, model: str, encoding: str) -> None:
    kwargs = {} if encoding == "default-base64" else {"encoding_format": "float"}
    sim.clear()
    result = oai.embeddings.create(model=model, input=["the quick fox", "jumps"], **kwargs)
    assert result.model == model
    assert [item.index for item in result.data] == [0, 1]
    for item, text in zip(result.data, ["the quick fox", "jumps"]):
        vector = item.embedding
        assert len(vector) == 8
        assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-4)
        reference = simulator_embedding(sim, text)
        assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(vector, reference)), (vector, reference)
    kind, upstream_model = EMBEDDING_MODELS[model]
    if kind == "openai":
        assert result.usage.prompt_tokens == 4
    else:
        assert result.usage.prompt_tokens >= 0  # Gemini's embedding API reports no token counts
    # what went upstream
    sent = [entry for entry in sim.requests() if entry["path"] != "/v1/embeddings" or entry["body"]["model"] != "reference"]
    assert len(sent) == 1, sent
    if kind == "openai":
        assert sent[0]["path"] == "/v1/embeddings"
        assert sent[0]["body"]["model"] == upstream_model
        if encoding == "default-base64":
            assert sent[0]["body"]["encoding_format"] == "base64"
    else:
        assert sent[0]["path"].startswith(f"/v1beta/models/{upstream_model}:")
        assert "embed" in sent[0]["path"].lower()


@pytest.mark.parametrize("model", list(EMBEDDING_MODELS))
def test_embeddings_raw_base64_is_little_endian_float32(stack: Stack, http: httpx.Client, model: str) -> None:
    response = http.post(
        "/v1/embeddings",
        json={"model": model, "input": "hello", "encoding_format": "base64"},
        headers=openai_headers(stack.token),
    )
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["object"] == "list" and payload["model"] == model
    raw = base64.b64decode(payload["data"][0]["embedding"])
    assert len(raw) == 8 * 4
    vector = struct.unpack("<8f", raw)
    assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-4)


def test_embeddings_for_a_chat_only_provider_is_400(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.embeddings.create(model="claude-sonnet", input="hello")
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == "model"


def test_embeddings_respect_token_scope_and_existence(oai: openai.OpenAI, oai_restricted: openai.OpenAI) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        oai_restricted.embeddings.create(model="text-embedding-3-small", input="hello")
    with pytest.raises(openai.NotFoundError):
        oai.embeddings.create(model="no-such-embedding", input="hello")


# ---------------------------------------------------------------------------------------------------------------
# Model lists


def test_models_list_full_token(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    models = list(oai.models.list())
    assert sorted(model.id for model in models) == ALL_MODELS
    assert all(model.object == "model" for model in models)
    anthropic_models = list(claude.models.list())
    assert sorted(model.id for model in anthropic_models) == ALL_MODELS
    assert all(model.type == "model" for model in anthropic_models)
    assert oai.models.retrieve("gemini-flash").id == "gemini-flash"


def test_models_list_restricted_token(oai_restricted: openai.OpenAI, claude_restricted: anthropic.Anthropic) -> None:
    assert [model.id for model in oai_restricted.models.list()] == ["gpt-4o-mini"]
    assert [model.id for model in claude_restricted.models.list()] == ["gpt-4o-mini"]
    assert oai_restricted.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        oai_restricted.models.retrieve("claude-sonnet")


def test_models_list_shapes(stack: Stack, http: httpx.Client) -> None:
    openai_shape = http.get("/v1/models", headers={"authorization": f"Bearer {stack.token}"}).json()
    assert openai_shape["object"] == "list"
    assert {"id", "object", "created", "owned_by"} <= set(openai_shape["data"][0])
    anthropic_shape = http.get("/v1/models", headers=anthropic_headers(stack.token)).json()
    assert anthropic_shape["has_more"] is False
    assert {"type", "id", "display_name", "created_at"} <= set(anthropic_shape["data"][0])
    assert anthropic_shape["first_id"] == anthropic_shape["data"][0]["id"]
    assert anthropic_shape["last_id"] == anthropic_shape["data"][-1]["id"]


# ---------------------------------------------------------------------------------------------------------------
# What reaches the provider


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("model", ["gpt-4o-mini", "llama-3.1-8b"])
def test_openai_pass_through_rewrites_only_the_model(
    stack: Stack, sim: Simulator, http: httpx.Client, model: str, stream: bool
) -> None:
    # Unusual spacing, unknown fields and provider-specific fields: all must reach the provider as sent.
    body = (
        '{ "messages" : [{"role":"user","content":"hello"}],  "model":"%s", "logit_bias": {"50256": -100},'
        ' "metadata": {"x": "y"}, "x_custom_unknown": {"nested": [1, true, null, "s"]}, "user": "u-1", "stream": %s }'
        % (model, "true" if stream else "false")
    )
    sim.clear()
    response = http.post("/v1/chat/completions", content=body, headers=openai_headers(stack.token))
    assert response.status_code == 200, response.text
    assert "x-gatehouse-dropped-params" not in response.headers
    entry = only_request(sim)
    assert entry["path"] == "/v1/chat/completions"
    expected = json.loads(body)
    expected["model"] = upstream(model)
    if stream:
        # the gateway asks for usage for its accounting (and hides that chunk from the caller)
        expected["stream_options"] = {"include_usage": True}
        assert all(json.loads(d).get("choices") for d in _data_lines(response.text) if d != "[DONE]")
    assert entry["body"] == expected
    assert list(entry["body"])[: len(json.loads(body))] == list(json.loads(body)), "key order is kept"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_anthropic_pass_through_rewrites_only_the_model(
    stack: Stack, sim: Simulator, http: httpx.Client, stream: bool
) -> None:
    body = {
        "model": "claude-sonnet",
        "max_tokens": 77,
        "top_k": 5,
        "metadata": {"user_id": "u-1"},
        "x_custom_unknown": [1, {"a": None}],
        "messages": USER,
        "stream": stream,
    }
    sim.clear()
    headers = {**anthropic_headers(stack.token), "anthropic-beta": "fake-beta-2025-01-01"}
    response = http.post("/v1/messages", content=json.dumps(body), headers=headers)
    assert response.status_code == 200, response.text
    entry = only_request(sim)
    assert entry["path"] == "/v1/messages"
    assert entry["body"] == {**body, "model": "claude-sonnet-sim"}
    assert list(entry["body"]) == list(body)
    assert entry["headers"].get("anthropic-version") == ANTHROPIC_VERSION
    assert entry["headers"].get("anthropic-beta") == "fake-beta-2025-01-01"


def test_pass_through_via_the_sdks(stack: Stack, sim: Simulator, oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    sim.clear()
    oai.chat.completions.create(
        model="llama-3.1-8b", messages=USER, logit_bias={"42": 3}, extra_body={"metadata": {"x": "y"}}
    )
    entry = only_request(sim)
    assert entry["body"]["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert entry["body"]["logit_bias"] == {"42": 3}
    assert entry["body"]["metadata"] == {"x": "y"}
    sim.clear()
    claude.messages.create(model="claude-sonnet", max_tokens=33, messages=USER, extra_body={"custom": {"k": 1}})
    entry = only_request(sim)
    assert entry["body"]["model"] == "claude-sonnet-sim"
    assert entry["body"]["custom"] == {"k": 1}
    assert entry["body"]["max_tokens"] == 33


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_translation_to_anthropic(stack: Stack, sim: Simulator, oai: openai.OpenAI, stream: bool) -> None:
    sim.clear()
    raw = oai.chat.completions.with_raw_response.create(
        model="claude-sonnet",
        messages=[{"role": "system", "content": "sys"}, *USER],
        seed=7,
        stream=stream,
    )
    dropped = raw.headers.get("x-gatehouse-dropped-params", "")
    assert "seed" in [name.strip() for name in dropped.split(",")], dropped
    result = raw.parse()
    if stream:
        text = "".join(c.delta.content or "" for chunk in result for c in chunk.choices)
    else:
        text = result.choices[0].message.content
    assert text == "sim:claude-sonnet-sim says: hello [system: sys]"
    entry = only_request(sim)
    assert entry["path"] == "/v1/messages"
    assert entry["headers"].get("anthropic-version"), entry["headers"]
    assert entry["body"]["model"] == "claude-sonnet-sim"
    assert entry["body"]["max_tokens"] == 1024  # default_max_tokens, the caller gave none
    assert "seed" not in entry["body"]
    assert entry["body"].get("stream", False) is stream


def test_translation_to_anthropic_keeps_the_callers_max_tokens(sim: Simulator, oai: openai.OpenAI) -> None:
    sim.clear()
    raw = oai.chat.completions.with_raw_response.create(model="claude-sonnet", messages=USER, max_tokens=50)
    assert "x-gatehouse-dropped-params" not in raw.headers, "nothing was dropped"
    assert only_request(sim)["body"]["max_tokens"] == 50


@pytest.mark.parametrize("model", ["gpt-4o-mini", "llama-3.1-8b", "gemini-flash"])
def test_translation_from_anthropic_names_dropped_fields(
    stack: Stack, sim: Simulator, http: httpx.Client, model: str
) -> None:
    """Anthropic-only fields the target cannot take must be named in x-gatehouse-dropped-params, not lost silently."""
    sim.clear()
    response = http.post(
        "/v1/messages",
        json={"model": model, "max_tokens": 20, "top_k": 5, "x_custom_unknown": 1, "messages": USER},
        headers=anthropic_headers(stack.token),
    )
    assert response.status_code == 200, response.text
    dropped = {name.strip() for name in response.headers.get("x-gatehouse-dropped-params", "").split(",") if name}
    sent = only_request(sim)["body"]
    assert "x_custom_unknown" not in json.dumps(sent)
    assert "x_custom_unknown" in dropped, dropped
    forwarded_top_k = "top_k" in sent or "topK" in sent.get("generationConfig", {})
    assert forwarded_top_k or "top_k" in dropped, f"top_k neither sent ({sent}) nor named as dropped ({dropped})"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_translation_to_gemini(stack: Stack, sim: Simulator, oai: openai.OpenAI, stream: bool) -> None:
    sim.clear()
    raw = oai.chat.completions.with_raw_response.create(
        model="gemini-flash", messages=USER, stream=stream, user="u-1"
    )
    result = raw.parse()
    if stream:
        list(result)
    assert "user" in raw.headers.get("x-gatehouse-dropped-params", "")
    entry = only_request(sim)
    action = "streamGenerateContent" if stream else "generateContent"
    assert entry["path"] == f"/v1beta/models/gemini-flash-sim:{action}"
    if stream:
        assert "alt=sse" in entry["query"]
    assert entry["body"]["contents"] == [{"role": "user", "parts": [{"text": "hello"}]}]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("model", list(CHAT_MODELS))
@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_only_the_provider_credential_reaches_the_provider(
    stack: Stack, sim: Simulator, http: httpx.Client, ingress: str, model: str, stream: bool
) -> None:
    """The caller sends its token in BOTH credential headers plus other sensitive headers; upstream sees exactly
    one credential header (the provider's, redacted in the log) and no trace of the caller's token."""
    caller_headers = {
        "authorization": f"Bearer {stack.token}",
        "x-api-key": stack.token,
        "cookie": f"session={stack.token}",
        "proxy-authorization": f"Bearer {stack.token}",
        "x-goog-api-key": stack.token,
        "x-caller-secret": stack.token,
        "content-type": "application/json",
    }
    if ingress == "openai":
        path, body = "/v1/chat/completions", {"model": model, "messages": USER, "stream": stream}
    else:
        path, body = "/v1/messages", {"model": model, "max_tokens": 50, "messages": USER, "stream": stream}
        caller_headers["anthropic-version"] = ANTHROPIC_VERSION
    sim.clear()
    response = http.post(path, json=body, headers=caller_headers)
    assert response.status_code == 200, response.text
    entry = only_request(sim)
    headers = entry["headers"]
    kind = CHAT_MODELS[model][0]
    present = CREDENTIAL_HEADERS & set(headers)
    if kind == "gemini" and "key=<redacted>" in entry["query"]:
        assert present == set(), headers
    else:
        assert present == {EXPECTED_CREDENTIAL[kind]}, headers
    for name in present:
        assert headers[name] == "<redacted>"
    assert "x-caller-secret" not in headers
    recorded = json.dumps(entry)
    signature = stack.token.rsplit(".", 1)[1]
    claims = stack.token.split(".")[1]
    assert stack.token not in recorded and signature not in recorded and claims not in recorded


@pytest.mark.parametrize("path", ["/v1/embeddings"])
@pytest.mark.parametrize("model", list(EMBEDDING_MODELS))
def test_embeddings_do_not_forward_the_callers_token(
    stack: Stack, sim: Simulator, http: httpx.Client, path: str, model: str
) -> None:
    sim.clear()
    response = http.post(
        path,
        json={"model": model, "input": "hello"},
        headers={"authorization": f"Bearer {stack.token}", "x-api-key": stack.token, "cookie": "c=1"},
    )
    assert response.status_code == 200, response.text
    entry = only_request(sim)
    present = CREDENTIAL_HEADERS & set(entry["headers"])
    kind = EMBEDDING_MODELS[model][0]
    assert present == {EXPECTED_CREDENTIAL[kind]} or (kind == "gemini" and "key=<redacted>" in entry["query"] and not present)
    assert stack.token.rsplit(".", 1)[1] not in json.dumps(entry)


# ---------------------------------------------------------------------------------------------------------------
# Runs last: nothing secret in the gateway's output


@pytest.mark.gateway_last
def test_no_provider_key_or_token_in_gateway_output(stack: Stack, oai: openai.OpenAI) -> None:
    # make sure there was traffic (and therefore key use) even when this test runs alone
    oai.chat.completions.create(model="claude-sonnet", messages=USER)
    oai.embeddings.create(model="gemini-embedding", input="hello")
    output = stack.gateway_output()
    assert "gatehouse serve listening on" in output
    assert "gatehouse.request.id" in output, "the gateway logs requests to stderr; the check below would be vacuous otherwise"
    for name, key in FAKE_KEYS.items():
        assert key not in output, f"provider key {name} appears in the gateway's output"
        assert base64.b64encode(key.encode()).decode() not in output
    assert "sk-fake" not in output
    for token in stack.tokens:
        assert token.rsplit(".", 1)[1] not in output, "a caller token's signature appears in the gateway's output"


def _data_lines(text: str) -> list[str]:
    return [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
