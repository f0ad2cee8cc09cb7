#!/usr/bin/env python3
"""Measures what the front→keyholder hop costs, on loopback, in one run.

Three paths to the same simulator answer (non-streaming chat, pass-through model):
  direct   client → simulator
  link     client → keyholder (Unix socket, link protocol) → simulator   (the hop plus the egress client)
  gateway  client → front → keyholder → simulator                        (everything: auth, routing, hop)
Prints the median and p99 of each and the differences. Usage:
  bench/hop.py [--requests 2000] [--bin .build/release/gatehouse]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from conftest import start_process, stop_process  # noqa: E402

import httpx  # noqa: E402

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "benchmark"}]}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def frame(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack(">IB", 1 + len(payload), kind) + payload


def read_frame(connection: socket.socket, buffer: bytearray) -> tuple[int, bytes]:
    while len(buffer) < 5 or len(buffer) < 4 + struct.unpack(">I", buffer[:4])[0]:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buffer.extend(chunk)
    length = struct.unpack(">I", buffer[:4])[0]
    kind, payload = buffer[4], bytes(buffer[5:4 + length])
    del buffer[:4 + length]
    return kind, payload


def link_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">I", len(data)) + data


def link_request(path: str, secret: bytes, body: bytes) -> bytes:
    # The binary request head (Sources/GatehouseLink/LinkFrame.swift): provider, method, path segments,
    # query pairs, header pairs, streaming flag.
    head = (link_string("openai") + link_string("POST") + struct.pack(">I", 2) + link_string("chat")
            + link_string("completions") + struct.pack(">I", 0) + struct.pack(">I", 1)
            + link_string("content-type") + link_string("application/json") + b"\x00")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(path)
        connection.sendall(frame(0x01, secret) + frame(0x10, head) + frame(0x11, body) + frame(0x12))
        buffer = bytearray()
        answer = b""
        while True:
            kind, payload = read_frame(connection, buffer)
            if kind == 0x21:
                answer += payload
            elif kind in (0x22, 0x2F):
                return answer


def measure(label: str, call, count: int) -> list[float]:
    for _ in range(50):
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{label:8s} median {statistics.median(samples):7.3f} ms   p99 {percentile(samples, 0.99):7.3f} ms")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--bin", default=str(REPO / ".build" / "debug" / "gatehouse"))
    arguments = parser.parse_args()
    binary = arguments.bin
    with tempfile.TemporaryDirectory(prefix="gatehouse-bench-") as directory:
        state = str(Path(directory) / "state")
        for name in ("openai-key", "vllm-key", "anthropic-key", "gemini-key"):
            subprocess.run([binary, "keys", "add", name, "--stdin", "--state", state], input="sk-fake-bench-0000\n",
                           check=True, capture_output=True, text=True)
        token = subprocess.run([binary, "token", "mint", "--subject", "bench", "--ttl", "1h", "--state", state],
                               check=True, capture_output=True, text=True).stdout.strip()
        sim, match = start_process([binary, "simulate", "--port", "0", "--api-key", "sk-fake-bench-0000"],
                                   r"listening on (http://\S+)")
        sim_url = match.group(1)
        secret = secrets.token_bytes(32)
        secret_file = Path(directory) / "secret"
        secret_file.write_text(secret.hex())
        link_path = str(Path(directory) / "egress.sock")
        config = REPO / "examples" / "gatehouse.yaml"
        env = {"GATEHOUSE_SIMULATOR_URL": sim_url}
        keyholder, _ = start_process([binary, "egress", "--socket", link_path, "--config", str(config), "--secret-file",
                                      str(secret_file), "--state", state], r"egress listening", env=env)
        front, front_match = start_process(
            [binary, "serve", "--config", str(config), "--egress-socket", link_path, "--egress-secret-file",
             str(secret_file), "--state", state, "--port", "0"], r"listening on (http://\S+)",
            env={**env, "GATEHOUSE_LOG_LEVEL": "warning"})
        try:
            body = json.dumps({**BODY, "model": "gpt-4o-mini-sim"}).encode()
            with httpx.Client() as http:
                direct = measure("direct", lambda: http.post(
                    sim_url + "/v1/chat/completions", content=body,
                    headers={"authorization": "Bearer sk-fake-bench-0000", "content-type": "application/json"}),
                    arguments.requests)
                link = measure("link", lambda: link_request(link_path, secret, body), arguments.requests)
                gateway = measure("gateway", lambda: http.post(
                    front_match.group(1) + "/v1/chat/completions", json=BODY,
                    headers={"authorization": f"Bearer {token}"}), arguments.requests)
            print(f"hop + egress client over direct: median +{statistics.median(link) - statistics.median(direct):.3f} ms, "
                  f"p99 +{percentile(link, .99) - percentile(direct, .99):.3f} ms")
            print(f"whole gateway over direct:       median +{statistics.median(gateway) - statistics.median(direct):.3f} ms, "
                  f"p99 +{percentile(gateway, .99) - percentile(direct, .99):.3f} ms")
            print(f"binary: {binary}; cores: {os.cpu_count()}; sequential requests: {arguments.requests}")
        finally:
            for process in (front, keyholder, sim):
                stop_process(process)


if __name__ == "__main__":
    main()
