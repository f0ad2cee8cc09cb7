"""The guardrails' webhook scanner end to end: an operator's scanning service (a real HTTP server on loopback)
asked by the keyholder with the prompt's texts and with the answer's, in front of a real simulator, with the
official SDKs as clients. The service flags input texts that mention "forbidden-topic" and output texts that
mention "secret-plan"; its /slow path never answers in time."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import anthropic
import httpx
import openai
import pytest

from conftest import SIM_API_KEY, wait_until
from test_failover import Group, group


class Scanner:
    """The operator's service: records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        scanner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                scanner.requests.append({"path": self.path, "auth": self.headers.get("authorization"), **body})
                if self.path == "/slow":
                    time.sleep(2)
                word = "forbidden-topic" if body["direction"] == "input" else "secret-plan"
                flagged = any(word in text for text in body["texts"])
                answer = json.dumps({"flagged": flagged, "type": "topic"}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def hooked() -> Iterator[tuple[Group, Scanner]]:
    scanner = Scanner()
    url = f"http://127.0.0.1:{scanner.port}"
    policies = f"""guardrails:
  policies:
    hooked:
      input:
        pii: redact
        webhook: {{url: "{url}/scan", action: block, timeout_ms: 2000, key: k}}
      output:
        webhook: {{url: "{url}/scan", action: block, timeout_ms: 2000}}
    closed:
      input:
        webhook: {{url: "{url}/slow", timeout_ms: 300}}
    open:
      input:
        webhook: {{url: "{url}/slow", timeout_ms: 300, on_error: allow}}
"""
    models = """models:
  - {name: hooked, provider: o, model: u-h, guardrails: hooked}
  - {name: closed, provider: o, model: u-c, guardrails: closed}
  - {name: open, provider: o, model: u-p, guardrails: open}
"""
    with group({"o": ("openai", [])}, models, policies) as g:
        yield g, scanner
    scanner.server.shutdown()


def test_the_input_webhook_sees_the_redacted_prompt_through_the_keyholder_and_can_refuse_it(hooked) -> None:
    g, scanner = hooked
    reply = g.openai().chat.completions.create(
        model="hooked", messages=[{"role": "user", "content": "plain question from ann@example.com"}])
    assert reply.choices[0].message.content == "sim:u-h says: plain question from ann@example.com"
    asked = [r for r in scanner.requests if r["direction"] == "input"][-1]
    assert asked["policy"] == "hooked" and asked["model"] == "hooked"
    # It saw what the provider saw: the placeholder, not the address; and the keyholder sent its key.
    assert asked["texts"] == ["plain question from [EMAIL_1]"]
    assert asked["auth"] == f"Bearer {SIM_API_KEY}"
    # The output webhook (no key configured) got the answer as the caller gets it.
    answered = [r for r in scanner.requests if r["direction"] == "output"][-1]
    assert answered["texts"] == ["sim:u-h says: plain question from ann@example.com"] and answered["auth"] is None

    g.sims["o"].clear()
    with pytest.raises(openai.BadRequestError) as caught:
        g.openai().chat.completions.create(model="hooked", messages=[{"role": "user", "content": "the forbidden-topic"}])
    assert caught.value.body["code"] == "guardrail_blocked" and "webhook" in caught.value.body["message"]
    with pytest.raises(anthropic.BadRequestError) as refused:
        g.anthropic().messages.create(
            model="hooked", max_tokens=20, messages=[{"role": "user", "content": "the forbidden-topic"}])
    assert refused.value.body["type"] == "error"
    assert g.sims["o"].requests() == [], "a refused prompt reaches no provider"


def test_the_output_webhook_withholds_a_flagged_answer_whole_and_streamed(hooked) -> None:
    g, _ = hooked
    ask = [{"role": "user", "content": "tell me the secret-plan"}]
    with pytest.raises(openai.BadRequestError) as caught:
        g.openai().chat.completions.create(model="hooked", messages=ask)
    assert caught.value.body["code"] == "guardrail_blocked" and "output" in caught.value.body["message"]
    # Streamed, the text is held until the service has read it whole: none of it goes out.
    response = httpx.post(
        g.gateway.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {g.gateway.token}"},
        json={"model": "hooked", "stream": True, "messages": ask}, timeout=30)
    assert "secret-plan" not in response.text
    events = [json.loads(line[6:]) for line in response.text.split("\n") if line.startswith("data: {")]
    assert events[-1]["error"]["code"] == "guardrail_blocked"
    # A clean streamed answer arrives whole.
    stream = g.openai().chat.completions.create(
        model="hooked", messages=[{"role": "user", "content": "hello there"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "sim:u-h says: hello there"


def test_a_service_that_does_not_answer_fails_closed_unless_set_to_fail_open(hooked) -> None:
    g, _ = hooked
    with pytest.raises(openai.InternalServerError) as caught:
        g.openai().chat.completions.create(model="closed", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503 and caught.value.body["code"] == "guardrail_unavailable"
    with pytest.raises(anthropic.APIStatusError) as refused:
        g.anthropic().messages.create(model="closed", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 503 and refused.value.body["type"] == "error"
    reply = g.openai().chat.completions.create(model="open", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "sim:u-p says: hi"

    def recorded() -> bool:
        return any("input:webhook:webhook_unavailable:flag:1" in r["fields"].get("guardrails", "")
                   for r in g.audit() if r["kind"] == "request")

    assert wait_until(recorded, timeout=10), "the failure is in the audit record"
