"""A provider that closes a kept-alive connection just as the keyholder sends the next request on
it (its idle timeout shorter than ours) costs the caller nothing: the request goes once more on a
new connection. A provider that drops every request is still an error, and is not retried twice."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
from pathlib import Path

import openai
import pytest

from conftest import Gateway, start_gateway, stop_process


class ForgetfulUpstream:
    """Answers the first request on each connection and closes the connection, unanswered, on the
    second; with `answer_first=False` it answers nothing at all."""

    def __init__(self, answer_first: bool = True) -> None:
        self.answer_first = answer_first
        self.connections = 0
        self.requests = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.serve, args=(connection,), daemon=True).start()

    def read_request(self, reader) -> bool:
        line = reader.readline()
        if not line:
            return False
        length = 0
        while (header := reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        reader.read(length)
        self.requests += 1
        return True

    def serve(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            if not self.read_request(reader):
                return
            if self.answer_first:
                body = json.dumps({
                    "id": "chatcmpl-keepalive", "object": "chat.completion", "created": 0, "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fresh"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
                connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                   + f"content-length: {len(body)}\r\n\r\n".encode() + body)
                # Keep the connection open, then drop it unanswered once the next request arrives.
                self.read_request(reader)

    def close(self) -> None:
        self.listener.close()


def gateway(directory: str, upstream_port: int) -> tuple[Gateway, openai.OpenAI]:
    started = start_gateway(
        Path(directory),
        f"providers:\n  p: {{kind: openai-compatible, base_url: 'http://127.0.0.1:{upstream_port}/v1', key: k}}\n"
        # retries: 0, so that only the keyholder's own resend of a stale kept-alive connection is measured.
        "models:\n  - {name: m, provider: p, retries: 0}\n", "sk-fake-keepalive-0001")
    return started, openai.OpenAI(base_url=started.base_url + "/v1", api_key=started.token, max_retries=0)


def test_a_request_on_a_connection_the_provider_just_closed_is_sent_again_on_a_new_one() -> None:
    upstream = ForgetfulUpstream()
    with tempfile.TemporaryDirectory(prefix="gatehouse-keepalive-") as directory:
        started, client = gateway(directory, upstream.port)
        try:
            for _ in range(4):
                reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
                assert reply.choices[0].message.content == "fresh"
            # Requests 2–4 each met a closed connection first, then were answered on a new one.
            assert upstream.connections == 4
            assert upstream.requests == 4 + 3
        finally:
            stop_process(started.process)
            upstream.close()


def test_a_provider_that_drops_every_request_is_an_error_after_one_attempt() -> None:
    upstream = ForgetfulUpstream(answer_first=False)
    with tempfile.TemporaryDirectory(prefix="gatehouse-keepalive-") as directory:
        started, client = gateway(directory, upstream.port)
        try:
            with pytest.raises(openai.InternalServerError) as error:
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            assert error.value.status_code == 502
            assert error.value.body["code"] == "upstream_unreachable"
            # A new connection that fails is not retried: only a kept-alive one is.
            assert upstream.requests == 1
        finally:
            stop_process(started.process)
            upstream.close()
