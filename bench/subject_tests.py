"""Error rates of the subject-test winner rule (docs/subject-tests.md), by simulation.

Runs the production rule (``optimise.decision``) through the simulation of
``tests/optimise/test_simulation.py`` with more runs per scenario than the test can afford.
``BENCH_RUNS`` (default 2000; 100 with ``BENCH_SMALL=1``, as CI runs it) sets the runs per
scenario; the seed is fixed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimise.decision import Rule
from tests.optimise.test_simulation import outcomes

SCENARIOS = (
    ("A/A 10% vs 10%", [0.10, 0.10], 2000),
    ("A/A 10% vs 10%", [0.10, 0.10], 4000),
    ("A/B 10% vs 13%", [0.10, 0.13], 2000),
    ("A/B 10% vs 13%", [0.10, 0.13], 4000),
    ("A/B 10% vs 16%", [0.10, 0.16], 2000),
)


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "100" if os.environ.get("BENCH_SMALL") else "2000"))
    print("| scenario | max sample | confidence | any winner | better picked | worse picked | no winner |")
    print("|---|---|---|---|---|---|---|")
    for confidence in (0.95, 0.99):
        for name, rates, max_sample in SCENARIOS:
            got = outcomes(rates, Rule(confidence=confidence, max_sample=max_sample), seed=2026, runs=runs)
            better = "-" if rates[0] == rates[1] else f"{got['right']:.1%}"
            worse = "-" if rates[0] == rates[1] else f"{got['wrong']:.1%}"
            print(
                f"| {name} | {max_sample:,} | {confidence} | {got['winner']:.1%} | {better} | {worse} |"
                f" {got['none']:.1%} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
