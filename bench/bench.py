#!/usr/bin/env python3
"""Gatehouse benchmark: gatehouse against the floor (direct, nginx) and a peer (LiteLLM), in one run.

Run it through bench/run, which installs the load generators first. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import accounting
import guardrails
import llmguard
import report
from loadgen import fetch
from procs import MB, RssSampler, StartError, Supervisor, cpu_seconds, pss_bytes, rss_bytes
from targets import (HOST, Cell, Gatehouse, RoutingUpstreams, Target, anthropic_floor, chat_body, probe,
                     route_counters, routing_targets, start_litellm, start_nginx, start_simulator)

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
LOADGEN = BENCH / "loadgen.py"
LITELLM_VENV = BENCH / ".venv-litellm"
PHASES = ("closed", "rate", "stream", "routing", "guardrails", "accounting")


def seconds(text: str) -> float:
    """'10s', '2m', '500ms' or a bare number of seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def integers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


class Failure(RuntimeError):
    """A target answered with errors, or a step of the benchmark failed."""


# --- load generators ------------------------------------------------------------------------

WRK_SCRIPT = """\
wrk.method = "POST"
wrk.path = "{path}"
wrk.headers["Content-Type"] = "application/json"
{headers}
local file = assert(io.open("{body}", "rb"))
wrk.body = file:read("*a")
file:close()
{response}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50":%.0f,"p90":%.0f,"p99":%.0f,"max":%.0f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  if report_routes then report_routes() end
end
"""

# The routing phase reads who answered and after how many attempts from every answer's headers.
# Defining response() makes wrk hand each answer's headers to Lua, which costs the load generator
# some CPU: every target of the phase gets it, so they stay comparable with one another.
WRK_ROUTES = """\
local threads = {}
function setup(thread) table.insert(threads, thread) end
answered, retried, attempts, deployments = 0, 0, 0, {}
function response(status, headers, body)
  answered = answered + 1
  local n = tonumber(headers["x-gatehouse-attempts"]) or 0
  attempts = attempts + n
  if n > 1 then retried = retried + 1 end
  local who = headers["x-gatehouse-deployment"] or "none"
  deployments[who] = (deployments[who] or 0) + 1
end
function report_routes()
  local a, r, n, who = 0, 0, 0, {}
  for _, thread in ipairs(threads) do
    a, r, n = a + thread:get("answered"), r + thread:get("retried"), n + thread:get("attempts")
    for name, count in pairs(thread:get("deployments")) do who[name] = (who[name] or 0) + count end
  end
  local parts = {}
  for name, count in pairs(who) do parts[#parts + 1] = string.format('"%s":%d', name, count) end
  io.write(string.format('WRK_ROUTES {"answered":%d,"retried":%d,"attempts":%d,"deployments":{%s}}\\n',
    a, r, n, table.concat(parts, ",")))
end
"""


class Bench:
    """Holds the work directory, the started targets and every measurement."""

    def __init__(self, args: argparse.Namespace, binary: str, work: Path, supervisor: Supervisor) -> None:
        self.args = args
        self.binary = binary
        self.work = work
        self.supervisor = supervisor
        self.results: dict[tuple[Cell, str], list[dict]] = {}
        self.startup: dict[str, dict] = {}
        self.soak: list[dict] = []
        self.route_counters: dict[str, float] = {}   # /metrics router counters added by the routing phase
        self.errors: list[str] = []

    def body_file(self, route: str, prompt: str, stream: bool = False, target: Target | None = None) -> Path:
        dialect = target.dialect if target else "openai"
        model = f"-{target.model}" if target and target.model else ""
        path = self.work / f"body-{route}-{prompt}{'-stream' if stream else ''}-{dialect}{model}.json"
        if not path.exists():
            path.write_bytes(target.body(route, prompt, stream) if target else chat_body(route, prompt, stream))
        return path

    def wrk(self, target: Target, body: Path, connections: int, duration: float, routes: bool = False) -> dict:
        """A closed-loop wrk run; with `routes`, also who answered and after how many attempts."""
        script = self.work / f"wrk-{target.name}-{body.stem}{'-routes' if routes else ''}.lua"
        headers = "\n".join('wrk.headers["{}"] = "{}"'.format(*header.split(": ", 1)) for header in target.headers())
        script.write_text(WRK_SCRIPT.format(path=target.path, headers=headers, body=body,
                                            response=WRK_ROUTES if routes else ""))
        threads = max(1, min(connections, os.cpu_count() or 1))
        whole_seconds = max(1, round(duration))  # wrk takes whole seconds
        command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{whole_seconds}s",
                   "--timeout", "10s", "-s", str(script), f"http://{HOST}:{target.port}{target.path}"]
        output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60).stdout
        match = re.search(r"^WRK_JSON (.*)$", output, re.MULTILINE)
        if not match:
            raise Failure(f"wrk printed no summary for {target.name}:\n{output}")
        raw = json.loads(match.group(1))
        result = {"requests": raw["requests"], "rps": raw["requests"] / (raw["duration_us"] / 1e6),
                  "p50": raw["p50"] / 1000, "p90": raw["p90"] / 1000, "p99": raw["p99"] / 1000,
                  "non2xx": raw["status"],
                  "errors": raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]}
        if routes:
            match = re.search(r"^WRK_ROUTES (.*)$", output, re.MULTILINE)
            if not match:
                raise Failure(f"wrk printed no routing summary for {target.name}:\n{output}")
            answers = json.loads(match.group(1))
            if answers["answered"] and not answers["attempts"]:
                raise Failure(f"{target.name} answered without an x-gatehouse-attempts header")
            result.update(answers)
            result["retry_share"] = answers["retried"] / answers["answered"] if answers["answered"] else None
            result["attempts_per_request"] = (answers["attempts"] / answers["answered"]
                                              if answers["answered"] else None)
        return result

    def loadgen(self, mode: str, target: Target, body: Path, duration: float, *options: str) -> dict:
        command = [sys.executable, str(LOADGEN), mode, "--host", HOST, "--port", str(target.port),
                   "--path", target.path, "--body-file", str(body), "--duration", f"{duration:g}",
                   *[part for header in target.headers() for part in ("--header", header)], *options]
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
        if done.returncode != 0:
            raise Failure(f"loadgen {mode} against {target.name} failed:\n{done.stderr[-2000:]}")
        return json.loads(done.stdout)

    # --- one measured run -----------------------------------------------------------------

    def measure(self, target: Target, work) -> dict:
        """Run `work()` and add the gateway's CPU per 1,000 requests and its peak RSS."""
        if target.gateway is None:
            return work()
        before_pids = target.gateway.tree()
        before = cpu_seconds(before_pids)
        with RssSampler(target.gateway.pid) as sampler:
            result = work()
        after = cpu_seconds(target.gateway.tree())
        requests = result.get("requests", 0)
        result["cpu_per_1k"] = (after - before) / requests * 1000 if requests else None
        result["peak_rss_mb"] = sampler.peak / MB
        result["peak_pss_mb"] = sampler.peak_pss / MB
        return result

    def run_cell(self, cell: Cell, targets: list[Target], rotate: bool = False) -> None:
        """Warm each target up, then `runs` rounds, each round measuring every target in turn
        (with `rotate`, round k starts at the k-th target, so no target always runs first)."""
        duration = self.args.duration
        stream = cell.kind == "stream"
        bodies = {target.name: self.body_file(cell.route, cell.prompt, stream, target) for target in targets}
        for target in targets:
            self.run_once(cell, target, bodies[target.name], self.args.warmup)
        for round_index in range(self.args.runs):
            shift = round_index % len(targets) if rotate else 0
            for target in targets[shift:] + targets[:shift]:
                result = self.run_once(cell, target, bodies[target.name], duration)
                self.check(cell, target, result)
                self.results.setdefault((cell, target.name), []).append(result)
        summary = "  ".join(f"{target.name} {report.headline_figure(cell, self.median(cell, target.name))}"
                            for target in targets)
        print(f"bench: {report.cell_label(cell)}: {summary}", flush=True)

    def run_once(self, cell: Cell, target: Target, body: Path, duration: float) -> dict:
        if cell.kind == "closed":
            return self.measure(target, lambda: self.wrk(target, body, cell.load, duration))
        if cell.kind == "routing":
            return self.measure(target, lambda: self.wrk(target, body, cell.load, duration, routes=True))
        if cell.kind in ("guardrails", "accounting"):
            return self.measure(target, lambda: self.wrk(target, body, cell.load, duration))
        if cell.kind in ("rate", "accounting-rate"):
            return self.measure(target, lambda: self.loadgen("rate", target, body, duration,
                                                             "--rate", str(cell.load), "--warmup", "1"))
        return self.measure(target, lambda: self.loadgen("stream", target, body, duration,
                                                         "--concurrency", str(cell.load), "--warmup", "0.5"))

    def check(self, cell: Cell, target: Target, result: dict) -> None:
        """Errors and non-2xx answers fail the run (except LiteLLM's: the peer failing under load is a
        finding). Requests dropped at a fixed rate mean the target cannot sustain it: reported, not fatal."""
        where = report.cell_label(cell)
        if result.get("dropped"):
            print(f"bench: WARNING: {target.name} could not sustain the rate: {result['dropped']} requests "
                  f"dropped (all connections busy), {result.get('requests', 0)} answered in {where}",
                  file=sys.stderr, flush=True)
        if result.get("non2xx") or result.get("errors") or not result.get("requests"):
            message = (f"{target.name} answered {result.get('requests', 0)} requests, {result.get('non2xx', 0)} "
                       f"of them non-2xx, with {result.get('errors', 0)} socket errors/timeouts in {where}")
            print(f"bench: ERROR: {message}", file=sys.stderr, flush=True)
            if target.name != "litellm":
                self.errors.append(message)

    def median(self, cell: Cell, target: str) -> dict:
        """Each figure's median over the runs (nested figures too); error counts are summed."""
        runs = self.results.get((cell, target), [])
        merged: dict = {}
        for key in runs[0] if runs else []:
            values = [run[key] for run in runs if isinstance(run.get(key), (int, float))]
            if values:
                merged[key] = statistics.median(values)
            elif isinstance(runs[0][key], dict):
                nested = {name: [run[key][name] for run in runs if run[key].get(name) is not None]
                          for name in runs[0][key]}
                merged[key] = {name: statistics.median(found) for name, found in nested.items() if found}
        for key in ("non2xx", "errors", "dropped"):
            merged[key] = sum(run.get(key, 0) for run in runs)
        return merged

    def rounds(self, cell: Cell, target: str) -> list[dict]:
        """Every measured run of a target in a cell, in the order of the rounds."""
        return self.results.get((cell, target), [])


# --- phases ---------------------------------------------------------------------------------

def idle_memory(target: Target, settle: float = 2.0) -> dict:
    assert target.gateway is not None
    time.sleep(settle)
    pids = target.gateway.tree()
    return {"rss_mb": rss_bytes(pids) / MB, "pss_mb": pss_bytes(pids) / MB, "processes": len(pids)}


def cold_starts(bench: Bench, start, runs: int) -> tuple[Target, dict]:
    """Start a target `runs + 1` times (the first, which may create state, is not counted); returns
    the last instance, still running, and the medians of cold start and idle memory."""
    samples: list[dict] = []
    target: Target | None = None
    for attempt in range(runs + 1):
        if target is not None and target.gateway is not None:
            bench.supervisor.stop(target.gateway)
        target, cold = start()
        if attempt:
            samples.append({"cold_start_ms": cold * 1000, **idle_memory(target)})
    assert target is not None
    return target, {key: statistics.median(sample[key] for sample in samples) for key in samples[0]}


def ensure_litellm(version: str) -> Path:
    python = LITELLM_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True, timeout=300)
    requirement = f"litellm[proxy]=={version}" if version else "litellm[proxy]"
    installed = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                               capture_output=True, text=True).stdout.strip()
    if not installed or (version and installed != version):
        print(f"bench: installing {requirement} into {LITELLM_VENV} (large)", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", requirement], check=True, timeout=3600)
    return LITELLM_VENV


def soak(bench: Bench, target: Target, seconds_total: int, rate: int) -> None:
    """Steady load for `seconds_total` s; gatehouse's RSS sampled every 10 s."""
    assert target.gateway is not None
    body = bench.body_file("pass", "small")
    command = [sys.executable, str(LOADGEN), "rate", "--host", HOST, "--port", str(target.port),
               "--path", target.path, "--body-file", str(body), "--duration", str(seconds_total),
               "--warmup", "0", "--rate", str(rate),
               *[part for header in target.headers() for part in ("--header", header)]]
    print(f"bench: soak: {rate} req/s for {seconds_total} s against gatehouse", flush=True)
    started = time.monotonic()
    load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        while load.poll() is None:
            pids = target.gateway.tree()
            bench.soak.append({"t": time.monotonic() - started, "rss_mb": rss_bytes(pids) / MB,
                               "pss_mb": pss_bytes(pids) / MB})
            try:
                load.wait(10)
            except subprocess.TimeoutExpired:
                pass
        output, _ = load.communicate(timeout=seconds_total + 120)
    finally:
        if load.poll() is None:
            load.kill()
    pids = target.gateway.tree()
    bench.soak.append({"t": time.monotonic() - started, "rss_mb": rss_bytes(pids) / MB,
                       "pss_mb": pss_bytes(pids) / MB})
    bench.startup["soak"] = json.loads(output) if output.strip() else {}
    if any(bench.startup["soak"].get(key) for key in ("non2xx", "errors")):
        bench.errors.append(f"soak: {bench.startup['soak']}")


def routing(bench: Bench, gateway: Target) -> None:
    """What the router costs: the one gateway process asked for the plain model and for routed
    ones, in the same cell, round after round; CPU per request from /proc as for every cell."""
    targets = routing_targets(gateway)
    for target in targets:
        probe(target, target.body("pass"))
    before = route_counters(gateway)
    bench.run_cell(Cell("routing", "pass", "small", bench.args.routing_connections), targets, rotate=True)
    after = route_counters(gateway)
    bench.route_counters = {series: value - before.get(series, 0) for series, value in after.items()
                            if value != before.get(series, 0)}


def guardrails_phase(bench: Bench, gateway: Target) -> None:
    """What the scanners cost: through the gateway (plain vs guarded models, interleaved rounds, small
    and 10 KB prompts) and offline (`gatehouse guard scan` over 10 KB prompts)."""
    targets = guardrails.gateway_targets(gateway)
    for target in targets:
        probe(target, target.body("pass"))
    for prompt in ("small", "10KB"):
        bench.run_cell(Cell("guardrails", "pass", prompt, bench.args.routing_connections), targets, rotate=True)
    print("bench: guard scan, 10 KB prompts", flush=True)
    bench.startup["guard_scan"] = guardrails.scan_cost(bench.binary, bench.work, bench.args.runs)
    scan = bench.startup["guard_scan"]
    print(f"bench: guard scan: default policy {scan['default']:.1f} µs, example policy {scan['full']:.1f} µs "
          "of CPU per 10 KB prompt", flush=True)
    if bench.args.llm_guard:
        print("bench: guardrails against llm-guard", flush=True)
        result = llmguard.compare(bench.binary, bench.work, bench.args.runs)
        bench.startup["llm_guard"] = result
        print(f"bench: llm-guard: gatehouse {result['gatehouse_us']:.1f} µs, llm-guard {result['llmguard_us']:.1f} µs "
              f"per short item; {result['gatehouse_large_us']:.1f} against {result['llmguard_large_us']:.1f} µs per "
              "10 KB prompt", flush=True)


def accounting_phase(bench: Bench, gatehouse: Gatehouse, gateway: Target) -> None:
    """What a budget and an RPM limit on the token cost: the plain token against a limited one, on the
    same process, closed loop and at the fixed rate, in interleaved rounds."""
    limited = accounting.limited_target(bench.binary, str(gatehouse.state), gateway, gatehouse.models)
    targets = [gateway, limited]
    for target in targets:
        probe(target, target.body("pass"))
    bench.run_cell(Cell("accounting", "pass", "small", bench.args.routing_connections), targets, rotate=True)
    bench.run_cell(Cell("accounting-rate", "pass", "small", bench.args.rate), targets, rotate=True)


def full_run(bench: Bench) -> None:
    args = bench.args
    simulator = start_simulator(bench.supervisor, bench.binary, args.stream_chunks)
    canned = fetch_reply(simulator)
    phases = args.phases
    nginx_proxy, nginx_canned = start_nginx(bench.supervisor, bench.work, simulator, canned)
    upstreams = (RoutingUpstreams.start(bench.supervisor, bench.binary, args.stream_chunks)
                 if "routing" in phases else None)
    gatehouse = Gatehouse.prepare(bench.binary, bench.work, simulator, upstreams,
                                  guardrails.configuration() if "guardrails" in phases else None)
    print("bench: gatehouse cold starts", flush=True)
    gateway, bench.startup["gatehouse"] = cold_starts(bench, lambda: gatehouse.start(bench.supervisor), args.runs)
    peers: list[Target] = []
    if args.litellm:
        venv = ensure_litellm(args.litellm_version)
        print("bench: LiteLLM cold starts (about 20 s each)", flush=True)
        litellm, bench.startup["litellm"] = cold_starts(
            bench, lambda: start_litellm(bench.supervisor, bench.work, venv, simulator), args.runs)
        peers.append(litellm)
    bench.startup["nginx"] = idle_memory(nginx_proxy, settle=0)

    anthropic = anthropic_floor(simulator)
    for target in [simulator, anthropic, nginx_proxy, nginx_canned, gateway, *peers]:
        for route in target.routes:
            probe(target, target.body(route))
            if target is not nginx_canned:
                probe(target, target.body(route, stream=True), stream=True)

    by_route = {"pass": [simulator, nginx_proxy, gateway, *peers],
                "translated": [anthropic, gateway, *peers]}
    if "closed" in phases:
        for connections in args.connections:
            for route in ("pass", "translated"):
                floor = [nginx_canned] if route == "pass" else []
                bench.run_cell(Cell("closed", route, "small", connections), floor + by_route[route])
        for prompt in ("10KB", "100KB"):
            for route in ("pass", "translated"):
                bench.run_cell(Cell("closed", route, prompt, args.large_prompt_connections), by_route[route])
    if "rate" in phases:
        for route in ("pass", "translated"):
            gateways = [target for target in by_route[route] if target.name != "litellm"]
            bench.run_cell(Cell("rate", route, "small", args.rate), gateways)
    if "stream" in phases:
        for concurrency in args.stream_concurrency:
            for route in ("pass", "translated"):
                bench.run_cell(Cell("stream", route, "small", concurrency), by_route[route])
    if "routing" in phases:
        routing(bench, gateway)
    if "guardrails" in phases:
        guardrails_phase(bench, gateway)
    if "accounting" in phases:
        accounting_phase(bench, gatehouse, gateway)
    if args.soak:
        soak(bench, gateway, args.soak, args.soak_rate)


def fetch_reply(simulator: Target) -> str:
    """The simulator's answer to the small pass-through request, for nginx to serve canned."""
    response = fetch(HOST, simulator.port, simulator.request(chat_body("pass")))
    return bytes(response.body).decode()


def smoke_run(bench: Bench) -> int:
    """Direct vs gatehouse, pass-through, a few seconds; non-zero only on a gross regression."""
    args = bench.args
    simulator = start_simulator(bench.supervisor, bench.binary, args.stream_chunks)
    gatehouse = Gatehouse.prepare(bench.binary, bench.work, simulator)
    gateway, cold = gatehouse.start(bench.supervisor)
    probe(gateway, chat_body("pass"))
    cell = Cell("closed", "pass", "small", args.smoke_connections)
    bench.run_cell(cell, [simulator, gateway])
    direct, through = bench.median(cell, "direct"), bench.median(cell, "gatehouse")
    ratio = through["rps"] / direct["rps"] if direct.get("rps") else 0.0
    print(f"smoke: direct {direct['rps']:.0f} req/s, gatehouse {through['rps']:.0f} req/s "
          f"(p50 {through['p50']:.2f} ms, CPU {through.get('cpu_per_1k') or 0:.3f} s/1k req), "
          f"ratio {ratio:.3f} (minimum {args.min_ratio}); cold start {cold * 1000:.0f} ms", flush=True)
    failed = False
    if bench.errors:
        print("smoke: FAIL: " + "; ".join(bench.errors), file=sys.stderr)
        failed = True
    if ratio < args.min_ratio:
        print(f"smoke: FAIL: gatehouse pass-through throughput is {ratio:.3f} of direct, "
              f"below {args.min_ratio}", file=sys.stderr)
        failed = True
    if not failed:
        print("smoke: ok")
    return 1 if failed else 0


# --- setup ----------------------------------------------------------------------------------

def build_release() -> str:
    print("bench: swift build -c release --product gatehouse", flush=True)
    subprocess.run(["swift", "build", "-c", "release", "--product", "gatehouse"], cwd=REPO, check=True,
                   timeout=3 * 3600)
    binary_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=REPO, check=True,
                                capture_output=True, text=True, timeout=600).stdout.strip()
    return str(Path(binary_dir) / "gatehouse")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--bin", help="gatehouse binary to measure (default: build release)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per figure; the median is kept")
    parser.add_argument("--duration", type=seconds, help="length of one measured run (10s; smoke: 3s)")
    parser.add_argument("--warmup", type=seconds, help="unmeasured load before each figure (2s; smoke: 1s)")
    parser.add_argument("--connections", type=integers, default=[1, 64, 256],
                        help="closed-loop connection counts, small prompt (1,64,256)")
    parser.add_argument("--large-prompt-connections", type=int, default=64,
                        help="connections for the 10 KB and 100 KB prompts (64)")
    parser.add_argument("--rate", type=int, default=1000, help="fixed request rate for added latency (1000)")
    parser.add_argument("--stream-concurrency", type=integers, default=[1, 256],
                        help="concurrent streams (1,256)")
    parser.add_argument("--stream-chunks", type=int, default=32,
                        help="words in every simulated reply, so content events per stream (32)")
    parser.add_argument("--routing-connections", type=int, default=64,
                        help="connections of the routing phase's closed loop (64)")
    parser.add_argument("--only", help="run only these phases: " + ",".join(PHASES))
    parser.add_argument("--litellm", action="store_true", help="also measure LiteLLM's proxy (large install)")
    parser.add_argument("--llm-guard", action="store_true",
                        help="with the guardrails phase, compare the scanners with llm-guard's (large install)")
    parser.add_argument("--litellm-version", default="1.108.7", help="LiteLLM version to install ('' = newest)")
    parser.add_argument("--soak", type=int, default=0, metavar="SECONDS",
                        help="then hold steady load on gatehouse this long, sampling its RSS every 10 s")
    parser.add_argument("--soak-rate", type=int, default=1000, help="request rate of the soak (1000)")
    parser.add_argument("--output", type=Path,
                        help="the report (results/latest.md; with --only, results/PHASE[-PHASE…].md)")
    parser.add_argument("--smoke", action="store_true",
                        help="a few seconds, direct vs gatehouse only; fails only on a gross regression")
    parser.add_argument("--min-ratio", type=float, default=0.25,
                        help="smoke: least gatehouse/direct throughput ratio that passes (0.25)")
    parser.add_argument("--smoke-connections", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    args = parser.parse_args()
    args.phases = [phase for phase in PHASES if phase in args.only.split(",")] if args.only else list(PHASES)
    unknown = set(args.only.split(",")) - set(PHASES) if args.only else set()
    if unknown or not args.phases:
        parser.error(f"--only takes some of {','.join(PHASES)}, not {args.only!r}")
    if args.output is None:
        # A partial run must not replace the full run's figures in latest.md.
        args.output = BENCH / "results" / (f"{'-'.join(args.phases)}.md" if args.only else "latest.md")
    if args.smoke:
        args.runs = 1
    if args.duration is None:
        args.duration = 3.0 if args.smoke else 10.0
    if args.warmup is None:
        args.warmup = 1.0 if args.smoke else 2.0
    return args


def main() -> int:
    args = parse_arguments()
    required = ["wrk"] if args.smoke else ["wrk", "nginx"]
    missing = [tool for tool in required if not shutil.which(tool)]
    if missing:
        print(f"bench: missing {', '.join(missing)} (bench/run installs them)", file=sys.stderr)
        return 2
    binary = os.path.abspath(args.bin) if args.bin else build_release()
    if not os.access(binary, os.X_OK):
        print(f"bench: {binary} is not an executable", file=sys.stderr)
        return 2
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
    (work / "logs").mkdir()
    supervisor = Supervisor(work / "logs")
    bench = Bench(args, binary, work, supervisor)
    try:
        if args.smoke:
            return smoke_run(bench)
        full_run(bench)
        versions = report.tool_versions(binary, LITELLM_VENV if args.litellm else None)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report.render(bench, versions, time.monotonic() - started))
        print(f"bench: wrote {args.output} ({time.monotonic() - started:.0f} s)")
        if bench.errors:
            print("bench: FAILED: targets answered with errors:\n  " + "\n  ".join(bench.errors), file=sys.stderr)
            return 1
        return 0
    except (Failure, StartError, RuntimeError, subprocess.SubprocessError) as error:
        print(f"bench: FAILED: {error}", file=sys.stderr)
        print(f"bench: logs in {work / 'logs'}", file=sys.stderr)
        args.keep = True
        return 1
    finally:
        supervisor.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
