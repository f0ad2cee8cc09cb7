"""The accounting phase: what budgets and rate limits cost, measured in the same run.

The one gatehouse process is asked the small pass-through request with two tokens in interleaved
rounds: the plain token, and a token that carries a budget and an RPM limit (`token mint --budget-usd
--rpm`) set so high that nothing is refused, so every request of the second token draws on both
allowances (local leases from the ledger, refilled as they run down) and settles its cost. Both run
closed loop (CPU per request from /proc) and at a fixed rate (added p50). The bench config prices the
simulated models, so every answer's cost is computed on both paths.
"""

from __future__ import annotations

import statistics
import subprocess
from dataclasses import replace

from targets import Target

CPU_BOUND = 1.10          # limited ÷ plain CPU per request
P50_BOUND_MS = 0.05       # limited − plain p50 at the fixed rate, ms
ROWS = (("gatehouse", "plain token"), ("gatehouse-limited", "token with --budget-usd and --rpm"))


def limited_target(binary: str, state: str, gateway: Target, models: list[str]) -> Target:
    """The gateway asked with a token that has a budget and an RPM limit no run reaches."""
    token = subprocess.run(
        [binary, "token", "mint", "--subject", "bench-limited", "--models", ",".join(models), "--ttl", "1d",
         "--budget-usd", "1000000", "--budget-period", "day", "--rpm", "1000000000", "--state", state],
        text=True, check=True, capture_output=True, timeout=60).stdout.strip()
    return replace(gateway, name="gatehouse-limited", authorization=f"Bearer {token}")


def ratios(bench, cell, target: str, key: str) -> list[float]:
    pairs = zip(bench.rounds(cell, "gatehouse"), bench.rounds(cell, target))
    return [limited[key] / plain[key] for plain, limited in pairs if plain.get(key) and limited.get(key)]


def differences(bench, cell, target: str, key: str) -> list[float]:
    pairs = zip(bench.rounds(cell, "gatehouse"), bench.rounds(cell, target))
    return [limited[key] - plain[key] for plain, limited in pairs
            if plain.get(key) is not None and limited.get(key) is not None]


def target_rows(bench) -> list[tuple[str, str, bool | None, str]]:
    closed = next((cell for cell, _ in bench.results if cell.kind == "accounting"), None)
    rate = next((cell for cell, _ in bench.results if cell.kind == "accounting-rate"), None)
    rows = []
    name = f"Budget and RPM limit on the token add ≤ {CPU_BOUND - 1:.0%} CPU per request (pass-through)"
    cpu = ratios(bench, closed, "gatehouse-limited", "cpu_per_1k") if closed else []
    if cpu:
        ratio = statistics.median(cpu)
        rows.append((name, f"{ratio - 1:+.1%} (rounds {', '.join(f'{r - 1:+.1%}' for r in cpu)})", ratio <= CPU_BOUND,
                     f"the rounds range from {min(cpu) - 1:+.1%} to {max(cpu) - 1:+.1%}"))
    else:
        rows.append((name, "not measured", None, ""))
    name = f"… and no added p50 beyond {P50_BOUND_MS} ms at {rate.load if rate else '?'} req/s"
    p50 = differences(bench, rate, "gatehouse-limited", "p50") if rate else []
    if p50:
        added = statistics.median(p50)
        rows.append((name, f"{added:+.3f} ms (rounds {', '.join(f'{d:+.3f}' for d in p50)})", added <= P50_BOUND_MS,
                     f"the rounds range from {min(p50):+.3f} to {max(p50):+.3f} ms"))
    else:
        rows.append((name, "not measured", None, ""))
    return rows


def table(bench, number, ms, errors) -> list[str]:
    lines = ["| token | load | req/s | p50 ms | p99 ms | CPU s/1k req | ÷ plain CPU (median of rounds) | errors |",
             "|---|---|--:|--:|--:|--:|--:|---|"]
    for kind, load in (("accounting", "closed loop"), ("accounting-rate", "fixed rate")):
        cell = next((cell for cell, _ in bench.results if cell.kind == kind), None)
        if cell is None:
            continue
        for target, label in ROWS:
            if (cell, target) not in bench.results:
                continue
            m = bench.median(cell, target)
            cpu = ratios(bench, cell, target, "cpu_per_1k") if target != "gatehouse" else []
            where = f"{load}, {cell.load} {'connections' if kind == 'accounting' else 'req/s'}"
            lines.append(f"| {label} | {where} | {number(m.get('rps'))} | {ms(m.get('p50'))} | {ms(m.get('p99'))} "
                         f"| {ms(m.get('cpu_per_1k'))} | {number(statistics.median(cpu), 3) if cpu else '—'} "
                         f"| {errors(m)} |")
    return lines
