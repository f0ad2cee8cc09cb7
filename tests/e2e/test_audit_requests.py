"""The front's own trace: request metadata and refusals reach the keyholder's audit log over the
link (the front itself cannot write it), and both processes' counters are served on /metrics.

The gateway runs as deployed (supervisor, keyholder, sandboxed front). Requests are sent with
httpx so the test knows the exact bytes whose SHA-256 the records must carry; the official SDKs
exercise the same routes in the gateway matrix.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from conftest import GATEHOUSE_BIN, REPO_ROOT, gatehouse, start_process, start_simulator, stop_process, wait_until

SERVE_READY = r"gatehouse serve listening on (http://\S+:(\d+))"
KEYS = {"openai-key": "sk-fake-audit-openai-1", "vllm-key": "sk-fake-audit-vllm-1",
        "anthropic-key": "sk-fake-audit-anthropic-1", "gemini-key": "sk-fake-audit-gemini-1"}
PROMPT_TEXT = "the secret plan is pineapple"



@pytest.fixture(scope="module")
def running():
    with tempfile.TemporaryDirectory(prefix="gatehouse-audit-requests-") as directory:
        state = str(Path(directory) / "state")
        for name, key in KEYS.items():
            gatehouse("keys", "add", name, "--stdin", state=state, stdin=key + "\n")
        keys_file = Path(directory) / "sim-keys"
        keys_file.write_text("\n".join(KEYS.values()) + "\n")
        sim = start_simulator("--api-keys-file", str(keys_file), api_key=None)
        minted = json.loads(gatehouse("token", "mint", "--subject", "auditor", "--json", state=state))
        narrow = json.loads(gatehouse("token", "mint", "--subject", "narrow", "--models", "gemini-*", "--json",
                                      state=state))
        process, match = start_process(
            [GATEHOUSE_BIN, "serve", "--config", str(REPO_ROOT / "examples" / "gatehouse.yaml"), "--port", "0",
             "--state", state], SERVE_READY, env={"GATEHOUSE_SIMULATOR_URL": sim.base_url})
        try:
            yield {"state": state, "base_url": match.group(1), "token": minted, "narrow": narrow}
        finally:
            stop_process(process)
            stop_process(sim.process)


def records(state: str) -> list[dict]:
    shown = subprocess.run([GATEHOUSE_BIN, "audit", "show", "--json", "--state", state], capture_output=True,
                           text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    return [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]


def record_for(state: str, kind: str, request_id: str) -> dict:
    found: list[dict] = []

    def present() -> bool:
        found[:] = [r for r in records(state) if r["kind"] == kind and r["fields"].get("request_id") == request_id]
        return bool(found)

    # The front hands records over every 250 ms; the keyholder writes them at least every second.
    assert wait_until(present, timeout=10), f"no {kind} record for {request_id}"
    assert len(found) == 1
    return found[0]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def post(running, path: str, body: bytes, token: str, headers: dict | None = None) -> httpx.Response:
    return httpx.post(running["base_url"] + path, content=body, timeout=30,
                      headers={"authorization": f"Bearer {token}", "content-type": "application/json", **(headers or {})})


@pytest.mark.parametrize("model,mode,provider", [("gpt-4o-mini", "pass-through", "openai"),
                                                 ("claude-sonnet", "translate", "anthropic")])
def test_a_request_is_recorded_with_digests_not_text(running, model, mode, provider) -> None:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT_TEXT}]}).encode()
    response = post(running, "/v1/chat/completions", body, running["token"]["token"])
    assert response.status_code == 200, response.text
    record = record_for(running["state"], "request", response.headers["x-request-id"])
    fields = record["fields"]
    assert record["actor"] == "front"
    assert fields["principal"] == "auditor"
    assert fields["token_id"] == running["token"]["token_id"]
    assert (fields["model"], fields["provider"], fields["mode"], fields["status"]) == (model, provider, mode, 200)
    usage = response.json()["usage"]
    assert (fields["prompt_tokens"], fields["completion_tokens"]) == (usage["prompt_tokens"],
                                                                      usage["completion_tokens"])
    assert fields["prompt_sha256"] == sha256(body)
    assert fields["completion_sha256"] == sha256(response.content)
    assert PROMPT_TEXT not in json.dumps(records(running["state"])), "prompt text never enters the log"


@pytest.mark.parametrize("model,mode,provider", [("text-embedding-3-small", "pass-through", "openai"),
                                                 ("gemini-embedding", "translate", "gemini")])
def test_an_embeddings_request_is_recorded_with_the_digests_of_both_bodies(running, model, mode, provider) -> None:
    body = json.dumps({"model": model, "input": [PROMPT_TEXT, "and a second input"]}).encode()
    response = post(running, "/v1/embeddings", body, running["token"]["token"])
    assert response.status_code == 200, response.text
    fields = record_for(running["state"], "request", response.headers["x-request-id"])["fields"]
    assert (fields["model"], fields["provider"], fields["mode"], fields["status"]) == (model, provider, mode, 200)
    assert fields["prompt_tokens"] == response.json()["usage"]["prompt_tokens"]
    assert fields["prompt_sha256"] == sha256(body)
    assert fields["completion_sha256"] == sha256(response.content)


def test_a_stream_is_recorded_with_the_digest_of_every_byte_sent(running) -> None:
    body = json.dumps({"model": "claude-sonnet", "max_tokens": 64, "stream": True,
                       "messages": [{"role": "user", "content": PROMPT_TEXT}]}).encode()
    with httpx.stream("POST", running["base_url"] + "/v1/messages", content=body, timeout=30,
                      headers={"x-api-key": running["token"]["token"], "anthropic-version": "2023-06-01",
                               "content-type": "application/json"}) as response:
        assert response.status_code == 200
        streamed = b"".join(response.iter_raw())
        request_id = response.headers["x-request-id"]
    fields = record_for(running["state"], "request", request_id)["fields"]
    assert fields["dialect"] == "anthropic" and fields["status"] == 200
    assert fields["completion_tokens"] > 0
    assert fields["prompt_sha256"] == sha256(body)
    assert fields["completion_sha256"] == sha256(streamed)


def test_refused_callers_are_recorded_without_their_token(running) -> None:
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()
    forged = running["token"]["token"][:-6] + "AAAAAA"
    refused = post(running, "/v1/chat/completions", body, forged)
    assert refused.status_code == 401
    record = record_for(running["state"], "auth.refused", refused.headers["x-request-id"])
    assert record["actor"] == "front" and record["fields"]["reason"] != ""
    assert "principal" not in record["fields"], "an unverified token names nobody"

    out_of_scope = post(running, "/v1/chat/completions", body, running["narrow"]["token"])
    assert out_of_scope.status_code == 403
    fields = record_for(running["state"], "auth.refused", out_of_scope.headers["x-request-id"])["fields"]
    assert (fields["reason"], fields["principal"], fields["model"]) == ("model_not_allowed", "narrow", "gpt-4o-mini")
    assert fields["token_id"] == running["narrow"]["token_id"]
    # The request itself is recorded too, with its status.
    assert record_for(running["state"], "request", out_of_scope.headers["x-request-id"])["fields"]["status"] == 403
    text = json.dumps(records(running["state"]))
    assert forged not in text and running["narrow"]["token"] not in text


def test_metrics_show_both_processes(running) -> None:
    body = json.dumps({"model": "gemini-flash", "messages": [{"role": "user", "content": "count me"}]}).encode()
    assert post(running, "/v1/chat/completions", body, running["token"]["token"]).status_code == 200
    text = httpx.get(running["base_url"] + "/metrics", timeout=10).text
    lines = text.splitlines()
    assert "gatehouse_keyholder_up 1" in lines
    assert any(line.startswith('gatehouse_requests_total{dialect="openai",provider="gemini",status="200"} ')
               for line in lines), text
    assert any(line.startswith('gatehouse_egress_requests_total{provider="gemini",status="200"} ') for line in lines)
    assert any(line.startswith('gatehouse_link_connections_total{result="accepted"} ') for line in lines)
    assert any(line.startswith("gatehouse_request_duration_seconds_bucket{") for line in lines)
    for key in KEYS.values():
        assert key not in text
    assert running["token"]["token"] not in text


def test_each_provider_connection_is_recorded_once_however_many_requests_use_it(running) -> None:
    body = json.dumps({"model": "llama-3.1-8b", "messages": [{"role": "user", "content": "pooled"}]}).encode()
    ids = []
    for _ in range(5):
        response = post(running, "/v1/chat/completions", body, running["token"]["token"])
        assert response.status_code == 200
        ids.append(response.headers["x-request-id"])
    record_for(running["state"], "request", ids[-1])
    assert wait_until(lambda: len([r for r in records(running["state"]) if r["kind"] == "egress.request"
                                   and r["fields"]["provider"] == "local-vllm"]) >= 5, timeout=10)
    opened = [r for r in records(running["state"]) if r["kind"] == "egress.connect"]
    assert opened, "connections to providers are recorded"
    assert all(r["actor"] == "keyholder" and r["fields"]["event"] == "opened" for r in opened)
    assert all(r["fields"]["target"].startswith("http://127.0.0.1:") for r in opened), opened
    # Requests reuse pooled connections: far fewer connections than requests.
    requests = [r for r in records(running["state"]) if r["kind"] == "egress.request"]
    assert len(opened) < len(requests), (len(opened), len(requests))
    text = httpx.get(running["base_url"] + "/metrics", timeout=10).text
    assert any(line.startswith('gatehouse_egress_connections_total{event="opened"} ') for line in text.splitlines())


def test_the_front_reuses_its_keyholder_connections(running) -> None:
    def accepted() -> int:
        text = httpx.get(running["base_url"] + "/metrics", timeout=10).text
        line = next(line for line in text.splitlines()
                    if line.startswith('gatehouse_link_connections_total{result="accepted"} '))
        return int(line.split()[-1])

    before = accepted()
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "reuse"}]}).encode()
    with httpx.Client(base_url=running["base_url"], timeout=30) as client:
        for _ in range(20):
            response = client.post("/v1/chat/completions", content=body,
                                   headers={"authorization": f"Bearer {running['token']['token']}",
                                            "content-type": "application/json"})
            assert response.status_code == 200
    # Sequential requests share one open connection (a few more may open for records and scrapes).
    assert accepted() - before <= 3


def test_the_log_with_the_front_records_verifies(running) -> None:
    assert wait_until(lambda: any(r["actor"] == "front" for r in records(running["state"])), timeout=10)
    verified = subprocess.run([GATEHOUSE_BIN, "audit", "verify", "--state", running["state"]], capture_output=True,
                              text=True, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
