"""Revocation and rotation take effect on a running gateway without a restart."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import openai
import pytest

from conftest import GATEHOUSE_BIN, REPO_ROOT, gatehouse, start_process, start_simulator, stop_process, wait_until

SERVE_READY = r"gatehouse serve listening on (http://\S+:(\d+))"
KEYS = {"openai-key": "sk-fake-rot-openai-1", "vllm-key": "sk-fake-rot-vllm-1",
        "anthropic-key": "sk-fake-rot-anthropic-1", "gemini-key": "sk-fake-rot-gemini-1"}



@pytest.fixture(scope="module")
def running():
    with tempfile.TemporaryDirectory(prefix="gatehouse-revocation-") as directory:
        state = str(Path(directory) / "state")
        for name, key in KEYS.items():
            gatehouse("keys", "add", name, "--stdin", state=state, stdin=key + "\n")
        keys_file = Path(directory) / "sim-keys"
        keys_file.write_text("\n".join(list(KEYS.values()) + ["sk-fake-rot-openai-2"]) + "\n")
        sim = start_simulator("--api-keys-file", str(keys_file), api_key=None)
        gatehouse("token", "mint", "--subject", "bootstrap", state=state)
        stderr_path = Path(directory) / "serve.stderr"
        process, match = start_process(
            ["/bin/sh", "-c", 'exec "$@" 2>>"$SERVE_STDERR"', "sh", GATEHOUSE_BIN, "serve", "--config",
             str(REPO_ROOT / "examples" / "gatehouse.yaml"), "--port", "0", "--state", state], SERVE_READY,
            env={"GATEHOUSE_SIMULATOR_URL": sim.base_url, "SERVE_STDERR": str(stderr_path)})
        try:
            yield {"state": state, "base_url": match.group(1), "sim": sim, "stderr": stderr_path}
        finally:
            stop_process(process)
            stop_process(sim.process)


def client(running, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=running["base_url"] + "/v1", api_key=token, max_retries=0)


def works(running, token: str) -> bool:
    try:
        client(running, token).chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": "hi"}])
        return True
    except openai.AuthenticationError:
        return False


def test_revoking_a_token_id_refuses_it_within_seconds(running) -> None:
    import json
    minted = json.loads(gatehouse("token", "mint", "--subject", "alice", "--json", state=running["state"]))
    other = gatehouse("token", "mint", "--subject", "alice", state=running["state"])
    assert works(running, minted["token"])
    gatehouse("token", "revoke", "--id", minted["token_id"], state=running["state"])
    assert wait_until(lambda: not works(running, minted["token"]), timeout=5)
    assert works(running, other), "only the revoked token id is refused"


def test_revoking_a_subject_refuses_its_existing_tokens_but_not_new_ones(running) -> None:
    old = gatehouse("token", "mint", "--subject", "bob", state=running["state"])
    assert works(running, old)
    gatehouse("token", "revoke", "--subject", "bob", state=running["state"])
    assert wait_until(lambda: not works(running, old), timeout=5)
    time.sleep(2.1)  # issued-at has one-second resolution; the revocation covers its whole second
    new = gatehouse("token", "mint", "--subject", "bob", state=running["state"])
    assert works(running, new)


def test_rotating_the_signing_key_keeps_old_tokens_valid_and_trusts_new_ones(running) -> None:
    old = gatehouse("token", "mint", "--subject", "carol", state=running["state"])
    gatehouse("token", "rotate-key", state=running["state"])
    new = gatehouse("token", "mint", "--subject", "carol", state=running["state"])
    assert old.split(".")[0] != new.split(".")[0], "the new token names a new key id"
    assert wait_until(lambda: works(running, new), timeout=5)
    assert works(running, old)


def test_rotating_a_provider_key_switches_new_requests_to_it(running) -> None:
    token = gatehouse("token", "mint", "--subject", "dave", state=running["state"])
    sim = running["sim"]
    gatehouse("keys", "rotate", "openai-key", "--stdin", state=running["state"], stdin="sk-fake-rot-openai-2\n")
    # The keyholder picks the rotated key up within seconds; requests keep succeeding meanwhile.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        reply = client(running, token).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "rotating"}])
        assert reply.choices[0].message.content == "sim:gpt-4o-mini-sim says: rotating"
        time.sleep(0.3)
    log = running["stderr"].read_text()
    assert "provider key rotated" in log and "gatehouse.key.name=openai-key" in log
    assert "sk-fake-rot-openai" not in log
