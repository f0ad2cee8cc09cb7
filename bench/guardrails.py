"""The guardrails phase: what the scanners cost, measured two ways in the same run.

Through the gateway: the one gatehouse process is asked for the plain model, for the same model with
the built-in `default` policy, and with the whole example policy (examples/guardrails-policy.yaml,
input and output), the bodies differing only in `"model"`, in interleaved rounds, with the small and
the 10 KB prompt; CPU per request from /proc as for every cell.

Offline: `gatehouse guard scan --jsonl --timing` reads a corpus of 10 KB prompts (prose, code, log
lines, a few addresses and numbers, no secret) and prints the thread CPU time that the policy's input
rules took on each line, as the gateway's input stage applies them (the best of three runs of each
line, so a preemption does not count; reading, parsing and printing the lines are outside the timed
part); the median over the lines is the figure, and the run is repeated once per round.
"""

from __future__ import annotations

import random
import re
import statistics
import subprocess
from dataclasses import replace
from pathlib import Path

from targets import PASS_MODEL, Target

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = REPO / "examples" / "guardrails-policy.yaml"
GUARDED_MODEL = "sim-guarded"            # the plain model with the built-in default policy
FULL_MODEL = "sim-guarded-full"          # the plain model with the example policy, input and output
SCANNERS = {"secrets": "block", "pii": "redact", "invisible_text": "redact",
            "prompt_injection": "{action: block, threshold: 0.8}",
            "banned_substrings": '{action: block, values: ["Project Falcon"]}',
            "regex": "[{name: ticket, pattern: 'TCK-[0-9]{6}', action: redact}]"}
SCAN_BOUND_US = 50.0                     # the whole input policy on a 10 KB prompt, CPU per prompt
GATEWAY_BOUND = 1.15                     # default policy ÷ none, CPU per request, pass-through
CORPUS_ITEMS = 1000
ITEM_BYTES = 10 * 1024

# (target name, what is asked, its policy)
ROWS = (
    ("gatehouse", "plain", "none"),
    ("gatehouse-guarded", "guarded", "the built-in `default`"),
    ("gatehouse-guarded-full", "guarded, full policy", "examples/guardrails-policy.yaml"),
)


def policy_block(indent: str) -> str:
    """The example policy's mapping, without its comments, indented to sit under `policies.full`."""
    lines = []
    for line in EXAMPLE_POLICY.read_text().splitlines():
        code = line.split(" #", 1)[0].rstrip() if not line.lstrip().startswith("#") else ""
        if code:
            lines.append(indent + code)
    return "\n".join(lines) + "\n"


def configuration() -> tuple[str, str]:
    """The top-level `guardrails:` section and the two guarded models, for targets.Gatehouse.prepare."""
    section = "guardrails:\n  policies:\n    full:\n" + policy_block("      ")
    models = (f"  - {{name: {GUARDED_MODEL}, provider: openai, model: {PASS_MODEL}, guardrails: default}}\n"
              f"  - {{name: {FULL_MODEL}, provider: openai, model: {PASS_MODEL}, guardrails: full}}\n")
    return section, models


def gateway_targets(gateway: Target) -> list[Target]:
    return [gateway] + [replace(gateway, name=name, model=model)
                        for name, model in (("gatehouse-guarded", GUARDED_MODEL), ("gatehouse-guarded-full", FULL_MODEL))]


# --- offline: gatehouse guard scan ------------------------------------------------------------

PROSE = ("the quarterly report shows revenue grew in every region while costs stayed flat and the team "
         "plans to hire two engineers next year to work on the storage layer and its migration tooling").split()
CODE = ["def load(path):", "    with open(path) as f:", "        return json.load(f)",
        "api_key = os.environ['SERVICE_API_KEY']", "for i in range(10): total += values[i]",
        "commit 3f9a1c2e4b5d6f708192a3b4c5d6e7f801234567", "id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479'"]
LOGS = ["2026-12-07T08:00:01Z INFO request served in 12 ms", "GET /v1/items?page=3 200 1532",
        "version 1.2.3 released on 2026-11-30", "order 4111 1111 1111 1112 was cancelled"]


def corpus_line(rng: random.Random, index: int) -> str:
    """One JSON line of about ITEM_BYTES of mixed text."""
    parts: list[str] = []
    size = 0
    while size < ITEM_BYTES:
        kind = rng.random()
        if kind < 0.7:
            part = " ".join(rng.choice(PROSE) for _ in range(rng.randint(8, 20))) + "."
        elif kind < 0.85:
            part = "\n".join(rng.sample(CODE, 3))
        elif kind < 0.97:
            part = rng.choice(LOGS)
        else:
            part = f"Write to ann.{index}@example.com or call +44 20 7946 0{rng.randint(100, 999)}."
        parts.append(part)
        size += len(part) + 1
    text = " ".join(parts)[:ITEM_BYTES]
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{{"id":"{index}","direction":"input","text":"{escaped}"}}\n'


def scan_timing(command: list[str], stdin: Path) -> dict:
    """The median and p90 µs of policy CPU per line that `guard scan --timing` printed."""
    with stdin.open("rb") as source:
        done = subprocess.run(command, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              check=True, timeout=600)
    match = re.search(r"median ([0-9.]+) µs, p90 ([0-9.]+) µs", done.stderr)
    if not match:
        raise RuntimeError(f"guard scan --timing printed no figures: {done.stderr[-400:]}")
    return {"median": float(match.group(1)), "p90": float(match.group(2))}


def scan_cost(binary: str, work: Path, runs: int) -> dict:
    """Input-policy CPU per 10 KB prompt (µs) for the default and the example policy: the median over the
    `runs` rounds of each round's median over the corpus."""
    rng = random.Random(7)
    corpus = work / "guard-corpus.jsonl"
    corpus.write_text("".join(corpus_line(rng, index) for index in range(CORPUS_ITEMS)))
    policies = {"default": work / "guard-default.yaml", "full": EXAMPLE_POLICY}
    policies["default"].write_text("input:\n  secrets: block\n  invisible_text: redact\n  prompt_injection: flag\n")
    # Each input scanner of the example policy alone, as it is set there: where the whole policy's time goes.
    for scanner, setting in SCANNERS.items():
        policies[scanner] = work / f"guard-{scanner}.yaml"
        policies[scanner].write_text(f"input:\n  {scanner}: {setting}\n")
    rounds: dict[str, list[dict]] = {name: [] for name in policies}
    command = [binary, "guard", "scan", "--direction", "input", "--jsonl", "--timing", "--policy"]
    for _ in range(max(1, runs)):
        for name, path in policies.items():
            rounds[name].append(scan_timing([*command, str(path)], corpus))
    medians = {name: statistics.median(r["median"] for r in values) for name, values in rounds.items()}
    return {"items": CORPUS_ITEMS, "item_bytes": ITEM_BYTES, "rounds": rounds,
            "scanners": {scanner: medians[scanner] for scanner in SCANNERS},
            "default": medians["default"], "full": medians["full"],
            **{name + "_p90": statistics.median(rounds[name][i]["p90"] for i in range(len(rounds[name])))
               for name in ("default", "full")}}
