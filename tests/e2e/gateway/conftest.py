"""Fixtures for end-to-end tests of `gatehouse serve` in front of the provider simulator.

One session starts: a temporary state directory with four sealed, obviously fake provider keys, a simulator
accepting exactly those keys, two tokens (all models; only ``gpt-4o-mini``) and the gateway configured with
examples/gatehouse.yaml. The gateway's stdout and stderr (its keyholder's too) go to files, so the last test
can check that no provider key ever reached them.

This directory is a package (``__init__.py``) so this conftest does not shadow ``tests/e2e/conftest.py`` in
``sys.modules['conftest']``; the helpers of that file are imported from it and reused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import anthropic
import httpx
import openai
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import (  # tests/e2e/conftest.py (already imported by pytest as the parent conftest)
    GATEHOUSE_BIN,
    REPO_ROOT,
    Simulator,
    start_process,
    start_simulator,
    stop_process,
)

CONFIG = REPO_ROOT / "examples" / "gatehouse.yaml"
SERVE_READY = r"gatehouse serve listening on (http://(\S+):(\d+))"

# key name in the config -> obviously fake key value
FAKE_KEYS = {
    "openai-key": "sk-fake-openai-0000",
    "vllm-key": "sk-fake-vllm-0000",
    "anthropic-key": "sk-fake-anthropic-0000",
    "gemini-key": "sk-fake-gemini-0000",
}

# public model name -> (provider kind, upstream model name)
CHAT_MODELS = {
    "gpt-4o-mini": ("openai", "gpt-4o-mini-sim"),
    "llama-3.1-8b": ("openai-compatible", "meta-llama/Llama-3.1-8B-Instruct"),
    "claude-sonnet": ("anthropic", "claude-sonnet-sim"),
    "gemini-flash": ("gemini", "gemini-flash-sim"),
}
EMBEDDING_MODELS = {
    "text-embedding-3-small": ("openai", "text-embedding-3-small"),
    "gemini-embedding": ("gemini", "text-embedding-004"),
}
ALL_MODELS = sorted([*CHAT_MODELS, *EMBEDDING_MODELS])
ANTHROPIC_VERSION = "2023-06-01"
TIMEOUT = 20.0


def upstream(model: str) -> str:
    """The upstream model name the gateway sends for a public chat model."""
    return CHAT_MODELS[model][1]


# --------------------------------------------------------------------------------------------------------------
# Token forging (for refusal tests): compact JWS exactly like TokenAuthority.mint, but with chosen claims/header.


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def canonical(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Authority:
    """The token authority's signing key, read from the state directory (base64 of the raw 32-byte seed)."""

    kid: str
    key: Ed25519PrivateKey

    @classmethod
    def load(cls, state: Path) -> "Authority":
        kid = (state / "authority" / "current").read_text().strip()
        seed = base64.b64decode((state / "authority" / f"{kid}.key").read_text().strip())
        assert len(seed) == 32
        return cls(kid=kid, key=Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public_raw(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        claims = {
            "aud": "gatehouse",
            "exp": now + 900,
            "iat": now,
            "iss": "gatehouse",
            "jti": uuid.uuid4().hex,
            "models": ["*"],
            "nbf": now,
            "sub": "forged-test",
        }
        claims.update(overrides)
        return claims

    def forge(
        self,
        header: dict | None = None,
        claims: dict | None = None,
        *,
        signer: Ed25519PrivateKey | None = None,
        hs256_secret: bytes | None = None,
        no_signature: bool = False,
    ) -> str:
        header = header if header is not None else {"alg": "EdDSA", "typ": "JWT", "kid": self.kid}
        claims = claims if claims is not None else self.claims()
        signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url(canonical(claims))
        if no_signature:
            return signing_input + "."
        if hs256_secret is not None:
            signature = hmac.new(hs256_secret, signing_input.encode(), hashlib.sha256).digest()
        else:
            signature = (signer or self.key).sign(signing_input.encode())
        return signing_input + "." + b64url(signature)


# --------------------------------------------------------------------------------------------------------------
# The running stack


@dataclass
class Stack:
    state: Path
    simulator: Simulator
    gateway_process: subprocess.Popen
    base_url: str
    token: str
    restricted_token: str
    authority: Authority
    stderr_path: Path

    @property
    def tokens(self) -> list[str]:
        return [self.token, self.restricted_token]

    def gateway_output(self) -> str:
        """Everything the gateway (and its keyholder) wrote to stdout and stderr so far."""
        stdout = "\n".join(getattr(self.gateway_process, "output", []))
        stderr = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return stdout + "\n" + stderr

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [GATEHOUSE_BIN, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise RuntimeError(f"gatehouse {args[0]} {args[1] if len(args) > 1 else ''} failed: {result.stderr.strip()}")
    return result.stdout


def mint(state: Path, *, subject: str, models: str | None = None, ttl: str = "30m") -> str:
    args = ["token", "mint", "--subject", subject, "--ttl", ttl, "--state", str(state)]
    if models is not None:
        args += ["--models", models]
    lines = [line for line in run_cli(*args).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0].strip()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if not Path(GATEHOUSE_BIN).exists():
        pytest.fail(f"gatehouse binary not found at {GATEHOUSE_BIN}; run `swift build --product gatehouse`")
    tmp = tempfile.TemporaryDirectory(prefix="gatehouse-e2e-")
    root = Path(tmp.name)
    state = root / "state"
    state.mkdir(mode=0o700)
    simulator = None
    gateway = None
    try:
        for name, value in FAKE_KEYS.items():
            out = run_cli("keys", "add", name, "--stdin", "--state", str(state), stdin=value)
            assert value not in out
        keys = list(FAKE_KEYS.values())
        extra: list[str] = []
        for key in keys[1:]:
            extra += ["--api-key", key]
        simulator = start_simulator(*extra, "--retry-after", "7", api_key=keys[0])
        token = mint(state, subject="e2e-all", models="*")
        restricted = mint(state, subject="e2e-restricted", models="gpt-4o-mini")
        stderr_path = root / "gateway.stderr"
        # start_process inherits stderr; a shell that execs the gateway sends it to a file instead
        # (exec keeps the pid, so stop_process signals the gateway itself).
        args = [
            "/bin/sh", "-c", 'exec "$@" 2>>"$GATEHOUSE_E2E_STDERR"', "sh",
            GATEHOUSE_BIN, "serve", "--config", str(CONFIG), "--port", "0", "--state", str(state),
        ]  # fmt: skip
        serve_env = {"GATEHOUSE_SIMULATOR_URL": simulator.base_url, "GATEHOUSE_E2E_STDERR": str(stderr_path)}
        gateway, match = start_process(args, SERVE_READY, env=serve_env)
        yield Stack(
            state=state,
            simulator=simulator,
            gateway_process=gateway,
            base_url=match.group(1),
            token=token,
            restricted_token=restricted,
            authority=Authority.load(state),
            stderr_path=stderr_path,
        )
    finally:
        if gateway is not None:
            stop_process(gateway)
        if simulator is not None:
            stop_process(simulator.process)
        tmp.cleanup()


@pytest.fixture(scope="session")
def sim(stack: Stack) -> Simulator:
    return stack.simulator


@pytest.fixture(scope="session")
def gateway_url(stack: Stack) -> str:
    return stack.base_url


@pytest.fixture(scope="session")
def oai(stack: Stack) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=stack.base_url + "/v1", api_key=stack.token, max_retries=0, timeout=TIMEOUT)
    yield client
    client.close()


@pytest.fixture(scope="session")
def claude(stack: Stack) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=stack.base_url, api_key=stack.token, max_retries=0, timeout=TIMEOUT)
    yield client
    client.close()


@pytest.fixture(scope="session")
def oai_restricted(stack: Stack) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(
        base_url=stack.base_url + "/v1", api_key=stack.restricted_token, max_retries=0, timeout=TIMEOUT
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def claude_restricted(stack: Stack) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=stack.base_url, api_key=stack.restricted_token, max_retries=0, timeout=TIMEOUT)
    yield client
    client.close()


@pytest.fixture(scope="session")
def http(stack: Stack) -> Iterator[httpx.Client]:
    """Raw HTTP to the gateway (no credentials by default)."""
    client = httpx.Client(base_url=stack.base_url, timeout=TIMEOUT)
    yield client
    client.close()


def openai_headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "content-type": "application/json"}


def anthropic_headers(token: str) -> dict[str, str]:
    return {"x-api-key": token, "anthropic-version": ANTHROPIC_VERSION, "content-type": "application/json"}


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of an SSE body."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if name is not None or data:
            events.append((name, "\n".join(data)))
    return events


# --------------------------------------------------------------------------------------------------------------
# Ordering: tests marked `gateway_last` (the output-leak check) run after everything else.


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gateway_last: run after every other test (whole-session checks)")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    last = [item for item in items if item.get_closest_marker("gateway_last")]
    if last:
        items[:] = [item for item in items if not item.get_closest_marker("gateway_last")] + last
