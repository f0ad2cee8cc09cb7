"""The separated deployment of docs/deployment.md, built with a network namespace on this machine:
the keyholder runs in the host's network namespace, the front in a namespace of its own with only
a loopback interface, listening on a Unix socket. Requests still succeed; the front has no road
out (even with its seccomp sandbox switched off, to show the namespace alone holds)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import httpx
import openai
import pytest

from conftest import GATEHOUSE_BIN, REPO_ROOT, start_process, start_simulator, stop_process

KEYS = {"openai-key": "sk-fake-netns-openai-1", "vllm-key": "sk-fake-netns-vllm-1",
        "anthropic-key": "sk-fake-netns-anthropic-1", "gemini-key": "sk-fake-netns-gemini-1"}


def can_make_namespaces() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"gh-probe-{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0
    if made:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return made


@pytest.mark.skipif(not can_make_namespaces(), reason="needs root and `ip netns`")
def test_front_in_a_namespace_without_network_still_serves_through_the_keyholder() -> None:
    namespace = f"gh-front-{uuid.uuid4().hex[:6]}"
    directory = Path(tempfile.mkdtemp(prefix="gatehouse-netns-"))
    processes = []
    try:
        state = str(directory / "state")
        for name, key in KEYS.items():
            subprocess.run([GATEHOUSE_BIN, "keys", "add", name, "--stdin", "--state", state], input=key + "\n",
                           check=True, capture_output=True, text=True, timeout=30)
        token = subprocess.run([GATEHOUSE_BIN, "token", "mint", "--subject", "netns", "--state", state],
                               check=True, capture_output=True, text=True, timeout=30).stdout.strip()
        keys_file = directory / "sim-keys"
        keys_file.write_text("\n".join(KEYS.values()) + "\n")
        sim = start_simulator("--api-keys-file", str(keys_file), api_key=None)
        processes.append(sim.process)
        secret_file = directory / "link.secret"
        secret_file.write_text(secrets.token_hex(32))
        secret_file.chmod(0o600)
        run = directory / "run"
        run.mkdir(mode=0o700)
        env = {**os.environ, "GATEHOUSE_SIMULATOR_URL": sim.base_url}
        keyholder, _ = start_process(
            [GATEHOUSE_BIN, "egress", "--socket", str(run / "egress.sock"), "--config",
             str(REPO_ROOT / "examples" / "gatehouse.yaml"), "--secret-file", str(secret_file), "--state", state],
            r"gatehouse egress listening", env=env)
        processes.append(keyholder)

        subprocess.run(["ip", "netns", "add", namespace], check=True)
        subprocess.run(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"], check=True)
        routes = subprocess.run(["ip", "netns", "exec", namespace, "ip", "-4", "route", "show", "table", "all"],
                                capture_output=True, text=True, check=True).stdout
        assert all(" lo " in line or line.startswith(("local ", "broadcast ")) for line in routes.splitlines() if line)

        front_socket = run / "front.sock"
        front, _ = start_process(
            ["ip", "netns", "exec", namespace, GATEHOUSE_BIN, "serve", "--config",
             str(REPO_ROOT / "examples" / "gatehouse.yaml"), "--egress-socket", str(run / "egress.sock"),
             "--egress-secret-file", str(secret_file), "--listen-unix", str(front_socket), "--state", state,
             "--unsandboxed"],
            r"gatehouse serve listening on unix:", env={**env, "GATEHOUSE_ATTACK": "1",
                                                        "GATEHOUSE_ATTACK_TARGETS": f"127.0.0.1:{sim.port}"})
        processes.append(front)

        # A caller in the host namespace reaches the front through its Unix socket.
        http = httpx.Client(transport=httpx.HTTPTransport(uds=str(front_socket)), timeout=30)
        client = openai.OpenAI(base_url="http://gatehouse/v1", api_key=token, http_client=http, max_retries=0)
        for model, upstream in [("gpt-4o-mini", "gpt-4o-mini-sim"), ("claude-sonnet", "claude-sonnet-sim"),
                                ("gemini-flash", "gemini-flash-sim")]:
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == f"sim:{upstream} says: hi"

        # Inside the front's namespace, the provider (and anything else) is unreachable.
        probe = subprocess.run(
            ["ip", "netns", "exec", namespace, "python3", "-c",
             f"import socket; s=socket.socket(); s.settimeout(3)\n"
             f"try:\n s.connect(('127.0.0.1', {sim.port})); print('CONNECTED')\n"
             f"except OSError as e: print('REFUSED', e.errno)"], capture_output=True, text=True, timeout=30)
        assert "REFUSED" in probe.stdout, probe
        # The front's own attempts (the test hook, sandbox off) fail for lack of a route, not for lack of permission.
        report_line = next((line for line in front.output if "gatehouse attack report: " in line), None)
        for _ in range(100):
            if report_line:
                break
            import time
            time.sleep(0.1)
            report_line = next((line for line in front.output if "gatehouse attack report: " in line), None)
        assert report_line is not None
        report = json.loads(report_line.split("gatehouse attack report: ", 1)[1])
        assert report["connections"][f"tcp 127.0.0.1:{sim.port}"].startswith("refused: Connection refused")
    finally:
        for process in reversed(processes):
            stop_process(process)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)
