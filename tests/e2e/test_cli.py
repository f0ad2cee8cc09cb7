"""The gateway as an operator meets it: the out-of-the-box run command, configuration errors,
graceful shutdown, and a disconnecting client cancelling its upstream request."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from conftest import GATEHOUSE_BIN, REPO_ROOT, start_process, start_simulator, stop_process, wait_until

SERVE_READY = r"gatehouse serve listening on (http://\S+:(\d+))"
KEYS = {"openai-key": "sk-fake-openai-1111", "vllm-key": "sk-fake-vllm-1111",
        "anthropic-key": "sk-fake-anthropic-1111", "gemini-key": "sk-fake-gemini-1111"}


def run(*args: str, state: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GATEHOUSE_BIN, *args, "--state", state], input=stdin, capture_output=True,
                          text=True, timeout=30)


@pytest.fixture()
def state() -> str:
    with tempfile.TemporaryDirectory(prefix="gatehouse-cli-") as directory:
        yield str(Path(directory) / "state")


def test_serve_without_config_works_out_of_the_box(state: str) -> None:
    process, match = start_process([GATEHOUSE_BIN, "serve", "--port", "0", "--state", state], SERVE_READY)
    try:
        base_url = match.group(1)
        assert wait_until(lambda: any(line.startswith("eyJ") for line in process.output), timeout=10)
        token = next(line for line in process.output if line.startswith("eyJ"))
        assert any(line.startswith("curl -s ") and "/v1/chat/completions" in line for line in process.output) or \
            wait_until(lambda: any(line.startswith("curl -s ") for line in process.output))
        assert (Path(state) / "master.key").stat().st_mode & 0o077 == 0
        assert (Path(state) / "keys" / "quickstart-simulator.json").exists()

        client = openai.OpenAI(base_url=base_url + "/v1", api_key=token, max_retries=0)
        for model in ("sim-gpt", "sim-claude", "sim-gemini"):
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hello"}])
            assert reply.choices[0].message.content == f"sim:{model} says: Hello"
        messages = anthropic.Anthropic(base_url=base_url, api_key=token, max_retries=0)
        reply = messages.messages.create(model="sim-gemini", max_tokens=50, messages=[{"role": "user", "content": "Hi"}])
        assert reply.content[0].text == "sim:sim-gemini says: Hi"
    finally:
        stop_process(process)


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        ("providers:\n  a: {kind: opneai}\nmodels: [{name: m, provider: a}]\n", "providers.a.kind: 'opneai' is not a provider kind"),
        ("providers:\n  a: {kind: openai}\nmodels: [{name: m, provider: b}]\n", "models[0].provider: 'b' is not declared"),
        ("providers:\n  a: {kind: openai, api_key: sk-fake-0000}\nmodels: [{name: m, provider: a}]\n", "providers.a.api_key: is not a known setting"),
        ("providers:\n  a: {kind: openai, key: never-sealed}\nmodels: [{name: m, provider: a}]\n", "cannot unseal key 'never-sealed'"),
    ],
)
def test_bad_configuration_fails_at_start_naming_file_key_and_problem(state: str, yaml: str, expected: str) -> None:
    assert run("token", "mint", "--subject", "x", state=state).returncode == 0
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as config:
        config.write(yaml)
    try:
        result = subprocess.run([GATEHOUSE_BIN, "serve", "--config", config.name, "--port", "0", "--state", state],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 1
        assert config.name in result.stderr
        assert expected in result.stderr
        assert "sk-fake-0000" not in result.stderr + result.stdout
    finally:
        os.unlink(config.name)


def start_configured_gateway(state: str, *simulator_args: str):
    for name, key in KEYS.items():
        assert run("keys", "add", name, "--stdin", state=state, stdin=key + "\n").returncode == 0
    token = run("token", "mint", "--subject", "cli-tests", state=state).stdout.strip()
    sim = start_simulator(*simulator_args, api_key=None)
    process, match = start_process(
        [GATEHOUSE_BIN, "serve", "--config", str(REPO_ROOT / "examples" / "gatehouse.yaml"), "--port", "0", "--state", state],
        SERVE_READY, env={"GATEHOUSE_SIMULATOR_URL": sim.base_url})
    return sim, process, match.group(1), token


def test_sigterm_lets_in_flight_requests_finish(state: str) -> None:
    sim, process, base_url, token = start_configured_gateway(state, "--latency-ms", "1500")
    try:
        client = openai.OpenAI(base_url=base_url + "/v1", api_key=token, max_retries=0)
        result: dict[str, object] = {}

        def call() -> None:
            try:
                result["reply"] = client.chat.completions.create(
                    model="claude-sonnet", messages=[{"role": "user", "content": "slow one"}])
            except Exception as error:  # noqa: BLE001 - reported below
                result["error"] = error

        thread = threading.Thread(target=call)
        thread.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        thread.join(10)
        assert "error" not in result, result
        assert result["reply"].choices[0].message.content == "sim:claude-sonnet-sim says: slow one"
        assert process.wait(10) == 0
    finally:
        stop_process(process)
        stop_process(sim.process)


def established_connections(port: int) -> int:
    """Count ESTABLISHED TCP connections whose local port is ``port`` (from /proc/net/tcp)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":
                count += 1
    return count


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet"])
def test_client_disconnect_cancels_the_upstream_stream(state: str, model: str) -> None:
    sim, process, base_url, token = start_configured_gateway(state, "--tokens-per-second", "5", "--reply-words", "300")
    try:
        with httpx.Client(timeout=10) as http:
            with http.stream("POST", base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {token}"},
                             json={"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]}) as response:
                assert response.status_code == 200
                chunks = response.iter_bytes()
                next(chunks)
                next(chunks)
                assert established_connections(sim.port) >= 1
        # The caller is gone; the gateway must drop the upstream stream (which would run for a minute).
        assert wait_until(lambda: established_connections(sim.port) == 0, timeout=5)
        assert httpx.get(base_url + "/health").status_code == 200
    finally:
        stop_process(process)
        stop_process(sim.process)
