"""Errors in the caller's dialect: the SDK exception classes, the body shapes, token refusals and mid-stream faults."""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import httpx2  # the anthropic SDK's HTTP client package
import openai
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .conftest import (
    ANTHROPIC_VERSION,
    CHAT_MODELS,
    TIMEOUT,
    Stack,
    anthropic_headers,
    openai_headers,
    parse_sse,
    upstream,
)

MODELS = list(CHAT_MODELS)
USER = [{"role": "user", "content": "hello"}]


def fault_messages(kind: str) -> list[dict]:
    return [{"role": "user", "content": f"one two three four sim:fault={kind}"}]


class CorruptBody(httpx.HTTPTransport):
    """Sends the SDK's request with its JSON body cut short, so the gateway sees invalid JSON."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
        broken = httpx.Request(request.method, request.url, headers=headers, content=request.content[:-7])
        return super().handle_request(broken)


class CorruptBody2(httpx2.HTTPTransport):
    """The same for the anthropic SDK, which is built on httpx2."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
        broken = httpx2.Request(request.method, request.url, headers=headers, content=request.content[:-7])
        return super().handle_request(broken)


def assert_openai_error_shape(body: dict) -> dict:
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert error["param"] is None or isinstance(error["param"], str)
    assert error["code"] is None or isinstance(error["code"], str)
    return error


def assert_anthropic_error_shape(body: dict, error_type: str) -> dict:
    assert set(body) == {"type", "error"}, body
    assert body["type"] == "error"
    error = body["error"]
    assert set(error) == {"type", "message"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == error_type, body
    return error


# ---------------------------------------------------------------------------------------------------------------
# Each error class, with the SDKs


def test_bad_json_is_400_openai(stack: Stack) -> None:
    with httpx.Client(transport=CorruptBody()) as http_client:
        client = openai.OpenAI(
            base_url=stack.base_url + "/v1", api_key=stack.token, max_retries=0, http_client=http_client
        )
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert caught.value.status_code == 400
    assert_openai_error_shape(caught.value.response.json())


def test_bad_json_is_400_anthropic(stack: Stack) -> None:
    with httpx2.Client(transport=CorruptBody2()) as http_client:
        client = anthropic.Anthropic(base_url=stack.base_url, api_key=stack.token, max_retries=0, http_client=http_client)
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(model="claude-sonnet", max_tokens=10, messages=USER)
    assert caught.value.status_code == 400
    assert_anthropic_error_shape(caught.value.response.json(), "invalid_request_error")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
@pytest.mark.parametrize("body", [b"{not json", b"[1,2,3]", b"", b'{"model":"gpt-4o-mini","model":"x","messages":[]}'])
def test_bad_json_body_shapes(stack: Stack, http: httpx.Client, path: str, body: bytes) -> None:
    headers = openai_headers(stack.token) if "chat" in path else anthropic_headers(stack.token)
    response = http.post(path, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    if "chat" in path:
        error = assert_openai_error_shape(response.json())
        assert error["type"] == "invalid_request_error"
    else:
        assert_anthropic_error_shape(response.json(), "invalid_request_error")


def test_missing_model_is_400(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="", messages=USER)
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="", max_tokens=10, messages=USER)


def test_invalid_token_is_401(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.base_url + "/v1", api_key="not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert caught.value.status_code == 401
    assert_openai_error_shape(caught.value.response.json())
    client2 = anthropic.Anthropic(base_url=stack.base_url, api_key="not-a-token", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught2:
        client2.messages.create(model="claude-sonnet", max_tokens=10, messages=USER)
    assert caught2.value.status_code == 401
    assert_anthropic_error_shape(caught2.value.response.json(), "authentication_error")


@pytest.mark.parametrize("model", ["claude-sonnet", "gemini-flash", "llama-3.1-8b", "no-such-model"])
def test_model_outside_token_scope_is_403(
    oai_restricted: openai.OpenAI, claude_restricted: anthropic.Anthropic, model: str
) -> None:
    """Out of scope is refused before existence is revealed: an unknown model is 403 too for this token."""
    with pytest.raises(openai.PermissionDeniedError) as caught:
        oai_restricted.chat.completions.create(model=model, messages=USER)
    assert caught.value.status_code == 403
    assert_openai_error_shape(caught.value.response.json())
    with pytest.raises(anthropic.PermissionDeniedError) as caught2:
        claude_restricted.messages.create(model=model, max_tokens=10, messages=USER)
    assert caught2.value.status_code == 403
    assert_anthropic_error_shape(caught2.value.response.json(), "permission_error")


def test_restricted_token_may_use_its_model(oai_restricted: openai.OpenAI, claude_restricted: anthropic.Anthropic) -> None:
    reply = oai_restricted.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert reply.choices[0].message.content == "sim:gpt-4o-mini-sim says: hello"
    message = claude_restricted.messages.create(model="gpt-4o-mini", max_tokens=50, messages=USER)
    assert message.content[0].text == "sim:gpt-4o-mini-sim says: hello"


def test_unknown_model_is_404(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="no-such-model", messages=USER)
    assert caught.value.status_code == 404
    error = assert_openai_error_shape(caught.value.response.json())
    assert error["param"] == "model"
    with pytest.raises(anthropic.NotFoundError) as caught2:
        claude.messages.create(model="no-such-model", max_tokens=10, messages=USER)
    assert caught2.value.status_code == 404
    assert_anthropic_error_shape(caught2.value.response.json(), "not_found_error")


BIG = "x" * (4 * 1024 * 1024 + 1024)  # just over server.max_body_bytes (4 MiB)


def test_body_over_limit_is_413(stack: Stack, oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": BIG}])
    assert caught.value.status_code == 413
    assert_openai_error_shape(caught.value.response.json())
    with pytest.raises(anthropic.ContentTooLargeError) as caught2:  # an APIStatusError subclass
        claude.messages.create(model="claude-sonnet", max_tokens=10, messages=[{"role": "user", "content": BIG}])
    assert caught2.value.status_code == 413
    assert_anthropic_error_shape(caught2.value.response.json(), "request_too_large")
    assert stack.healthy()


def test_body_just_under_limit_is_accepted(oai: openai.OpenAI) -> None:
    text = "y" * (4 * 1024 * 1024 - 4096)
    reply = oai.chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": text}], max_tokens=2)
    assert reply.choices[0].message.content == "sim:gemini-flash-sim says:"


# ---------------------------------------------------------------------------------------------------------------
# Upstream status faults, for every provider and both dialects, streamed and not


STATUS_FAULTS = {
    # kind: (gateway status, openai exception, anthropic exception, anthropic error type)
    "429": (429, openai.RateLimitError, anthropic.RateLimitError, "rate_limit_error"),
    "500": (502, openai.InternalServerError, anthropic.InternalServerError, "api_error"),
    "503": (503, openai.InternalServerError, anthropic.InternalServerError, "overloaded_error"),
}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", list(STATUS_FAULTS))
@pytest.mark.parametrize("model", MODELS)
def test_upstream_status_fault_openai(oai: openai.OpenAI, model: str, kind: str, stream: bool) -> None:
    status, exception, _, _ = STATUS_FAULTS[kind]
    with pytest.raises(exception) as caught:
        result = oai.chat.completions.create(model=model, messages=fault_messages(kind), stream=stream)
        if stream:
            list(result)
    assert caught.value.status_code == status
    error = assert_openai_error_shape(caught.value.response.json())
    assert "sk-fake" not in error["message"]
    if kind == "429":
        assert caught.value.response.headers.get("retry-after") == "7"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", list(STATUS_FAULTS))
@pytest.mark.parametrize("model", MODELS)
def test_upstream_status_fault_anthropic(claude: anthropic.Anthropic, model: str, kind: str, stream: bool) -> None:
    status, _, exception, error_type = STATUS_FAULTS[kind]
    with pytest.raises(exception) as caught:
        if stream:
            with claude.messages.stream(model=model, max_tokens=50, messages=fault_messages(kind)) as events:
                for _ in events:
                    pass
        else:
            claude.messages.create(model=model, max_tokens=50, messages=fault_messages(kind))
    assert caught.value.status_code == status
    assert_anthropic_error_shape(caught.value.response.json(), error_type)
    if kind == "429":
        assert caught.value.response.headers.get("retry-after") == "7"


@pytest.mark.parametrize("kind", ["reset", "malformed"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_broken_non_streamed_upstream_answer_is_502(
    stack: Stack, http: httpx.Client, ingress: str, model: str, kind: str
) -> None:
    """A provider that drops the connection mid-body or sends half a JSON body is an upstream failure (502),
    never a 200 with a broken body and never the gateway's own 500."""
    if ingress == "openai":
        response = http.post(
            "/v1/chat/completions",
            json={"model": model, "messages": fault_messages(kind)},
            headers=openai_headers(stack.token),
        )
    else:
        response = http.post(
            "/v1/messages",
            json={"model": model, "max_tokens": 50, "messages": fault_messages(kind)},
            headers=anthropic_headers(stack.token),
        )
    assert response.status_code == 502, f"{response.status_code} {response.text[:300]}"
    if ingress == "openai":
        assert_openai_error_shape(response.json())
    else:
        assert_anthropic_error_shape(response.json(), "api_error")
    assert stack.healthy()


# ---------------------------------------------------------------------------------------------------------------
# Mid-stream faults


@pytest.mark.parametrize("kind", ["reset", "malformed"])
@pytest.mark.parametrize("model", MODELS)
def test_mid_stream_fault_openai(stack: Stack, oai: openai.OpenAI, model: str, kind: str) -> None:
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in oai.chat.completions.create(model=model, messages=fault_messages(kind), stream=True):
            received.extend(choice.delta.content or "" for choice in chunk.choices)
    # an error event from the gateway, not a dropped connection or a JSON decode error
    assert not isinstance(caught.value, openai.APIConnectionError), repr(caught.value)
    assert isinstance(caught.value.body, dict) and caught.value.body.get("message"), caught.value.body
    expected = f"sim:{upstream(model)} says: one two three four sim:fault={kind}"
    assert expected.startswith("".join(received))
    assert stack.healthy()
    after = oai.chat.completions.create(model=model, messages=USER)
    assert after.choices[0].message.content == f"sim:{upstream(model)} says: hello"


@pytest.mark.parametrize("kind", ["reset", "malformed"])
@pytest.mark.parametrize("model", MODELS)
def test_mid_stream_fault_anthropic(stack: Stack, claude: anthropic.Anthropic, model: str, kind: str) -> None:
    with pytest.raises(anthropic.APIError) as caught:
        with claude.messages.stream(model=model, max_tokens=50, messages=fault_messages(kind)) as events:
            for _ in events:
                pass
    assert isinstance(caught.value, anthropic.APIStatusError), repr(caught.value)
    body = caught.value.body
    assert isinstance(body, dict) and body.get("type") == "error", body
    assert stack.healthy()
    after = claude.messages.create(model=model, max_tokens=50, messages=USER)
    assert after.content[0].text == f"sim:{upstream(model)} says: hello"


@pytest.mark.parametrize("kind", ["reset", "malformed"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("ingress", ["openai", "anthropic"])
def test_mid_stream_fault_wire_format(stack: Stack, http: httpx.Client, ingress: str, model: str, kind: str) -> None:
    """The stream ends with exactly one error event in the caller's dialect; no broken upstream bytes leak."""
    if ingress == "openai":
        response = http.post(
            "/v1/chat/completions",
            json={"model": model, "stream": True, "messages": fault_messages(kind)},
            headers=openai_headers(stack.token),
        )
    else:
        response = http.post(
            "/v1/messages",
            json={"model": model, "max_tokens": 50, "stream": True, "messages": fault_messages(kind)},
            headers=anthropic_headers(stack.token),
        )
    assert response.status_code == 200
    assert "{not json" not in response.text
    events = parse_sse(response.text)
    for name, data in events:
        if data != "[DONE]":
            json.loads(data)
    name, data = events[-1]
    if ingress == "openai":
        assert name is None
        assert_openai_error_shape(json.loads(data))
        assert sum(1 for _, d in events if '"error"' in d) == 1
    else:
        assert name == "error"
        assert_anthropic_error_shape(json.loads(data), "api_error")
        assert [n for n, _ in events].count("error") == 1
        assert "message_stop" not in [n for n, _ in events]


# ---------------------------------------------------------------------------------------------------------------
# Token refusals


def forged_tokens(stack: Stack) -> dict[str, str]:
    authority = stack.authority
    now = int(time.time())
    other = Ed25519PrivateKey.generate()
    header = {"alg": "EdDSA", "typ": "JWT", "kid": authority.kid}
    return {
        "garbage": "garbage-token",
        "three-garbage-parts": "aaa.bbb.ccc",
        "expired": authority.forge(claims=authority.claims(iat=now - 7200, nbf=now - 7200, exp=now - 120)),
        "not-yet-valid": authority.forge(claims=authority.claims(iat=now + 300, nbf=now + 300, exp=now + 1200)),
        "wrong-audience": authority.forge(claims=authority.claims(aud="some-other-service")),
        "wrong-issuer": authority.forge(claims=authority.claims(iss="evil")),
        "alg-none": authority.forge(header={"alg": "none", "typ": "JWT", "kid": authority.kid}, no_signature=True),
        "alg-none-signed": authority.forge(header={"alg": "none", "typ": "JWT", "kid": authority.kid}),
        "hs256-public-key": authority.forge(
            header={"alg": "HS256", "typ": "JWT", "kid": authority.kid}, hs256_secret=authority.public_raw
        ),
        "hs256-kid": authority.forge(
            header={"alg": "HS256", "typ": "JWT", "kid": authority.kid}, hs256_secret=authority.kid.encode()
        ),
        "other-key-same-kid": authority.forge(header=header, signer=other),
        "other-key-unknown-kid": authority.forge(header={"alg": "EdDSA", "typ": "JWT", "kid": "kdeadbeef"}, signer=other),
        "embedded-jwk": authority.forge(header={**header, "jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}}),
        "tampered-claims": (lambda t: t.split(".")[0] + "." + authority.forge(claims=authority.claims(sub="root")).split(".")[1] + "." + t.split(".")[2])(stack.token),
        "truncated-signature": stack.token[:-4],
    }


REFUSALS = [
    "garbage", "three-garbage-parts", "expired", "not-yet-valid", "wrong-audience", "wrong-issuer", "alg-none",
    "alg-none-signed", "hs256-public-key", "hs256-kid", "other-key-same-kid", "other-key-unknown-kid",
    "embedded-jwk", "tampered-claims", "truncated-signature",
]  # fmt: skip


def test_forging_helper_makes_valid_tokens(stack: Stack, http: httpx.Client) -> None:
    """Sanity check of the forging helper: a token it signs with the real key and sane claims is accepted."""
    token = stack.authority.forge()
    response = http.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": USER},
        headers=openai_headers(token),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("refusal", REFUSALS)
def test_refused_token_sdk_classes(stack: Stack, refusal: str) -> None:
    token = forged_tokens(stack)[refusal]
    client = openai.OpenAI(base_url=stack.base_url + "/v1", api_key=token, max_retries=0, timeout=TIMEOUT)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    client2 = anthropic.Anthropic(base_url=stack.base_url, api_key=token, max_retries=0, timeout=TIMEOUT)
    with pytest.raises(anthropic.AuthenticationError):
        client2.messages.create(model="claude-sonnet", max_tokens=10, messages=USER)


def test_refused_tokens_all_get_the_same_generic_answer(stack: Stack, http: httpx.Client) -> None:
    tokens = forged_tokens(stack)
    openai_errors, anthropic_errors = {}, {}
    for refusal in REFUSALS:
        token = tokens[refusal]
        response = http.post(
            "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": USER}, headers=openai_headers(token)
        )
        assert response.status_code == 401, (refusal, response.text)
        assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
        openai_errors[refusal] = assert_openai_error_shape(response.json())
        for header in ({"x-api-key": token}, {"authorization": f"Bearer {token}"}):
            response = http.post(
                "/v1/messages",
                json={"model": "claude-sonnet", "max_tokens": 10, "messages": USER},
                headers={**header, "anthropic-version": ANTHROPIC_VERSION},
            )
            assert response.status_code == 401, (refusal, response.text)
            anthropic_errors[refusal] = assert_anthropic_error_shape(response.json(), "authentication_error")
        response = http.get("/v1/models", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 401, (refusal, response.text)
    distinct_openai = {json.dumps(error, sort_keys=True) for error in openai_errors.values()}
    distinct_anthropic = {json.dumps(error, sort_keys=True) for error in anthropic_errors.values()}
    assert len(distinct_openai) == 1, openai_errors
    assert len(distinct_anthropic) == 1, anthropic_errors
    message = next(iter(openai_errors.values()))["message"].lower()
    assert next(iter(anthropic_errors.values()))["message"].lower() == message
    # generic: says nothing about which check failed (the words "invalid or expired" cover all cases alike)
    for word in ["signature", "audience", "algorithm", "alg ", "kid", "not yet", "issuer", "future"]:
        assert word not in message, message


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer"}, {"authorization": "Basic dXNlcjpwYXNz"}, {"x-api-key": ""}],
    ids=["none", "empty-bearer", "basic", "empty-x-api-key"],
)
def test_missing_token_is_401(stack: Stack, http: httpx.Client, headers: dict) -> None:
    for path, body, extra in [
        ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": USER}, {}),
        ("/v1/messages", {"model": "claude-sonnet", "max_tokens": 10, "messages": USER}, {"anthropic-version": ANTHROPIC_VERSION}),
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"}, {}),
    ]:
        response = http.post(path, json=body, headers={**headers, **extra})
        assert response.status_code == 401, (path, response.text)
        if path == "/v1/messages":
            assert_anthropic_error_shape(response.json(), "authentication_error")
        else:
            assert_openai_error_shape(response.json())
    assert http.get("/v1/models", headers=headers).status_code == 401
    assert http.get("/health").status_code == 200  # health needs no token
