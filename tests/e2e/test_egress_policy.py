"""The keyholder refuses a provider host name whose DNS answer is not a public address
(DNS rebinding / SSRF), while providers configured at a literal loopback address work."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import tempfile
from pathlib import Path

import openai
import pytest

from conftest import GATEHOUSE_BIN, start_gateway, start_process, start_simulator, stop_process

SERVE_READY = r"gatehouse serve listening on (http://\S+:(\d+))"


def non_public_name() -> str | None:
    """A host name (not an IP literal, not 'localhost') that resolves to a non-public address here."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80)}
    except OSError:
        return None
    if name == "localhost" or not addresses:
        return None
    return name if all(not ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses) else None


def test_a_name_resolving_to_a_private_address_is_refused_but_a_literal_loopback_provider_works() -> None:
    name = non_public_name()
    if name is None:
        pytest.skip("no host name here resolves to a non-public address")
    with tempfile.TemporaryDirectory(prefix="gatehouse-egress-") as directory:
        state = str(Path(directory) / "state")
        sim = start_simulator(api_key=None)
        config = Path(directory) / "gatehouse.yaml"
        config.write_text(
            "providers:\n"
            f"  literal: {{kind: openai-compatible, base_url: 'http://127.0.0.1:{sim.port}/v1', key: k}}\n"
            f"  rebound: {{kind: openai-compatible, base_url: 'http://{name}:{sim.port}/v1', key: k}}\n"
            "models:\n  - {name: ok, provider: literal}\n  - {name: rebound, provider: rebound}\n")
        sealed = subprocess.run([GATEHOUSE_BIN, "keys", "add", "k", "--stdin", "--state", state],
                                input="sk-fake-egress-0001\n", capture_output=True, text=True, timeout=30)
        assert sealed.returncode == 0, sealed.stderr
        token = subprocess.run([GATEHOUSE_BIN, "token", "mint", "--subject", "egress", "--state", state],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        stderr_path = Path(directory) / "serve.stderr"
        process, match = start_process(
            ["/bin/sh", "-c", 'exec "$@" 2>>"$SERVE_STDERR"', "sh", GATEHOUSE_BIN, "serve", "--config", str(config),
             "--port", "0", "--state", state], SERVE_READY, env={"SERVE_STDERR": str(stderr_path)})
        try:
            client = openai.OpenAI(base_url=match.group(1) + "/v1", api_key=token, max_retries=0)
            reply = client.chat.completions.create(model="ok", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "sim:ok says: hi"
            sim.clear()
            with pytest.raises(openai.InternalServerError) as error:
                client.chat.completions.create(model="rebound", messages=[{"role": "user", "content": "hi"}])
            assert error.value.status_code == 502
            assert error.value.body["code"] == "egress_address_refused"
            assert sim.requests() == [], "nothing reached the private address"
            log = stderr_path.read_text()
            assert "gatehouse.egress.refusal=address_refused" in log
        finally:
            stop_process(process)
            stop_process(sim.process)


def test_the_keyholder_caps_the_size_of_provider_answers() -> None:
    with tempfile.TemporaryDirectory(prefix="gatehouse-cap-") as directory:
        state = str(Path(directory) / "state")
        sim = start_simulator("--reply-words", "3000", api_key=None)
        config = Path(directory) / "gatehouse.yaml"
        config.write_text(
            f"providers:\n  p: {{kind: openai-compatible, base_url: 'http://127.0.0.1:{sim.port}/v1', key: k}}\n"
            "models:\n  - {name: big, provider: p}\n")
        subprocess.run([GATEHOUSE_BIN, "keys", "add", "k", "--stdin", "--state", state], input="sk-fake-cap-0001\n",
                       check=True, capture_output=True, text=True, timeout=30)
        token = subprocess.run([GATEHOUSE_BIN, "token", "mint", "--subject", "cap", "--state", state],
                               check=True, capture_output=True, text=True, timeout=30).stdout.strip()
        secret_file = Path(directory) / "secret"
        secret_file.write_text("ab" * 32)
        secret_file.chmod(0o600)
        link = str(Path(directory) / "egress.sock")
        keyholder, _ = start_process(
            [GATEHOUSE_BIN, "egress", "--socket", link, "--config", str(config), "--secret-file", str(secret_file),
             "--state", state, "--max-response-bytes", "4096"], r"gatehouse egress listening")
        front, match = start_process(
            [GATEHOUSE_BIN, "serve", "--config", str(config), "--egress-socket", link, "--egress-secret-file",
             str(secret_file), "--state", state, "--port", "0"], SERVE_READY)
        try:
            client = openai.OpenAI(base_url=match.group(1) + "/v1", api_key=token, max_retries=0)
            with pytest.raises(openai.InternalServerError) as error:
                client.chat.completions.create(model="big", messages=[{"role": "user", "content": "talk"}])
            assert error.value.body["code"] == "upstream_too_large"
            with pytest.raises(openai.APIError):
                for _ in client.chat.completions.create(model="big", stream=True,
                                                        messages=[{"role": "user", "content": "talk"}]):
                    pass
        finally:
            stop_process(front)
            stop_process(keyholder)
            stop_process(sim.process)


def test_a_non_streamed_answer_larger_than_one_link_frame_arrives_whole() -> None:
    """The keyholder gathers a non-streamed answer and sends it in frames of at most 1 MiB: one of
    about 20 MB (beyond the link's 16 MiB frame limit, within the front's 64 MiB) arrives intact."""
    with tempfile.TemporaryDirectory(prefix="gatehouse-large-") as directory:
        sim = start_simulator("--reply-words", "2500000", api_key=None)
        gateway = start_gateway(Path(directory), (
            f"providers:\n  p: {{kind: openai-compatible, base_url: 'http://127.0.0.1:{sim.port}/v1', key: k}}\n"
            "models:\n  - {name: big, provider: p}\n"), "sk-fake-large-0001")
        try:
            client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=gateway.token, max_retries=0, timeout=120)
            reply = client.chat.completions.create(model="big", messages=[{"role": "user", "content": "talk"}])
            text = reply.choices[0].message.content
            assert len(text.encode()) > 16 * 1024 * 1024
            assert len(text.split()) >= 2_500_000
        finally:
            stop_process(gateway.process)
            stop_process(sim.process)
