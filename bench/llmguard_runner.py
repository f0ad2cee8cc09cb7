"""Runs llm-guard's offline, rule-based input scanners over a JSON-lines corpus; started by bench/llmguard.py
with the python of the benchmark's llm-guard venv (llm-guard is never imported by the benchmark itself).

Each input line is {"id", "text"}; each output line is {"id", "detected": {scanner: bool}, "cpu_ns"}: which
scanner refused the text (`is_valid` false), and the process CPU time the four scanners took on it (the best
of `--repeat` runs, as `gatehouse guard scan --timing` takes the best of three).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    import structlog  # llm-guard logs every finding through structlog: silenced, as gatehouse logs none
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    from llm_guard.input_scanners import BanSubstrings, InvisibleText, Regex, Secrets
    from llm_guard.input_scanners.ban_substrings import MatchType

    scanners = {
        "secrets": Secrets(redact_mode="all"),
        "invisible_text": InvisibleText(),
        "banned_substrings": BanSubstrings(substrings=["Project Falcon"], match_type=MatchType.STR,
                                           case_sensitive=False, redact=False, contains_all=False),
        "regex": Regex(patterns=[r"TCK-[0-9]{6}"], is_blocked=True, redact=False),
    }
    for line in sys.stdin:
        if not line.strip():
            continue
        item = json.loads(line)
        best = None
        detected: dict[str, bool] = {}
        for _ in range(max(1, args.repeat)):
            started = time.process_time_ns()
            for name, scanner in scanners.items():
                _, valid, _ = scanner.scan(item["text"])
                detected[name] = not valid
            spent = time.process_time_ns() - started
            best = spent if best is None else min(best, spent)
        print(json.dumps({"id": item["id"], "detected": detected, "cpu_ns": best}), flush=True)


if __name__ == "__main__":
    main()
