"""What the benchmark measures: the upstream and the gateways in front of it, all on loopback.

  direct        the provider simulator itself (`gatehouse simulate --latency-ms 0`): the floor
  direct-anthropic  the same simulator's Anthropic Messages endpoint, asked the translated request in
                the Messages format: the floor of the translated rows
  nginx-canned  nginx answering a canned copy of the simulator's reply: the absolute floor
  nginx-proxy   nginx proxy_pass with upstream keep-alive in front of the simulator
  gatehouse     `gatehouse serve` as deployed (supervisor, keyholder, sandboxed front; token
                verification, audit and metrics on) in front of the simulator
  litellm       LiteLLM's proxy (one worker) in front of the simulator, with --litellm

The routing phase asks the same gatehouse process for other models (`Target.model`): a group of two
healthy deployments (the simulator and a second one), and a group whose second deployment is a
simulator failing a share of requests.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from loadgen import build_request, fetch
from procs import Child, Supervisor

HOST = "127.0.0.1"
PROVIDER_KEY = "sk-fake-bench"          # what the simulator accepts; sealed for gatehouse
LITELLM_MASTER_KEY = "sk-bench-master"  # LiteLLM's own client authentication
PASS_MODEL = "sim-gpt"                  # an OpenAI-kind provider: pass-through
TRANSLATED_MODEL = "sim-claude"         # an Anthropic-kind provider: OpenAI → Anthropic
ROUTED_MODEL = "sim-routed"             # two healthy deployments: the simulator and a second one
ONE_UPSTREAM_MODEL = "sim-routed-one-upstream"   # two deployments, both at the first simulator
FAILING_MODEL = "sim-routed-failing"    # the simulator and one failing FAILING_RATE of requests
FAILING_FAULT, FAILING_RATE, FAILING_SEED = "500", 0.3, 1
CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"
PROMPTS = {"small": 0, "10KB": 10 * 1024, "100KB": 100 * 1024}   # bytes of the large earlier turn


@dataclass(frozen=True)
class Cell:
    """One measured situation: closed-loop (wrk), fixed rate, or streaming."""

    kind: str     # "closed" | "rate" | "stream"
    route: str    # "pass" | "translated"
    prompt: str   # a key of PROMPTS
    load: int     # connections (closed), requests per second (rate), concurrent streams (stream)


@dataclass
class Target:
    """Something a client sends OpenAI chat requests to."""

    name: str
    port: int
    authorization: str
    routes: tuple[str, ...]                  # "pass", "translated": the routes it serves
    gateway: Child | None = None             # the process tree whose CPU and memory are measured
    notes: list[str] = field(default_factory=list)
    dialect: str = "openai"                  # "anthropic": asked Messages requests at MESSAGES_PATH
    model: str | None = None                 # the public model asked for, when not the route's

    @property
    def path(self) -> str:
        return MESSAGES_PATH if self.dialect == "anthropic" else CHAT_PATH

    def headers(self) -> list[str]:
        if self.dialect == "anthropic":
            return [f"x-api-key: {self.authorization}", f"anthropic-version: {ANTHROPIC_VERSION}"]
        return [f"Authorization: {self.authorization}"]

    def body(self, route: str, prompt: str = "small", stream: bool = False) -> bytes:
        """What this target is asked for a cell: the OpenAI chat request, or its Messages equivalent."""
        if self.dialect == "anthropic":
            return messages_body(prompt, stream)
        return chat_body(route, prompt, stream, self.model)

    def request(self, body: bytes) -> bytes:
        return build_request(HOST, self.port, self.path, body, self.headers())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def chat_body(route: str, prompt: str = "small", stream: bool = False, model: str | None = None) -> bytes:
    """An OpenAI chat request. The bulk of a large prompt is an earlier turn, so the simulator's
    reply (which echoes only the last user message) stays the same size for every prompt. `model`
    replaces the route's model and nothing else."""
    model = model or (PASS_MODEL if route == "pass" else TRANSLATED_MODEL)
    prompt_bytes = PROMPTS[prompt]
    messages = [{"role": "system", "content": "You are a benchmark."}]
    if prompt_bytes:
        words = ("lorem ipsum dolor sit amet consectetur adipiscing elit " * (prompt_bytes // 56 + 1))
        messages += [{"role": "user", "content": words[:prompt_bytes]},
                     {"role": "assistant", "content": "Noted."}]
    messages.append({"role": "user", "content": "benchmark"})
    body: dict = {"model": model, "messages": messages, "max_tokens": 256}
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def messages_body(prompt: str = "small", stream: bool = False) -> bytes:
    """`chat_body("translated", …)` in the Messages format, as a caller of Anthropic would send it: the
    system message moved to `system`, the same turns (text as strings), model and `max_tokens`."""
    chat = json.loads(chat_body("translated", prompt, stream))
    system = [m["content"] for m in chat["messages"] if m["role"] == "system"]
    body: dict = {"model": chat["model"], "max_tokens": chat["max_tokens"],
                  "messages": [m for m in chat["messages"] if m["role"] != "system"]}
    if system:
        body["system"] = "\n".join(system)
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def wait_until_serving(target: Target, body: bytes, timeout: float, started: float | None = None,
                       interval: float = 0.002) -> float:
    """Poll with a real chat request until it answers 200; returns seconds since `started`."""
    started = time.monotonic() if started is None else started
    deadline = started + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            response = fetch(HOST, target.port, target.request(body), timeout=max(1.0, interval))
            if response.status == 200:
                return time.monotonic() - started
            last_error = f"HTTP {response.status}: {bytes(response.body[:300]).decode(errors='replace')}"
        except OSError as error:
            last_error = str(error)
        time.sleep(interval)
    raise TimeoutError(f"{target.name} did not answer 200 within {timeout:.0f} s ({last_error})")


def probe(target: Target, body: bytes, stream: bool = False) -> None:
    """One request; raises unless it is a 200 chat completion (or a complete stream)."""
    response = fetch(HOST, target.port, target.request(body), timeout=30)
    text = bytes(response.body).decode(errors="replace")
    if response.status != 200:
        raise RuntimeError(f"{target.name}: HTTP {response.status}: {text[:500]}")
    if target.dialect == "anthropic":
        if stream and "event: message_stop" not in text:
            raise RuntimeError(f"{target.name}: stream did not end with message_stop: {text[-300:]}")
        if not stream and not json.loads(text).get("content"):
            raise RuntimeError(f"{target.name}: not a Messages answer: {text[:500]}")
    elif stream:
        if "data: [DONE]" not in text:
            raise RuntimeError(f"{target.name}: stream did not end with [DONE]: {text[-300:]}")
    elif not json.loads(text).get("choices"):
        raise RuntimeError(f"{target.name}: not a chat completion: {text[:500]}")


# --- the upstream ---------------------------------------------------------------------------

def start_simulator(supervisor: Supervisor, binary: str, reply_words: int, name: str = "direct",
                    options: tuple[str, ...] = ()) -> Target:
    """A simulator; `options` add to its command line (a fault, for the failing deployment)."""
    _, match = supervisor.start(
        "simulator" if name == "direct" else f"simulator-{name}",
        [binary, "simulate", "--host", HOST, "--port", "0", "--latency-ms", "0",
         "--reply-words", str(reply_words), "--api-key", PROVIDER_KEY, *options],
        ready=r"gatehouse simulate listening on http://[\d.]+:(\d+)")
    assert match is not None
    return Target(name, int(match.group(1)), f"Bearer {PROVIDER_KEY}", ("pass",))


@dataclass(frozen=True)
class RoutingUpstreams:
    """The simulators the routed models add to the first one: a second healthy one, and a failing one."""

    second: Target
    failing: Target

    @classmethod
    def start(cls, supervisor: Supervisor, binary: str, reply_words: int) -> RoutingUpstreams:
        fault = ("--fault", FAILING_FAULT, "--fault-rate", f"{FAILING_RATE:g}", "--seed", str(FAILING_SEED))
        return cls(start_simulator(supervisor, binary, reply_words, "second"),
                   start_simulator(supervisor, binary, reply_words, "failing", fault))


def anthropic_floor(simulator: Target) -> Target:
    """The simulator's Messages endpoint: what a translated call costs with no gateway in between."""
    return Target("direct-anthropic", simulator.port, PROVIDER_KEY, ("translated",), dialect="anthropic")


# --- nginx ----------------------------------------------------------------------------------

NGINX_CONF = """\
worker_processes auto;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size 16m;
    client_body_buffer_size 1m;   # 100 KB prompts stay in memory
    keepalive_requests 1000000;

    upstream simulator {{
        server {host}:{upstream_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}

    server {{                     # nginx-proxy
        listen {host}:{proxy_port};
        location / {{
            proxy_pass http://simulator;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;  # what an LLM proxy needs: stream events are not held back
        }}
    }}

    server {{                     # nginx-canned
        listen {host}:{canned_port};
        location / {{
            default_type application/json;
            return 200 '{canned}';
        }}
    }}
}}
"""


def nginx_quote(text: str) -> str:
    """`text` inside an nginx single-quoted string; `$` would start a variable, so refuse it."""
    if "$" in text:
        raise ValueError("the canned reply contains '$', which nginx would read as a variable")
    return text.replace("\\", "\\\\").replace("'", "\\'")


def start_nginx(supervisor: Supervisor, work: Path, upstream: Target, canned_reply: str
                ) -> tuple[Target, Target]:
    directory = work / "nginx"
    directory.mkdir()
    os.chmod(work, 0o711)          # nginx workers run as an unprivileged user when started as root
    os.chmod(directory, 0o777)
    proxy_port, canned_port = free_port(), free_port()
    config = directory / "nginx.conf"
    config.write_text(NGINX_CONF.format(dir=directory, host=HOST, upstream_port=upstream.port,
                                        proxy_port=proxy_port, canned_port=canned_port,
                                        canned=nginx_quote(canned_reply)))
    command = ["nginx", "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")]
    subprocess.run([*command, "-t", "-q"], check=True, timeout=30)
    child, _ = supervisor.start("nginx", command)
    proxy = Target("nginx-proxy", proxy_port, upstream.authorization, ("pass",), gateway=child)
    canned = Target("nginx-canned", canned_port, upstream.authorization, ("pass",), gateway=child)
    wait_until_serving(proxy, chat_body("pass"), timeout=15)
    return proxy, canned


# --- gatehouse ------------------------------------------------------------------------------

GATEHOUSE_CONF = """\
server:
  host: {host}
  port: 0
providers:
  openai:
    kind: openai
    base_url: http://{host}:{upstream_port}/v1
    key: openai-key
  anthropic:
    kind: anthropic
    base_url: http://{host}:{upstream_port}
    key: anthropic-key
models:
  - name: {pass_model}
    provider: openai
  - name: {translated_model}
    provider: anthropic
    default_max_tokens: 1024
prices:
  {pass_model}: {{input_per_mtok: 0.15, output_per_mtok: 0.60}}
  {translated_model}: {{input_per_mtok: 3, output_per_mtok: 15}}
"""

# Added for the routing phase. Every deployment asks the simulator for PASS_MODEL, so each upstream
# sees the plain model's request and answers the same bytes; the router's defaults (strategy
# weighted, 2 retries, cooldown) are left as they are.
ROUTING_PROVIDERS = """\
  second:
    kind: openai
    base_url: http://{host}:{second_port}/v1
    key: openai-key
  failing:
    kind: openai
    base_url: http://{host}:{failing_port}/v1
    key: openai-key
"""

ROUTING_MODELS = """\
  - name: {routed_model}
    strategy: weighted
    deployments:
      - {{name: one, provider: openai, model: {pass_model}}}
      - {{name: two, provider: second, model: {pass_model}}}
  - name: {one_upstream_model}
    strategy: weighted
    deployments:
      - {{name: one, provider: openai, model: {pass_model}}}
      - {{name: two, provider: openai, model: {pass_model}}}
  - name: {failing_model}
    strategy: weighted
    deployments:
      - {{name: one, provider: openai, model: {pass_model}}}
      - {{name: bad, provider: failing, model: {pass_model}}}
"""


@dataclass
class Gatehouse:
    """A configured gatehouse: state directory with sealed keys, a config, and a caller token."""

    binary: str
    state: Path
    config: Path
    token: str
    models: list[str]

    @classmethod
    def prepare(cls, binary: str, work: Path, upstream: Target, routing: RoutingUpstreams | None = None,
                guarded: tuple[str, str] | None = None) -> Gatehouse:
        """With `routing`, the same configuration also serves the routed models (ROUTING_MODELS); with
        `guarded` (a `guardrails:` section and models, from guardrails.configuration()), those too."""
        state, config = work / "gatehouse-state", work / "gatehouse.yaml"
        text = GATEHOUSE_CONF.format(host=HOST, upstream_port=upstream.port,
                                     pass_model=PASS_MODEL, translated_model=TRANSLATED_MODEL)
        models = [PASS_MODEL, TRANSLATED_MODEL]
        if routing is not None:
            providers, groups = text.split("models:\n", 1)
            text = (providers + ROUTING_PROVIDERS.format(host=HOST, second_port=routing.second.port,
                                                         failing_port=routing.failing.port)
                    + "models:\n" + groups
                    + ROUTING_MODELS.format(routed_model=ROUTED_MODEL, one_upstream_model=ONE_UPSTREAM_MODEL,
                                            failing_model=FAILING_MODEL, pass_model=PASS_MODEL))
            models += [ROUTED_MODEL, ONE_UPSTREAM_MODEL, FAILING_MODEL]
        if guarded is not None:
            section, guarded_models = guarded
            before, after = text.split("models:\n", 1)
            text = before + section + "models:\n" + after + guarded_models
            models += [line.split("name: ", 1)[1].split(",", 1)[0] for line in guarded_models.splitlines()]
        config.write_text(text)
        for name in ("openai-key", "anthropic-key"):
            subprocess.run([binary, "keys", "add", name, "--stdin", "--state", str(state)],
                           input=PROVIDER_KEY + "\n", text=True, check=True, capture_output=True, timeout=60)
        token = subprocess.run(
            [binary, "token", "mint", "--subject", "bench", "--models", ",".join(models),
             "--ttl", "1d", "--state", str(state)],
            text=True, check=True, capture_output=True, timeout=60).stdout.strip()
        return cls(binary, state, config, token, models)

    def environment(self) -> dict[str, str]:
        """The caller's environment without gatehouse settings that would change what is measured."""
        return {name: value for name, value in os.environ.items() if not name.startswith("GATEHOUSE_")}

    def start(self, supervisor: Supervisor, port: int = 0) -> tuple[Target, float]:
        """Start `gatehouse serve`; returns the target and the seconds from exec to its first 200."""
        argv = [self.binary, "serve", "--config", str(self.config), "--state", str(self.state),
                "--host", HOST, "--port", str(port or free_port())]
        started = time.monotonic()
        child, _ = supervisor.start("gatehouse", argv, env=self.environment())
        target = Target("gatehouse", int(argv[-1]), f"Bearer {self.token}", ("pass", "translated"),
                        gateway=child)
        try:
            cold_start = wait_until_serving(target, chat_body("pass"), timeout=60, started=started,
                                            interval=0.001)
        except TimeoutError as error:
            raise RuntimeError(f"{error}\n{child.stderr_tail()}") from None
        return target, cold_start


def route_counters(gateway: Target) -> dict[str, float]:
    """The router's counters from the gateway's /metrics (`gatehouse_route_…{labels}` → value)."""
    request = f"GET /metrics HTTP/1.1\r\nHost: {HOST}:{gateway.port}\r\n\r\n".encode()
    text = bytes(fetch(HOST, gateway.port, request, timeout=30).body).decode(errors="replace")
    counters = {}
    for line in text.splitlines():
        if line.startswith("gatehouse_route_"):
            series, _, value = line.rpartition(" ")
            counters[series] = float(value)
    return counters


def routing_targets(gateway: Target) -> list[Target]:
    """The one gatehouse process, asked for the plain model and for each routed one: the requests
    differ only in `"model"`. The plain target keeps the gateway's name."""
    return [gateway] + [replace(gateway, name=f"gatehouse-{model.removeprefix('sim-')}", model=model)
                        for model in (ROUTED_MODEL, ONE_UPSTREAM_MODEL, FAILING_MODEL)]


# --- LiteLLM --------------------------------------------------------------------------------

LITELLM_CONF = """\
model_list:
  - model_name: {pass_model}
    litellm_params:
      model: openai/{pass_model}
      api_base: http://{host}:{upstream_port}/v1
      api_key: {key}
  - model_name: {translated_model}
    litellm_params:
      model: anthropic/{translated_model}
      api_base: http://{host}:{upstream_port}
      api_key: {key}
general_settings:
  master_key: {master_key}
litellm_settings:
  telemetry: false
"""


def litellm_environment(work: Path, venv: Path) -> dict[str, str]:
    """A minimal environment: LiteLLM sees no variable of the caller's (no credentials to read)."""
    home = work / "litellm-home"
    home.mkdir(exist_ok=True)
    return {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "NO_PROXY": "*"}


def start_litellm(supervisor: Supervisor, work: Path, venv: Path, upstream: Target) -> tuple[Target, float]:
    config = work / "litellm.yaml"
    config.write_text(LITELLM_CONF.format(host=HOST, upstream_port=upstream.port, key=PROVIDER_KEY,
                                          master_key=LITELLM_MASTER_KEY, pass_model=PASS_MODEL,
                                          translated_model=TRANSLATED_MODEL))
    port = free_port()
    started = time.monotonic()
    child, _ = supervisor.start(
        "litellm", [str(venv / "bin" / "litellm"), "--config", str(config), "--host", HOST,
                    "--port", str(port), "--num_workers", "1"],
        env=litellm_environment(work, venv), cwd=str(work))
    target = Target("litellm", port, f"Bearer {LITELLM_MASTER_KEY}", ("pass", "translated"), gateway=child)
    try:
        cold_start = wait_until_serving(target, chat_body("pass"), timeout=180, started=started, interval=0.05)
    except TimeoutError as error:
        raise RuntimeError(f"{error}\n{child.stderr_tail(40)}") from None
    return target, cold_start
