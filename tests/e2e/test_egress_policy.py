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

from conftest import GATEHOUSE_BIN, start_process, start_simulator, stop_process

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
