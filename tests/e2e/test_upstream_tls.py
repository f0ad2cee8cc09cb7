"""The keyholder reaches HTTPS providers with full certificate verification: a provider whose
certificate chains to a trusted authority (here the provider's `ca_file`) and names the host is
served, with SNI and pooled connections; one whose certificate is not trusted, or does not name the
address dialled, is refused before any request byte (or key) leaves the gateway."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from conftest import GATEHOUSE_BIN, start_gateway, start_simulator, stop_process

KEY = "sk-fake-tls-upstream-0001"


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for DNS:localhost and IP:127.0.0.1 (nothing else)."""
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = directory / "server.ext"
    ext.write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                   "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for argv in (
        ["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=gatehouse test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "1", "-extfile", ext],
    ):
        subprocess.run([str(a) for a in argv], check=True, capture_output=True, timeout=60)
    return ca, cert, key


class TLSTerminator:
    """Accepts TLS on loopback addresses and relays the plain bytes to the simulator."""

    def __init__(self, cert: Path, key: Path, upstream_port: int, hosts: list[str]) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.server_names: list[str | None] = []
        self.handshakes = 0
        self.context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        self.upstream_port = upstream_port
        self.listeners = []
        self.ports: dict[str, int] = {}
        port = 0
        for host in hosts:
            listener = socket.create_server((host, port))
            port = listener.getsockname()[1]  # the same port on every address
            self.ports[host] = port
            self.listeners.append(listener)
            threading.Thread(target=self.accept, args=(listener,), daemon=True).start()

    def accept(self, listener: socket.socket) -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(raw,), daemon=True).start()

    def serve(self, raw: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        self.handshakes += 1
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))

        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for s in (source, sink):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(upstream, tls), daemon=True).start()
        pump(tls, upstream)

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()


def audit_records(state: str) -> list[dict]:
    return [json.loads(line) for line in (Path(state) / "audit" / "audit.log").read_text().splitlines() if line]


def test_https_providers_are_verified_before_any_byte_or_key_is_sent() -> None:
    with tempfile.TemporaryDirectory(prefix="gatehouse-tls-") as directory:
        root = Path(directory)
        ca, cert, key = make_certificates(root)
        sim = start_simulator(api_key=KEY)
        terminator = TLSTerminator(cert, key, sim.port, ["127.0.0.1", "127.0.0.2"])
        port = terminator.ports["127.0.0.1"]
        gateway = start_gateway(root, (
            "providers:\n"
            f"  trusted: {{kind: openai-compatible, base_url: 'https://localhost:{port}/v1', key: k, ca_file: '{ca}'}}\n"
            f"  untrusted: {{kind: openai-compatible, base_url: 'https://localhost:{port}/v1', key: k}}\n"
            f"  misnamed: {{kind: openai-compatible, base_url: 'https://127.0.0.2:{port}/v1', key: k, ca_file: '{ca}'}}\n"
            "models:\n  - {name: trusted, provider: trusted}\n  - {name: untrusted, provider: untrusted}\n"
            "  - {name: misnamed, provider: misnamed}\n"), KEY)
        try:
            client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=gateway.token, max_retries=0)
            for word in ("one", "two", "three"):
                reply = client.chat.completions.create(model="trusted", messages=[{"role": "user", "content": word}])
                assert reply.choices[0].message.content == f"sim:trusted says: {word}"
            # The simulator checked the key on each request: it crossed the verified TLS connection.
            assert len(sim.requests()) == 3
            assert terminator.server_names and set(terminator.server_names) == {"localhost"}, terminator.server_names
            assert terminator.handshakes == 1, "the three requests share one pooled TLS connection"

            sim.clear()
            for model in ("untrusted", "misnamed"):
                with pytest.raises(openai.InternalServerError) as error:
                    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
                assert error.value.status_code == 502
                assert error.value.body["code"] == "upstream_unreachable"
                # A TLS failure is retried (the model's default retries: 2), each time on a new connection.
                assert error.value.response.headers["x-gatehouse-attempts"] == "3"
            assert sim.requests() == [], "nothing was sent over a connection that failed verification"

            # Every connection is recorded, and so is each certificate that failed verification.
            expected = [{"event": "opened", "target": f"https://localhost:{port}"},
                        {"event": "tls_failed", "target": f"https://localhost:{port}"},
                        {"event": "tls_failed", "target": f"https://127.0.0.2:{port}"}]
            deadline = time.monotonic() + 10
            while True:
                connects = [r["fields"] for r in audit_records(gateway.state) if r["kind"] == "egress.connect"]
                if all(item in connects for item in expected) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert all(item in connects for item in expected), connects
            text = httpx.get(gateway.base_url + "/metrics", timeout=10).text
            assert 'gatehouse_egress_connections_total{event="tls_failed"} 6' in text, text
            assert KEY not in gateway.stderr_path.read_text()
        finally:
            stop_process(gateway.process)
            stop_process(sim.process)
            terminator.close()


def test_a_missing_ca_file_stops_the_start_with_a_clear_message() -> None:
    with tempfile.TemporaryDirectory(prefix="gatehouse-tls-") as directory:
        root = Path(directory)
        state = str(root / "state")
        config = root / "gatehouse.yaml"
        config.write_text(
            "providers:\n"
            f"  p: {{kind: openai-compatible, base_url: 'https://localhost:9/v1', ca_file: '{root}/absent.pem'}}\n"
            "models:\n  - {name: m, provider: p}\n")
        result = subprocess.run([GATEHOUSE_BIN, "serve", "--config", str(config), "--port", "0", "--state", state],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert "provider 'p': cannot set up TLS (check ca_file)" in result.stderr, result.stderr
