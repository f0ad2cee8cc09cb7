"""Proof by attack: a backdoor inside the front process (a test-only hook compiled into debug
builds, see Sources/gatehouse/AttackHook.swift) tries to find provider keys and to get data out.

The gateway runs as deployed by the README's run command (supervisor, keyholder, sandboxed
front), with the master key given in GATEHOUSE_MASTER_KEY and four sealed fake provider keys.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import openai
import pytest

from conftest import GATEHOUSE_BIN, REPO_ROOT, children_of, start_process, start_simulator, stop_process, wait_until

SERVE_READY = r"gatehouse serve listening on (http://\S+:(\d+))"
MASTER_KEY = "5" * 64  # obviously fake, 32 bytes in hex
KEYS = {"openai-key": "sk-fake-attack-openai-7777", "vllm-key": "sk-fake-attack-vllm-7777",
        "anthropic-key": "sk-fake-attack-anthropic-7777", "gemini-key": "sk-fake-attack-gemini-7777"}


class Lookalike:
    """A listener standing in for the attacker's host; records every connection it gets."""

    def __init__(self) -> None:
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def accept(self) -> None:
        while self.running:
            try:
                connection, _ = self.server.accept()
                self.connections += 1
                connection.close()
            except OSError:
                continue

    def close(self) -> None:
        self.running = False
        self.server.close()


@pytest.fixture(scope="module")
def attacked():
    with tempfile.TemporaryDirectory(prefix="gatehouse-attack-") as directory:
        state = str(Path(directory) / "state")
        env = {"GATEHOUSE_MASTER_KEY": MASTER_KEY}
        for name, key in KEYS.items():
            result = subprocess.run([GATEHOUSE_BIN, "keys", "add", name, "--stdin", "--state", state], input=key + "\n",
                                    capture_output=True, text=True, env={**os.environ, **env}, timeout=30)
            assert result.returncode == 0, result.stderr
        assert not (Path(state) / "master.key").exists(), "the master key must come from the environment here"
        token = subprocess.run([GATEHOUSE_BIN, "token", "mint", "--subject", "attack", "--state", state],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        # Keys go to the simulator in a file: on a command line every local process could read them.
        keys_file = Path(directory) / "simulator-keys"
        keys_file.write_text("\n".join(KEYS.values()) + "\n")
        sim = start_simulator("--api-keys-file", str(keys_file), api_key=None)
        lookalike = Lookalike()
        stderr_path = Path(directory) / "serve.stderr"
        args = ["/bin/sh", "-c", 'exec "$@" 2>>"$ATTACK_STDERR"', "sh", GATEHOUSE_BIN, "serve", "--config",
                str(REPO_ROOT / "examples" / "gatehouse.yaml"), "--port", "0", "--state", state]
        process, match = start_process(args, SERVE_READY, env={
            **env, "GATEHOUSE_SIMULATOR_URL": sim.base_url, "GATEHOUSE_ATTACK": "1", "ATTACK_STDERR": str(stderr_path),
            "GATEHOUSE_ATTACK_TARGETS": f"127.0.0.1:{sim.port},127.0.0.1:{lookalike.port}",
        })
        try:
            assert wait_until(lambda: any("gatehouse attack report: " in line for line in process.output), timeout=60)
            line = next(line for line in process.output if "gatehouse attack report: " in line)
            report = json.loads(line.split("gatehouse attack report: ", 1)[1])
            yield {"report": report, "state": state, "base_url": match.group(1), "token": token, "sim": sim,
                   "lookalike": lookalike, "supervisor": process, "stderr": stderr_path}
        finally:
            stop_process(process)
            stop_process(sim.process)
            lookalike.close()


def test_requests_still_succeed_while_sandboxed(attacked) -> None:
    client = openai.OpenAI(base_url=attacked["base_url"] + "/v1", api_key=attacked["token"], max_retries=0)
    for model, upstream in [("gpt-4o-mini", "gpt-4o-mini-sim"), ("claude-sonnet", "claude-sonnet-sim"),
                            ("gemini-flash", "gemini-flash-sim")]:
        reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == f"sim:{upstream} says: hi"


def test_backdoor_finds_no_key_in_environment_memory_or_files(attacked) -> None:
    report = attacked["report"]
    assert report["environment_secrets"] == []
    assert report["memory_key_shapes"] == 0
    state = attacked["state"]
    assert report["files"][f"{state}/master.key"].startswith("refused") or not Path(f"{state}/master.key").exists()
    assert report["files"][f"{state}/keys"].startswith("refused")
    assert not any(result == "READ" for path, result in report["files"].items() if "/keys/" in path or path.endswith("/mem"))
    # /proc/<pid>/environ of the supervisor and keyholder may be readable, but they hold no secret any more.
    for pid, command in children_of(attacked["supervisor"].pid) + [(attacked["supervisor"].pid, "supervisor")]:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert MASTER_KEY.encode() not in environ, command
        assert not any(key.encode() in environ for key in KEYS.values()), command


def test_backdoor_has_no_road_out(attacked) -> None:
    connections = attacked["report"]["connections"]
    assert connections, "the hook tried no connection"
    for target, result in connections.items():
        assert result.startswith("refused"), f"{target}: {result}"
    assert attacked["lookalike"].connections == 0


def test_keyholder_refuses_hosts_and_paths_it_was_not_configured_for(attacked) -> None:
    keyholder = attacked["report"]["keyholder"]
    assert keyholder["unknown provider"] == {"refused": "unknown_provider"}
    assert keyholder["dot-dot path"] == {"refused": "egress_path_refused"}
    assert keyholder["caller base url"] == {"refused": "egress_path_refused"}
    # Host and forwarding headers are stripped: the request reaches only the configured provider.
    recorded = attacked["sim"].requests()
    assert all("evil.example" not in json.dumps(entry) for entry in recorded)
    log = attacked["stderr"].read_text()
    for reason in ("unknown_provider", "path_refused", "headers_stripped"):
        assert f"gatehouse.egress.refusal={reason}" in log, reason


def test_callers_cannot_choose_the_upstream(attacked) -> None:
    client = openai.OpenAI(base_url=attacked["base_url"] + "/v1", api_key=attacked["token"], max_retries=0)
    for field in ("api_base", "base_url", "api_key"):
        with pytest.raises(openai.BadRequestError) as error:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                           extra_body={field: f"http://127.0.0.1:{attacked['lookalike'].port}"})
        assert error.value.body["code"] == "routing_override_refused"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                       extra_headers={"x-base-url": f"http://127.0.0.1:{attacked['lookalike'].port}"})
    assert attacked["lookalike"].connections == 0


def hello(sock_path: str, secret: bytes) -> bytes:
    """Connects to the keyholder socket, presents `secret`, returns what came back (b'' if closed)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(5)
        connection.connect(sock_path)
        connection.sendall(struct.pack(">IB", 1 + len(secret), 0x01) + secret)
        try:
            return connection.recv(16)
        except (ConnectionResetError, socket.timeout):
            return b""


def test_another_process_cannot_use_the_keyholder_socket(attacked) -> None:
    sockets = list((Path(attacked["state"]) / "run").glob("egress-*.sock"))
    assert len(sockets) == 1
    path = str(sockets[0])
    assert sockets[0].stat().st_mode & 0o077 == 0, "the socket must be owner-only"
    assert hello(path, os.urandom(32)) == b""
    assert hello(path, b"") == b""
    log = attacked["stderr"].read_text()
    assert "keyholder refused a connection without the link secret" in log


def test_keyholder_checks_the_peer_user_even_with_the_secret(tmp_path: Path) -> None:
    python = "/usr/bin/python3"
    if os.geteuid() != 0 or shutil.which("setpriv") is None or not os.access(python, os.X_OK):
        pytest.skip("needs root, setpriv and a system python3 to act as another user")
    state = tmp_path / "state"
    shared = Path(tempfile.mkdtemp(prefix="gatehouse-peer-", dir="/tmp"))
    os.chmod(shared, 0o755)
    secret = os.urandom(32)
    secret_file = tmp_path / "secret"
    secret_file.write_text(secret.hex())
    config = tmp_path / "c.yaml"
    config.write_text("providers:\n  p: {kind: openai-compatible, base_url: 'http://127.0.0.1:9/v1'}\nmodels: [{name: m, provider: p}]\n")
    sock = shared / "k.sock"
    process, _ = start_process([GATEHOUSE_BIN, "egress", "--socket", str(sock), "--config", str(config),
                                "--secret-file", str(secret_file), "--state", str(state)], r"gatehouse egress listening")
    try:
        assert hello(str(sock), secret)[:5] == struct.pack(">IB", 1, 0x02), "the owner with the secret is accepted"
        # Even a socket anyone may open, and the right secret, do not help another user.
        os.chmod(sock, 0o777)
        # The keyholder may close before the hello is even sent (a broken pipe): that is a refusal too.
        probe = ("import socket,struct,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])"
                 "\ntry:\n s.sendall(struct.pack('>IB',33,1)+bytes.fromhex(sys.argv[2])); answer=s.recv(16)"
                 "\nexcept OSError: answer=b''\nprint('ACCEPTED' if answer[:5]==struct.pack('>IB',1,2) else 'REFUSED')")
        result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c", probe,
                                 str(sock), secret.hex()], capture_output=True, text=True, timeout=30)
        assert "REFUSED" in result.stdout, result
    finally:
        stop_process(process)
        shutil.rmtree(shared, ignore_errors=True)


def gcore(pid: int, directory: Path) -> bytes:
    prefix = directory / f"core-{pid}"
    result = subprocess.run(["gcore", "-o", str(prefix), str(pid)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return Path(f"{prefix}.{pid}").read_bytes()


@pytest.mark.skipif(shutil.which("gcore") is None, reason="gcore (gdb) is not installed")
def test_front_memory_holds_no_provider_key_while_the_keyholder_does(attacked, tmp_path: Path) -> None:
    client = openai.OpenAI(base_url=attacked["base_url"] + "/v1", api_key=attacked["token"], max_retries=0)
    for model in ("gpt-4o-mini", "llama-3.1-8b", "claude-sonnet", "gemini-flash"):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "fill the memory"}])
    children = children_of(attacked["supervisor"].pid)
    front = next(pid for pid, command in children if " serve " in command and "--egress-socket" in command)
    keyholder = next(pid for pid, command in children if " egress " in command)
    front_dump = gcore(front, tmp_path)
    keyholder_dump = gcore(keyholder, tmp_path)
    for key in KEYS.values():
        assert key.encode() not in front_dump, "a provider key is in the front's memory"
    assert MASTER_KEY.encode() not in front_dump
    assert any(key.encode() in keyholder_dump for key in KEYS.values()), "the test could not find a key where it is"
    # The front still served requests after being dumped.
    reply = client.chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": "after"}])
    assert reply.choices[0].message.content == "sim:gemini-flash-sim says: after"


def test_attempts_and_operator_actions_land_in_a_verifiable_audit_log(attacked) -> None:
    state = attacked["state"]

    def records() -> list[dict]:
        shown = subprocess.run([GATEHOUSE_BIN, "audit", "show", "--json", "--state", state], capture_output=True,
                               text=True, timeout=30)
        assert shown.returncode == 0, shown.stderr
        return [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]

    def reasons() -> set[str]:
        return {r["fields"].get("reason") for r in records() if r["kind"] == "egress.refused"}

    # The keyholder flushes its records at least every second.
    wanted = {"unknown_provider", "path_refused", "headers_stripped", "link_secret_refused"}
    assert wait_until(lambda: wanted <= reasons(), timeout=10), reasons()
    kinds = {r["kind"] for r in records()}
    assert {"key.added", "token.minted", "config.loaded", "egress.connect", "egress.request"} <= kinds
    # The front's connection attempts were refused by its sandbox, and it says so (through the keyholder).
    def blocked() -> list[dict]:
        return [r for r in records() if r["kind"] == "sandbox.blocked"]
    assert wait_until(lambda: bool(blocked()), timeout=10), "no sandbox.blocked record"
    assert all(r["actor"] == "front" for r in blocked())
    assert sum(r["fields"].get("socket_inet", 0) for r in blocked()) >= 2, blocked()
    assert sum(r["fields"].get("socket_inet6", 0) for r in blocked()) >= 1, blocked()
    text = json.dumps(records())
    assert not any(key in text for key in KEYS.values()), "no key material in the audit log"
    assert MASTER_KEY not in text
    verified = subprocess.run([GATEHOUSE_BIN, "audit", "verify", "--state", state], capture_output=True, text=True,
                              timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
