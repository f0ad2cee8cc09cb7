"""The Markdown report: machine and tools, the targets (issue 5's, the router's) met or missed, and every figure."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import accounting
import guardrails
import llmguard
from targets import FAILING_FAULT, FAILING_MODEL, FAILING_RATE, FAILING_SEED, Cell

if TYPE_CHECKING:
    from bench import Bench

ROUTE_NAMES = {"pass": "pass-through (OpenAI→OpenAI)", "translated": "translated (OpenAI→Anthropic)"}

# The routing phase's targets (targets.routing_targets): the name, what is asked, and its deployments.
ROUTING_ROWS = (
    ("gatehouse", "plain", "one: the plain path"),
    ("gatehouse-routed", "routed", "two healthy, at two simulators, weighted 1:1"),
    ("gatehouse-routed-one-upstream", "routed, one upstream", "two healthy, both at the plain path's simulator"),
    ("gatehouse-routed-failing", "routed-failing",
     f"the plain path's and `bad`, failing {FAILING_RATE:.0%} with {FAILING_FAULT}"),
)
ROUTING_BOUND = 1.05   # routed ÷ plain CPU per request, healthy deployments


def cell_label(cell: Cell) -> str:
    if cell.kind == "closed":
        return f"closed loop, {cell.route}, {cell.prompt} prompt, {cell.load} connections"
    if cell.kind == "rate":
        return f"fixed rate {cell.load} req/s, {cell.route}"
    if cell.kind == "routing":
        return f"routing, {cell.route}, {cell.prompt} prompt, {cell.load} connections"
    if cell.kind == "guardrails":
        return f"guardrails, {cell.route}, {cell.prompt} prompt, {cell.load} connections"
    if cell.kind == "accounting":
        return f"accounting, {cell.route}, {cell.prompt} prompt, {cell.load} connections"
    if cell.kind == "accounting-rate":
        return f"accounting, fixed rate {cell.load} req/s, {cell.route}"
    return f"streaming, {cell.route}, {cell.load} concurrent"


def headline_figure(cell: Cell, median: dict) -> str:
    """A short console summary of one target's figures in a cell."""
    if cell.kind == "stream":
        ttfb = median.get("ttfb", {})
        return f"TTFB p50 {ttfb.get('p50', 0):.3f} ms"
    if cell.kind in ("rate", "accounting-rate"):
        return f"p50 {median.get('p50', 0):.3f} ms p99 {median.get('p99', 0):.3f} ms"
    if cell.kind in ("guardrails", "accounting"):
        return f"{median.get('rps', 0):.0f} req/s, CPU {median.get('cpu_per_1k') or 0:.3f} s/1k req"
    if cell.kind == "routing":
        return (f"{median.get('rps', 0):.0f} req/s, CPU {median.get('cpu_per_1k') or 0:.3f} s/1k req, "
                f"retried {median.get('retry_share') or 0:.1%}")
    return f"{median.get('rps', 0):.0f} req/s"


def _command_output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unavailable"
    return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else "?"


def _package_version(name: str) -> str:
    return _command_output(["dpkg-query", "-W", "-f=${Version}", name])


def tool_versions(binary: str, litellm_venv: Path | None) -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    # The commit of the work tree the binary was built in (it may not be this repository's, with --bin).
    tree = os.path.dirname(os.path.realpath(binary))
    commit = _command_output(["git", "-C", tree, "rev-parse", "--short", "HEAD"])
    if "fatal" in commit or commit in ("?", "unavailable"):
        commit = "unknown: the binary is outside a git work tree"
    dirty = _command_output(["git", "-C", tree, "status", "--porcelain", "--untracked-files=no", "--",
                             "Sources", "Package.swift"])
    versions = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "os": _command_output(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "gatehouse": f"{_command_output([binary, 'version'])} ({binary}; built from commit {commit}"
                     f"{', Sources modified' if dirty not in ('', '?') and 'fatal' not in dirty else ''})",
        "wrk": _command_output(["wrk", "-v"]).split(" [")[0],
        "nginx": _command_output(["nginx", "-v"]),
        "python": _command_output(["python3", "--version"]),
    }
    if litellm_venv is not None:
        versions["litellm"] = _command_output(
            [str(litellm_venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"])
    return versions


def _ms(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _errors(median: dict) -> str:
    """Errors summed over the runs (not a median): non-2xx answers, socket errors, dropped requests."""
    parts = [f"{median[key]} {label}" for key, label in (("non2xx", "non-2xx"), ("errors", "errors"),
                                                           ("dropped", "dropped")) if median.get(key)]
    if not median.get("requests"):
        parts.append("no request completed")
    return "**" + ", ".join(parts) + "**" if parts else "0"


FLOORS = ("direct", "direct-anthropic", "nginx-canned")


def _without_model(series: str) -> str:
    """A /metrics series without its `model` label: `name{model="m",a="b"}` → `name{a="b"}`."""
    name, _, labels = series.partition("{")
    kept = [label for label in labels.rstrip("}").split(",") if label and not label.startswith("model=")]
    return name + ("{" + ",".join(kept) + "}" if kept else "")


class Report:
    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        args = bench.args
        self.reference = 64 if 64 in args.connections else max(args.connections)
        self.max_streams = max(args.stream_concurrency)

    def get(self, kind: str, route: str, prompt: str, load: int, target: str) -> dict:
        if (Cell(kind, route, prompt, load), target) not in self.bench.results:
            return {}
        return self.bench.median(Cell(kind, route, prompt, load), target)

    def floor(self, kind: str, route: str, prompt: str, load: int) -> dict:
        """What a row is compared with: the upstream asked directly in the dialect the gateway uses
        upstream for the route (`direct-anthropic` for translated rows when measured, else `direct`)."""
        if route == "translated":
            anthropic = self.get(kind, route, prompt, load, "direct-anthropic")
            if anthropic:
                return anthropic
        return self.get(kind, "pass", prompt, load, "direct")

    # --- issue 5's targets ----------------------------------------------------------------

    def targets(self) -> list[tuple[str, str, bool | None, str]]:
        """Each issue-5 target: its name, the figure measured, whether it was met, and where it
        was missed, why (from this run's own figures where they tell it)."""
        args, rows = self.bench.args, []
        ref = self.reference
        gate_cpu = self.get("closed", "pass", "small", ref, "gatehouse").get("cpu_per_1k")
        proxy_cpu = self.get("closed", "pass", "small", ref, "nginx-proxy").get("cpu_per_1k")
        cpu_bound = (f"bound by CPU: gatehouse used {gate_cpu:.3f} ms of CPU per request at {ref} connections, the nginx "
                     f"proxy {proxy_cpu:.3f} ms ({gate_cpu / proxy_cpu:.1f}×), on cores it shares with the load generator "
                     "and the upstream" if gate_cpu and proxy_cpu else "")
        hop = ("every request crosses from the front to the keyholder and back over a Unix socket (the keyholder "
               "design's process hop): two more thread wake-ups than a one-process proxy, each costing tens of µs "
               "where an idle vCPU halts (stage timings from system-call tracepoints: bench/HISTORY.md)")
        shared = ("summed RSS counts the one binary and the Swift and Foundation libraries once for each of the three "
                  "processes; PSS counts shared pages once")

        ratios = {c: _ratio(self.get("closed", "pass", "small", c, "gatehouse").get("rps"),
                            self.get("closed", "pass", "small", c, "nginx-proxy").get("rps"))
                  for c in args.connections}
        known = [r for r in ratios.values() if r is not None]
        rows.append(("Pass-through throughput ≥ 50% of nginx proxy",
                     ", ".join(f"{c} conn: {r:.0%}" for c, r in ratios.items() if r is not None) or "not measured",
                     all(r >= 0.5 for r in known) if known else None, cpu_bound))

        gate, direct = (self.get("rate", "pass", "small", args.rate, name) for name in ("gatehouse", "direct"))
        if gate and direct:
            added50, added99 = gate["p50"] - direct["p50"], gate["p99"] - direct["p99"]
            overload = (f" (rate not sustained: {gate.get('achieved_rate', 0):,.0f} req/s answered, "
                        f"{gate['dropped']} requests dropped over the runs)" if gate.get("dropped") else "")
            rows.append((f"Added latency at {args.rate} req/s: p50 ≤ 0.2 ms", f"{added50:+.3f} ms{overload}",
                         added50 <= 0.2 and not overload, hop))
            rows.append((f"Added latency at {args.rate} req/s: p99 ≤ 1 ms", f"{added99:+.3f} ms{overload}",
                         added99 <= 1.0 and not overload,
                         "the process hop of the p50 row; in the tail, four threads of the gateway wait their turn "
                         "on two cores shared with the load generator and the upstream"))
        else:
            rows.append((f"Added latency at {args.rate} req/s", "not measured", None, ""))

        cpu = _ratio(self.get("closed", "translated", "small", self.reference, "gatehouse").get("cpu_per_1k"),
                     self.get("closed", "pass", "small", self.reference, "gatehouse").get("cpu_per_1k"))
        rows.append(("Translated CPU/request ≤ 1.5× pass-through",
                     f"{cpu:.2f}× ({self.reference} conn)" if cpu else "not measured",
                     cpu <= 1.5 if cpu else None, ""))

        gate = self.get("stream", "pass", "small", 1, "gatehouse").get("ttfb", {})
        direct = self.get("stream", "pass", "small", 1, "direct").get("ttfb", {})
        if gate and direct:
            added = gate["p50"] - direct["p50"]
            rows.append(("Streaming TTFB adds ≤ 0.5 ms at p50", f"{added:+.3f} ms (1 stream)", added <= 0.5,
                         "the process hop of the added-latency rows, crossed by the response head and then by the "
                         "first event: the head is relayed as soon as it arrives, not held for the event"))
        else:
            rows.append(("Streaming TTFB adds ≤ 0.5 ms at p50", "not measured", None, ""))

        idle = self.bench.startup.get("gatehouse", {})
        if idle:
            rows.append(("RSS ≤ 40 MB idle", f"{idle['rss_mb']:.1f} MB RSS summed over {idle['processes']:.0f} "
                         f"processes (PSS {idle['pss_mb']:.1f} MB)", idle["rss_mb"] <= 40,
                         shared + (": met on PSS" if idle["pss_mb"] <= 40 else "")))
            rows.append(("Cold start to first served request ≤ 200 ms", f"{idle['cold_start_ms']:.0f} ms",
                         idle["cold_start_ms"] <= 200, ""))
        cells = [self.get("stream", route, "small", self.max_streams, "gatehouse") for route in ("pass", "translated")]
        peaks = [c["peak_rss_mb"] for c in cells if c.get("peak_rss_mb") is not None]
        pss = [c["peak_pss_mb"] for c in cells if c.get("peak_pss_mb") is not None]
        text = f"{max(peaks):.1f} MB peak RSS summed" if peaks else "not measured"
        if peaks and pss:
            text += f" (peak PSS {max(pss):.1f} MB)"
        rows.append((f"RSS ≤ 100 MB at {self.max_streams} concurrent streams", text, max(peaks) <= 100 if peaks else None,
                     shared + (": met on PSS" if pss and max(pss) <= 100 else "")))
        if self.bench.soak:
            growth, text = self.soak_growth()
            rows.append(("No RSS growth over the soak (end ≤ 60 s value + 5%)", text, growth <= 0.05, ""))

        rows.append(self.routing_target())
        rows += self.guardrail_targets()
        rows += self.accounting_targets()

        if "litellm" in self.bench.startup:
            throughput = _ratio(self.get("closed", "pass", "small", self.reference, "gatehouse").get("rps"),
                                self.get("closed", "pass", "small", self.reference, "litellm").get("rps"))
            latency = _ratio(self.get("closed", "pass", "small", 1, "litellm").get("p50"),
                             self.get("closed", "pass", "small", 1, "gatehouse").get("p50"))
            peer = self.get("closed", "pass", "small", ref, "litellm").get("rps")
            proxy = self.get("closed", "pass", "small", ref, "nginx-proxy").get("rps")
            why = (f"100× LiteLLM's {peer:,.0f} req/s is {100 * peer:,.0f} req/s, {100 * peer / proxy:.2f}× what the nginx "
                   f"proxy reached here; gatehouse is {cpu_bound}" if peer and proxy and cpu_bound else "")
            rows.append((f"≥ 100× LiteLLM's throughput ({self.reference} conn)",
                         f"{throughput:.0f}×" if throughput else "not measured",
                         throughput >= 100 if throughput else None, why))
            peer50 = self.get("closed", "pass", "small", 1, "litellm").get("p50")
            floor50 = self.get("closed", "pass", "small", 1, "direct").get("p50")
            why = (f"1/20 of LiteLLM's {peer50:.2f} ms is {peer50 / 20:.3f} ms, of which the upstream itself takes "
                   f"{floor50:.3f} ms; the rest is the added latency above" if peer50 and floor50 else "")
            rows.append(("≤ 1/20 of LiteLLM's p50 latency (1 conn)",
                         f"1/{latency:.0f}" if latency else "not measured", latency >= 20 if latency else None, why))
        return rows

    # --- routing ----------------------------------------------------------------------------

    def routing_cell(self) -> Cell | None:
        return next((cell for cell, _ in self.bench.results if cell.kind == "routing"), None)

    def routing_median(self, target: str) -> dict:
        cell = self.routing_cell()
        return self.bench.median(cell, target) if cell and (cell, target) in self.bench.results else {}

    def routing_ratios(self, target: str) -> list[float]:
        """`target` ÷ plain CPU per request, round by round: each round measured both, one after the other."""
        cell = self.routing_cell()
        if cell is None:
            return []
        pairs = zip(self.bench.rounds(cell, "gatehouse"), self.bench.rounds(cell, target))
        return [routed["cpu_per_1k"] / plain["cpu_per_1k"] for plain, routed in pairs
                if plain.get("cpu_per_1k") and routed.get("cpu_per_1k")]

    def routing_ratio(self, target: str) -> float | None:
        ratios = self.routing_ratios(target)
        return statistics.median(ratios) if ratios else None

    def answered_by(self, target: str) -> dict[str, int]:
        """Answers by deployment (`x-gatehouse-deployment`), summed over the runs."""
        cell, totals = self.routing_cell(), {}
        for run in self.bench.rounds(cell, target) if cell else []:
            for name, count in run.get("deployments", {}).items():
                totals[name] = totals.get(name, 0) + count
        return totals

    def routing_target(self) -> tuple[str, str, bool | None, str]:
        name = f"Routing with healthy deployments adds ≤ {ROUTING_BOUND - 1:.0%} CPU per request"
        ratios = self.routing_ratios("gatehouse-routed")
        if not ratios:
            return name, "not measured", None, ""
        ratio = statistics.median(ratios)
        plain, routed = self.routing_median("gatehouse"), self.routing_median("gatehouse-routed")
        cell = self.routing_cell()
        figure = (f"{ratio - 1:+.1%} ({routed['cpu_per_1k']:.3f} vs {plain['cpu_per_1k']:.3f} ms of CPU per request, "
                  f"{cell.load if cell else '?'} conn; rounds {', '.join(f'{r - 1:+.1%}' for r in ratios)})")
        control = self.routing_ratio("gatehouse-routed-one-upstream")
        if control is not None:
            figure += f"; with both deployments at the plain path's one simulator {control - 1:+.1%}"
        why = []
        if min(ratios) <= ROUTING_BOUND:
            why.append(f"the rounds straddle the bound ({min(ratios) - 1:+.1%} to {max(ratios) - 1:+.1%}): within this "
                       "run's round-to-round spread, more rounds (`--runs`) would tell")
        if control is not None and control <= ROUTING_BOUND:
            why.append(f"with both deployments at the plain path's simulator routing adds {control - 1:+.1%}: the rest "
                       "goes with spreading the upstream over two simulators (two connection pools, two upstream "
                       "processes on the same cores), not with choosing a deployment")
        return name, figure, ratio <= ROUTING_BOUND, "; ".join(why)

    def routing_table(self) -> list[str]:
        lines = ["| model | deployments | req/s | p50 ms | p99 ms | CPU s/1k req | ÷ plain CPU (median of rounds) "
                 "| retried | attempts/request | answered by | errors |",
                 "|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|"]
        for target, label, deployments in ROUTING_ROWS:
            m = self.routing_median(target)
            if not m:
                continue
            answered = self.answered_by(target)
            total = sum(answered.values())
            by = ", ".join(f"{name.split('/', 1)[-1]} {count / total:.1%}" for name, count in sorted(answered.items()))
            ratio = self.routing_ratio(target) if target != "gatehouse" else None
            share = m.get("retry_share")
            lines.append(
                f"| {label} | {deployments} | {_number(m.get('rps'))} | {_ms(m.get('p50'))} | {_ms(m.get('p99'))} "
                f"| {_ms(m.get('cpu_per_1k'))} | {_number(ratio, 3) if ratio else '—'} "
                f"| {'—' if share is None else f'{share:.1%}'} | {_number(m.get('attempts_per_request'), 3)} "
                f"| {by or '—'} | {_errors(m)} |")
        return lines

    def routing_rounds(self) -> list[str]:
        cell = self.routing_cell()
        present = [row for row in ROUTING_ROWS if cell and (cell, row[0]) in self.bench.results]
        if not present:
            return []
        lines = ["| round | " + " | ".join(f"{label} CPU s/1k req" + (" | ÷ plain" if target != "gatehouse" else "")
                                          for target, label, _ in present) + " |",
                 "|--:|" + "|".join("--:" if target == "gatehouse" else "--:|--:" for target, _, _ in present) + "|"]
        plain = self.bench.rounds(cell, "gatehouse")
        for index in range(len(plain)):
            cells = []
            for target, _, _ in present:
                run = self.bench.rounds(cell, target)[index]
                cells.append(_ms(run.get("cpu_per_1k")))
                if target != "gatehouse":
                    cells.append(_number(_ratio(run.get("cpu_per_1k"), plain[index].get("cpu_per_1k")), 3))
            lines.append(f"| {index + 1} | " + " | ".join(cells) + " |")
        return lines

    def failing_note(self) -> str:
        """What the failing deployment did, from the answers' headers and the router's counters."""
        m = self.routing_median("gatehouse-routed-failing")
        answered = self.answered_by("gatehouse-routed-failing")
        total = sum(answered.values())
        if not m or not total:
            return ""
        cell = self.routing_cell()
        retried = sum(run.get("retried", 0) for run in self.bench.rounds(cell, "gatehouse-routed-failing"))
        bad = sum(count for name, count in answered.items() if name.endswith("/bad"))
        # `one` never fails, so a request that needed a retry was first sent to `bad`.
        first_at_bad = (bad + retried) / total
        text = (f"With a failing deployment: `bad` is `gatehouse simulate --fault {FAILING_FAULT} --fault-rate "
                f"{FAILING_RATE:g} --seed {FAILING_SEED}`. Over the measured runs it was asked first for "
                f"{first_at_bad:.1%} of requests (50% if it were never taken out, weighted 1:1) and answered "
                f"{bad / total:.1%} ({0.5 * (1 - FAILING_RATE):.0%} if never taken out); {retried / total:.1%} of "
                f"requests needed a retry ({0.5 * FAILING_RATE:.0%} if never taken out). The router's default "
                "cooldown (3 retriable failures in 60 s take a deployment out for 30 s, then one probe) is left as "
                "it is, and these figures are what it did")
        counters = [(_without_model(series), value) for series, value in sorted(self.bench.route_counters.items())
                    if f'model="{FAILING_MODEL}"' in series]
        if counters:
            text += (". Its counters on /metrics over the whole phase, warm-ups included: "
                     + ", ".join(f"`{series}` {value:,.0f}" for series, value in counters))
        return text + "."

    # --- guardrails -------------------------------------------------------------------------

    def guard_cell(self, prompt: str) -> Cell | None:
        return next((cell for cell, _ in self.bench.results if cell.kind == "guardrails" and cell.prompt == prompt),
                    None)

    def guard_ratios(self, prompt: str, target: str) -> list[float]:
        """`target` ÷ plain CPU per request, round by round, in the guardrails phase's cell for `prompt`."""
        cell = self.guard_cell(prompt)
        if cell is None:
            return []
        pairs = zip(self.bench.rounds(cell, "gatehouse"), self.bench.rounds(cell, target))
        return [guarded["cpu_per_1k"] / plain["cpu_per_1k"] for plain, guarded in pairs
                if plain.get("cpu_per_1k") and guarded.get("cpu_per_1k")]

    def guardrail_targets(self) -> list[tuple[str, str, bool | None, str]]:
        rows = []
        name = f"Default guardrail policy adds ≤ {guardrails.GATEWAY_BOUND - 1:.0%} CPU per request (pass-through)"
        ratios = self.guard_ratios("small", "gatehouse-guarded")
        if ratios:
            ratio = statistics.median(ratios)
            big = self.guard_ratios("10KB", "gatehouse-guarded")
            figure = (f"{ratio - 1:+.1%} (small prompt; rounds {', '.join(f'{r - 1:+.1%}' for r in ratios)})"
                      + (f"; 10 KB prompt {statistics.median(big) - 1:+.1%}" if big else ""))
            why = (f"the rounds straddle the bound ({min(ratios) - 1:+.1%} to {max(ratios) - 1:+.1%})"
                   if min(ratios) <= guardrails.GATEWAY_BOUND else "")
            rows.append((name, figure, ratio <= guardrails.GATEWAY_BOUND, why))
        else:
            rows.append((name, "not measured", None, ""))
        scan = self.bench.startup.get("guard_scan")
        name = f"Whole input policy on a 10 KB prompt ≤ {guardrails.SCAN_BOUND_US:.0f} µs of CPU (median)"
        if scan:
            scanners = sorted(scan.get("scanners", {}).items(), key=lambda item: -item[1])
            why = ("each scanner alone: " + ", ".join(f"{name} {value:.1f} µs" for name, value in scanners)
                   if scanners else "")
            rows.append((name, f"{scan['full']:.1f} µs (examples/guardrails-policy.yaml; the default policy "
                               f"{scan['default']:.1f} µs)", scan["full"] <= guardrails.SCAN_BOUND_US,
                         why if scan["full"] > guardrails.SCAN_BOUND_US else ""))
        else:
            rows.append((name, "not measured", None, ""))
        if self.bench.args.llm_guard:
            rows += llmguard.target_rows(self.bench.startup.get("llm_guard"))
        return rows

    def accounting_targets(self) -> list[tuple[str, str, bool | None, str]]:
        if "accounting" not in self.bench.args.phases:
            return []
        return accounting.target_rows(self.bench)

    def guard_table(self) -> list[str]:
        lines = ["| model | policy | prompt | req/s | p50 ms | p99 ms | CPU s/1k req | ÷ plain CPU (median of rounds) "
                 "| errors |", "|---|---|---|--:|--:|--:|--:|--:|---|"]
        for prompt in ("small", "10KB"):
            cell = self.guard_cell(prompt)
            for target, label, policy in guardrails.ROWS:
                if cell is None or (cell, target) not in self.bench.results:
                    continue
                m = self.bench.median(cell, target)
                ratios = self.guard_ratios(prompt, target) if target != "gatehouse" else []
                lines.append(f"| {label} | {policy} | {prompt} | {_number(m.get('rps'))} | {_ms(m.get('p50'))} "
                             f"| {_ms(m.get('p99'))} | {_ms(m.get('cpu_per_1k'))} "
                             f"| {_number(statistics.median(ratios), 3) if ratios else '—'} | {_errors(m)} |")
        return lines

    def guard_scan_text(self) -> list[str]:
        scan = self.bench.startup.get("guard_scan")
        if not scan:
            return []
        rounds = scan["rounds"]
        return [f"Offline, `gatehouse guard scan --jsonl --timing` over {scan['items']:,} prompts of "
                f"{scan['item_bytes']:,} bytes (prose, code, log lines, a few addresses and phone numbers, a "
                "Luhn-invalid card-like number, no secret): the thread CPU time of the policy's input rules on each "
                "prompt, as the gateway's input stage applies them (the best of three runs of each prompt; reading, "
                "parsing and printing are not timed).", "",
                "| input policy | µs of CPU per 10 KB prompt, median | p90 | medians of the rounds |",
                "|---|--:|--:|---|",
                *(f"| {label} | {scan[key]:.1f} | {scan[key + '_p90']:.1f} | "
                  + ", ".join(format(r["median"], ".1f") for r in rounds[key]) + " |"
                  for key, label in (("default", "the built-in `default`"),
                                     ("full", "examples/guardrails-policy.yaml"))),
                *(f"| {name} alone, as in the example policy | {value:.1f} | | "
                  + ", ".join(format(r["median"], ".1f") for r in rounds[name]) + " |"
                  for name, value in scan.get("scanners", {}).items())]

    def soak_growth(self) -> tuple[float, str]:
        samples = self.bench.soak
        baseline = next((s for s in samples if s["t"] >= 60), samples[0])
        end = samples[-1]
        growth = end["rss_mb"] / baseline["rss_mb"] - 1
        return growth, (f"{baseline['rss_mb']:.1f} MB at {baseline['t']:.0f} s → {end['rss_mb']:.1f} MB at "
                        f"{end['t']:.0f} s ({growth:+.1%})")

    # --- tables ---------------------------------------------------------------------------

    def closed_table(self) -> list[str]:
        lines = ["| route | prompt | conn | target | req/s | ÷ direct | ÷ nginx-proxy | p50 ms | p90 ms | p99 ms "
                 "| +p50 vs direct | +p99 vs direct | CPU s/1k req | peak RSS MB | errors |",
                 "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
        for (cell, target) in self.bench.results:
            if cell.kind != "closed":
                continue
            m = self.bench.median(cell, target)
            direct = self.floor("closed", cell.route, cell.prompt, cell.load)
            nginx = self.get("closed", "pass", cell.prompt, cell.load, "nginx-proxy")
            is_direct = target in FLOORS  # nothing added to compare
            lines.append(
                f"| {cell.route} | {cell.prompt} | {cell.load} | {target} | {_number(m.get('rps'))} "
                f"| {_number(_ratio(m.get('rps'), direct.get('rps')), 2)} "
                f"| {_number(_ratio(m.get('rps'), nginx.get('rps')), 2)} "
                f"| {_ms(m.get('p50'))} | {_ms(m.get('p90'))} | {_ms(m.get('p99'))} "
                f"| {'—' if is_direct or not direct else _ms(m['p50'] - direct['p50'], True)} "
                f"| {'—' if is_direct or not direct else _ms(m['p99'] - direct['p99'], True)} "
                f"| {_ms(m.get('cpu_per_1k'))} | {_number(m.get('peak_rss_mb'), 1)} | {_errors(m)} |")
        return lines

    def rate_table(self) -> list[str]:
        lines = ["| route | target | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | +p50 vs direct "
                 "| +p99 vs direct | CPU s/1k req | peak RSS MB | errors |",
                 "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
        for (cell, target) in self.bench.results:
            if cell.kind != "rate":
                continue
            m = self.bench.median(cell, target)
            direct = self.floor("rate", cell.route, "small", cell.load)
            is_direct = target in FLOORS
            lines.append(
                f"| {cell.route} | {target} | {_number(m.get('achieved_rate'))} | {_ms(m.get('p50'))} "
                f"| {_ms(m.get('p90'))} | {_ms(m.get('p99'))} | {_ms(m.get('p999'))} "
                f"| {'—' if is_direct else _ms(m['p50'] - direct['p50'], True)} "
                f"| {'—' if is_direct else _ms(m['p99'] - direct['p99'], True)} "
                f"| {_ms(m.get('cpu_per_1k'))} | {_number(m.get('peak_rss_mb'), 1)} | {_errors(m)} |")
        return lines

    def stream_table(self) -> list[str]:
        lines = ["| route | streams | target | streams/s | TTFB p50 ms | TTFB p99 ms | +TTFB p50 vs direct "
                 "| full stream p50 ms | full stream p99 ms | CPU s/1k streams | peak RSS MB | errors |",
                 "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
        for (cell, target) in self.bench.results:
            if cell.kind != "stream":
                continue
            m = self.bench.median(cell, target)
            ttfb, total = m.get("ttfb", {}), m.get("total", {})
            direct = self.floor("stream", cell.route, "small", cell.load).get("ttfb", {})
            added = ttfb["p50"] - direct["p50"] if target not in FLOORS and ttfb and direct else None
            lines.append(
                f"| {cell.route} | {cell.load} | {target} | {_number(m.get('rate'))} | {_ms(ttfb.get('p50'))} "
                f"| {_ms(ttfb.get('p99'))} | {_ms(added, True)} | {_ms(total.get('p50'))} | {_ms(total.get('p99'))} "
                f"| {_ms(m.get('cpu_per_1k'))} | {_number(m.get('peak_rss_mb'), 1)} | {_errors(m)} |")
        return lines

    def startup_table(self) -> list[str]:
        lines = ["| target | cold start ms (exec → first 200) | idle RSS MB | idle PSS MB | processes |",
                 "|---|--:|--:|--:|--:|"]
        for name, figures in self.bench.startup.items():
            if name in ("soak", "guard_scan", "llm_guard"):
                continue
            lines.append(f"| {name} | {_number(figures.get('cold_start_ms'))} | {_number(figures.get('rss_mb'), 1)} "
                         f"| {_number(figures.get('pss_mb'), 1)} | {_number(figures.get('processes'))} |")
        return lines

    def ratios(self) -> list[str]:
        ref = self.reference
        gate = self.get("closed", "pass", "small", ref, "gatehouse")
        out = []

        def line(label: str, value: float | None, unit: str = "×") -> None:
            if value is not None:
                out.append(f"- {label}: **{value:.2f}{unit}**" if unit == "×" else f"- {label}: **{value:+.3f}{unit}**")

        line(f"gatehouse ÷ nginx proxy throughput ({ref} conn, pass-through)",
             _ratio(gate.get("rps"), self.get("closed", "pass", "small", ref, "nginx-proxy").get("rps")))
        line(f"gatehouse ÷ direct throughput ({ref} conn, pass-through)",
             _ratio(gate.get("rps"), self.get("closed", "pass", "small", ref, "direct").get("rps")))
        line(f"gatehouse ÷ nginx answering a canned reply ({ref} conn)",
             _ratio(gate.get("rps"), self.get("closed", "pass", "small", ref, "nginx-canned").get("rps")))
        rate = self.bench.args.rate
        for route in ("pass", "translated"):
            g, d = self.get("rate", route, "small", rate, "gatehouse"), self.floor("rate", route, "small", rate)
            if g and d:
                out.append(f"- added latency at {rate} req/s, {route}: p50 **{g['p50'] - d['p50']:+.3f} ms**, "
                           f"p99 **{g['p99'] - d['p99']:+.3f} ms**")
        n = self.get("rate", "pass", "small", rate, "nginx-proxy")
        d = self.get("rate", "pass", "small", rate, "direct")
        if n and d:
            out.append(f"- nginx proxy's added latency at {rate} req/s: p50 {n['p50'] - d['p50']:+.3f} ms, "
                       f"p99 {n['p99'] - d['p99']:+.3f} ms")
        line("translated ÷ pass-through CPU per request",
             _ratio(self.get("closed", "translated", "small", ref, "gatehouse").get("cpu_per_1k"),
                    gate.get("cpu_per_1k")))
        line("gatehouse ÷ nginx proxy CPU per request",
             _ratio(gate.get("cpu_per_1k"), self.get("closed", "pass", "small", ref, "nginx-proxy").get("cpu_per_1k")))
        for route in ("pass", "translated"):
            g = self.get("stream", route, "small", 1, "gatehouse").get("ttfb", {})
            d = self.floor("stream", route, "small", 1).get("ttfb", {})
            if g and d:
                out.append(f"- streaming TTFB added at p50, {route}: **{g['p50'] - d['p50']:+.3f} ms**")
        cell = self.routing_cell()
        for target, label, _ in ROUTING_ROWS[1:]:
            ratio = self.routing_ratio(target)
            if ratio is not None and cell is not None:
                share = self.routing_median(target).get("retry_share")
                out.append(f"- {label} ÷ plain CPU per request ({cell.load} conn, median of the rounds): "
                           f"**{ratio:.3f}×**" + (f", {share:.1%} of requests retried" if share else ""))
        if "litellm" in self.bench.startup:
            line(f"gatehouse ÷ LiteLLM throughput ({ref} conn)",
                 _ratio(gate.get("rps"), self.get("closed", "pass", "small", ref, "litellm").get("rps")))
            line("LiteLLM p50 ÷ gatehouse p50 (1 conn)",
                 _ratio(self.get("closed", "pass", "small", 1, "litellm").get("p50"),
                        self.get("closed", "pass", "small", 1, "gatehouse").get("p50")))
            line("LiteLLM ÷ gatehouse CPU per request",
                 _ratio(self.get("closed", "pass", "small", ref, "litellm").get("cpu_per_1k"), gate.get("cpu_per_1k")))
        return out


def render(bench: Bench, versions: dict[str, str], elapsed: float) -> str:
    args, r = bench.args, Report(bench)
    out = ["# Gatehouse benchmark", "",
           f"Produced by `bench/run{' --litellm' if 'litellm' in bench.startup else ''}"
           f"{' --llm-guard' if args.llm_guard else ''} --runs {args.runs} "
           f"--duration {args.duration:g}s{f' --soak {args.soak}' if args.soak else ''}"
           f"{f' --only {args.only}' if args.only else ''}` "
           f"in {elapsed / 60:.0f} min. Every figure is the median of {args.runs} runs of {args.duration:g} s "
           f"(after {args.warmup:g} s of unmeasured warm-up). Everything runs on this one machine, on loopback: "
           "the load generator, the gateway and the upstream share the cores, so ratios measured in the same "
           "run matter more than absolute figures.", "",
           "| | |", "|---|---|"]
    out += [f"| {name} | {value} |" for name, value in versions.items()]
    out += ["", "## Targets (issue 5's, the router's, the guardrails')", "", "| target | measured | met? | why, where missed |",
            "|---|---|---|---|"]
    for name, figure, met, why in r.targets():
        verdict = "met" if met else "not measured" if met is None else "**missed**"
        out.append(f"| {name} | {figure} | {verdict} | {why if met is False else ''} |")
    out += ["", "## Headline ratios", "", *r.ratios()]
    sections = [
        ("Closed loop (wrk): throughput and latency",
         "Non-streaming chat completions, `wrk -t min(conn, cores) -c conn`. Added latency and ÷ direct compare "
         "each row with the upstream asked directly in the dialect the gateway speaks to it: pass-through rows "
         "with `direct`, translated rows with `direct-anthropic` (the simulator's Messages endpoint, asked the "
         "same request in the Messages format); ÷ nginx-proxy is always against the pass-through proxy. "
         "CPU is the gateway's own (user + system, every process of it), not the upstream's.", r.closed_table()),
        (f"Fixed rate: latency at {args.rate} req/s",
         "Open loop (`bench/loadgen.py rate`): requests leave on a fixed schedule whether or not earlier ones "
         "were answered, over a pool of keep-alive connections; latency from writing a request to reading its "
         "last byte.", r.rate_table()),
        ("Streaming",
         f"`stream: true`; the simulator sends {args.stream_chunks} content events per reply with no delay. "
         "Closed loop (`bench/loadgen.py stream`), one stream at a time per connection. TTFB = first byte of "
         "the body (the first event) after the request was written.", r.stream_table()),
    ]
    for title, text, table in sections:
        if len(table) > 2:  # more than the header: the phase ran
            out += ["", f"## {title}", "", text, "", *table]
    routing_table = r.routing_table()
    if len(routing_table) > 2:
        connections = cell.load if (cell := r.routing_cell()) else "?"
        out += ["", "## Routing: what the router costs", "",
                f"One gatehouse process serves every model below. `wrk -t min(conn, cores) -c {connections}` "
                "asks each in turn the small pass-through request, the bodies differing only in `\"model\"`, "
                "round after round (round k starts with the k-th model, so none always runs first); CPU per "
                "request is utime + stime of all gatehouse's processes from /proc over each run. ÷ plain CPU is "
                "the median over the rounds of each round's routed ÷ plain. Every deployment asks its simulator "
                "for the plain model, so each upstream answers the same bytes. The plain path is the one-provider "
                "form, which the router also handles (a model of one deployment); the routed rows add a second "
                "deployment and a choice between them. Retried and attempts/request come from every answer's "
                "`x-gatehouse-attempts`, answered by from `x-gatehouse-deployment`: wrk's `response()` sees every "
                "answer of every model in this phase, which costs the load generator CPU alike for each of them, "
                "so these rows are comparable with one another but not with the closed-loop table's.", "",
                *routing_table, "", "CPU per request, round by round:", "", *r.routing_rounds()]
        note = r.failing_note()
        if note:
            out += ["", note]
    guard_table = r.guard_table()
    if len(guard_table) > 2 or bench.startup.get("guard_scan"):
        out += ["", "## Guardrails: what the scanners cost", "",
                "The same gatehouse process serves the plain model and the same model with a guardrail policy "
                "(input and output scanners on every request and answer); the bodies differ only in `\"model\"`, "
                "asked in interleaved rounds as in the routing phase; CPU per request from /proc.", "",
                *guard_table, "", *r.guard_scan_text()]
        if bench.startup.get("llm_guard"):
            out += ["", "### Against llm-guard", "", *llmguard.report(bench.startup["llm_guard"])]
    accounting_table = accounting.table(bench, _number, _ms, _errors)
    if len(accounting_table) > 2:
        out += ["", "## Accounting: what a budget and a rate limit cost", "",
                "The same gatehouse process is asked the small pass-through request with the plain token and with "
                "a token carrying `--budget-usd` and `--rpm` (so high that nothing is refused: every request draws "
                "on both local allowances and settles its cost), in interleaved rounds; closed loop for CPU per "
                "request, then the fixed rate for latency. Both paths price every answer (the bench config prices "
                "the simulated models).", "", *accounting_table]
    out += ["", "## Start and memory", "",
            "Cold start: from exec of the server to its first 200 to a real chat request (polled every 1 ms; "
            "gatehouse: supervisor, keyholder and front all up). Memory summed over every process of the target "
            "(gatehouse: supervisor + keyholder + front), 2 s after that first request; PSS divides shared pages "
            "among the processes that share them.", "", *r.startup_table()]
    if bench.soak:
        growth, text = r.soak_growth()
        out += ["", f"## Soak: {args.soak} s at {args.soak_rate} req/s (pass-through)", "", f"RSS {text}.", "",
                "| t (s) | RSS MB | PSS MB |", "|--:|--:|--:|"]
        out += [f"| {s['t']:.0f} | {s['rss_mb']:.1f} | {s['pss_mb']:.1f} |" for s in bench.soak]
        soak_result = bench.startup.get("soak", {})
        if soak_result:
            out += ["", f"Soak latency: p50 {_ms(soak_result.get('p50'))} ms, p99 {_ms(soak_result.get('p99'))} ms, "
                        f"{soak_result.get('requests', 0)} requests, errors: {_errors(soak_result)}."]
    if bench.errors:
        out += ["", "## Errors", "", *[f"- {error}" for error in bench.errors]]
    out += ["", "## Method", "",
            "- Upstream: `gatehouse simulate --latency-ms 0 --reply-words N` for every target, so direct, nginx "
            "proxy, gatehouse and LiteLLM share one upstream; `nginx-canned` is nginx returning a copy of the "
            "simulator's reply, the absolute floor. `direct-anthropic` is the same simulator's `/v1/messages`, "
            "asked the translated request in the Messages format (system prompt, turns, model, max_tokens): the "
            "floor of the translated rows (the simulator's two endpoints do not cost the same, so translated rows compared "
            "with the OpenAI endpoint would misstate what the gateway adds).",
            "- nginx proxy: `proxy_pass` to an `upstream` block with `keepalive 64`, `proxy_http_version 1.1`, "
            "`proxy_set_header Connection \"\"`, `proxy_buffering off`, `worker_processes auto`, access log off.",
            "- gatehouse: `gatehouse serve --config … --state …` as deployed: supervisor, keyholder and sandboxed "
            "front, token verification on (Ed25519 token in `Authorization`), audit and metrics on, default log "
            "level; providers of kind `openai` (pass-through) and `anthropic` (translated) with sealed keys.",
            "- LiteLLM (with `--litellm`): `litellm --num_workers 1`, `LITELLM_LOCAL_MODEL_COST_MAP=True`, a master "
            "key, `openai/` and `anthropic/` models at the simulator.",
            "- Prompts: `small` is a system and a user message; `10KB`/`100KB` add an earlier user turn of that "
            "size (the reply, which echoes the last user message, keeps its size).",
            "- `hey` is not used: it reports latencies in steps of 0.1 ms, too coarse for a 0.2 ms target; "
            "`bench/loadgen.py` is the open-loop client.",
            "- Routing: the same gatehouse process also serves groups of two deployments (`strategy: weighted`, "
            "the router's default retries and cooldown): two healthy simulators; two deployments at the plain "
            "path's one simulator (a control: the same upstream as the plain path); the plain path's simulator and "
            f"one answering {FAILING_FAULT} to {FAILING_RATE:.0%} of requests. Each is compared with the plain "
            "path's model, round by round, in the same run.",
            "- CPU: utime + stime from `/proc/PID/stat` of the target's processes (found through their parent "
            "ids) before and after each run, divided by the requests completed. Peak RSS: VmRSS summed over those "
            "processes, sampled every 100 ms; peak PSS (shared pages divided among the processes that map "
            "them) every 500 ms."]
    return "\n".join(out) + "\n"
