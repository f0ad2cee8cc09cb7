#!/usr/bin/env python3
"""The benchmark's own HTTP/1.1 clients, for what wrk cannot measure. Standard library only.

  rate    open loop: requests are sent on a fixed schedule (RATE per second), whether or not
          earlier ones have been answered, over a pool of keep-alive connections that grows
          when every connection is busy (up to --max-connections; past that a request is
          dropped and counted, so an overloaded target ends the run on time). Latency is measured per request, from the moment its
          bytes are written to the moment its last byte is read.
  stream  closed loop: CONCURRENCY connections each send a streaming request, read the whole
          stream, and send the next. Per request: time to the first byte of the body (the first
          event) and time to the end of the stream.

Each prints one JSON object on stdout. Used by bench.py as a separate process, so the
orchestrator's own threads never share an event loop with the measurement:

  loadgen.py rate   --port P --path /v1/chat/completions --body-file F --header 'k: v' --rate 1000 --duration 10
  loadgen.py stream --port P --path /v1/chat/completions --body-file F --concurrency 1 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time


def build_request(host: str, port: int, path: str, body: bytes, headers: list[str]) -> bytes:
    """The bytes of one POST request with keep-alive."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
             "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class ResponseParser:
    """Incremental HTTP/1.1 response parser: Content-Length or chunked bodies."""

    def __init__(self, keep_body: bool = False) -> None:
        self.buffer = bytearray()
        self.status = 0
        self.headers: dict[str, str] = {}
        self.keep_body = keep_body
        self.body = bytearray()
        self.first_body_ns = 0
        self.done_ns = 0
        self._in_head = True
        self._remaining = -1      # Content-Length body: bytes still to read
        self._chunked = False
        self._chunk_left = 0      # chunked body: data bytes (plus CRLF) left in the current chunk

    @property
    def done(self) -> bool:
        return self.done_ns != 0

    def feed(self, data: bytes, now_ns: int) -> None:
        self.buffer += data
        if self._in_head:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            del self.buffer[:end + 4]
            self.status = int(head[0].split(" ", 2)[1])
            for line in head[1:]:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
            self._in_head = False
            self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
            if not self._chunked:
                self._remaining = int(self.headers.get("content-length", "0"))
        if self.buffer and not self.first_body_ns:
            self.first_body_ns = now_ns
        if self._chunked:
            self._feed_chunked(now_ns)
        else:
            take = min(self._remaining, len(self.buffer))
            if self.keep_body:
                self.body += self.buffer[:take]
            del self.buffer[:take]
            self._remaining -= take
            if self._remaining == 0:
                self.done_ns = now_ns

    def _feed_chunked(self, now_ns: int) -> None:
        while self.buffer:
            if self._chunk_left > 0:
                take = min(self._chunk_left, len(self.buffer))
                if self.keep_body:
                    self.body += self.buffer[:take]
                del self.buffer[:take]
                self._chunk_left -= take
                if self._chunk_left == 0:
                    self._chunk_left = -2  # the CRLF after the data
                continue
            if self._chunk_left < 0:
                if len(self.buffer) < 2:
                    return
                del self.buffer[:2]
                self._chunk_left = 0
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            size = int(self.buffer[:end].split(b";")[0], 16)
            if size == 0:
                if len(self.buffer) < end + 4:
                    return  # wait for the final CRLF (no trailers expected)
                self.buffer.clear()
                self.done_ns = now_ns
                return
            del self.buffer[:end + 2]
            self._chunk_left = size


def fetch(host: str, port: int, request: bytes, timeout: float = 10.0) -> ResponseParser:
    """One blocking exchange on a new connection (probes and cold-start polling)."""
    parser = ResponseParser(keep_body=True)
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.sendall(request)
        while not parser.done:
            data = connection.recv(65536)
            if not data:
                raise ConnectionError("connection closed mid-response")
            parser.feed(data, time.perf_counter_ns())
    return parser


class Connection(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser: ResponseParser | None = None
        self.waiter: asyncio.Future[ResponseParser] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        if self.parser is None or self.waiter is None:
            return
        self.parser.feed(data, now)
        if self.parser.done and not self.waiter.done():
            self.waiter.set_result(self.parser)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed mid-response"))

    async def exchange(self, request: bytes, timeout: float) -> tuple[int, ResponseParser]:
        """Send `request`; returns the write time (ns) and the parsed response."""
        assert self.transport is not None
        self.parser = ResponseParser()
        self.waiter = asyncio.get_running_loop().create_future()
        sent = time.perf_counter_ns()
        self.transport.write(request)
        parser = await asyncio.wait_for(self.waiter, timeout)
        if parser.headers.get("connection", "").lower() == "close":
            self.transport.close()
            self.closed = True
        return sent, parser


async def connect(host: str, port: int) -> Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(Connection, host, port)
    return protocol


def percentiles(values_ns: list[int]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/mean in milliseconds (nearest rank)."""
    if not values_ns:
        return {}
    ordered = sorted(values_ns)

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e6

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "p999": rank(0.999),
            "max": ordered[-1] / 1e6, "mean": sum(ordered) / len(ordered) / 1e6}


async def run_rate(args: argparse.Namespace, request: bytes) -> dict:
    idle: list[Connection] = [await connect(args.host, args.port) for _ in range(args.connections)]
    opened = len(idle)
    latencies: list[int] = []
    counts = {"requests": 0, "non2xx": 0, "errors": 0, "dropped": 0}
    loop = asyncio.get_running_loop()
    interval = 1.0 / args.rate
    total = int(args.rate * (args.warmup + args.duration))
    warmup_count = int(args.rate * args.warmup)
    tasks: set[asyncio.Task] = set()

    async def one(index: int, connection: Connection) -> None:
        try:
            sent, response = await connection.exchange(request, args.timeout)
        except (OSError, ConnectionError, asyncio.TimeoutError):
            counts["errors"] += 1
            connection.transport and connection.transport.close()
            return
        if index >= warmup_count:
            counts["requests"] += 1
            latencies.append(response.done_ns - sent)
            if not 200 <= response.status < 300:
                counts["non2xx"] += 1
        if not connection.closed:
            idle.append(connection)

    started = loop.time()
    measured_from = time.perf_counter()
    for index in range(total):
        due = started + index * interval
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if index == warmup_count:
            measured_from = time.perf_counter()
        if idle:
            connection = idle.pop()
        elif opened < args.max_connections and loop.time() - due < args.timeout:
            connection = await connect(args.host, args.port)
            opened += 1
        else:  # every connection busy: the target is overloaded; the request is dropped, not queued
            counts["dropped"] += 1
            continue
        task = asyncio.create_task(one(index, connection))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=args.timeout + 5)
    elapsed = time.perf_counter() - measured_from
    for connection in idle:
        connection.transport and connection.transport.close()
    return {**counts, "achieved_rate": counts["requests"] / elapsed, "connections": opened,
            **percentiles(latencies)}


async def run_stream(args: argparse.Namespace, request: bytes) -> dict:
    ttfb: list[int] = []
    totals: list[int] = []
    counts = {"requests": 0, "non2xx": 0, "errors": 0}
    loop = asyncio.get_running_loop()
    measure_from = loop.time() + args.warmup
    stop_at = measure_from + args.duration

    async def worker() -> None:
        connection = await connect(args.host, args.port)
        while loop.time() < stop_at:
            if connection.closed:
                connection = await connect(args.host, args.port)
            try:
                sent, response = await connection.exchange(request, args.timeout)
            except (OSError, ConnectionError, asyncio.TimeoutError):
                counts["errors"] += 1
                connection.transport and connection.transport.close()
                connection.closed = True
                continue
            if loop.time() < measure_from:
                continue
            counts["requests"] += 1
            if not 200 <= response.status < 300:
                counts["non2xx"] += 1
                continue
            ttfb.append(response.first_body_ns - sent)
            totals.append(response.done_ns - sent)
        connection.transport and connection.transport.close()

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return {**counts, "rate": counts["requests"] / args.duration,
            "ttfb": percentiles(ttfb), "total": percentiles(totals)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["rate", "stream"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--header", action="append", default=[], help="'name: value' (repeatable)")
    parser.add_argument("--rate", type=float, default=1000, help="rate mode: requests per second")
    parser.add_argument("--connections", type=int, default=16, help="rate mode: connections opened up front")
    parser.add_argument("--max-connections", type=int, default=256,
                        help="rate mode: most connections; a request finding all busy is dropped")
    parser.add_argument("--concurrency", type=int, default=1, help="stream mode: concurrent streams")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1, help="seconds sent but not measured")
    parser.add_argument("--timeout", type=float, default=10, help="per-request timeout in seconds")
    args = parser.parse_args()
    with open(args.body_file, "rb") as file:
        request = build_request(args.host, args.port, args.path, file.read(), args.header)
    run = run_rate if args.mode == "rate" else run_stream
    result = asyncio.run(run(args, request))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
