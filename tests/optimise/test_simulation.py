"""The winner rule against known true rates: many simulated tests, a fixed seed, the production
decision functions (``optimise.decision``: the look schedule, the threshold and ``decide``).

Each simulated test assigns deliveries at random to the variants, draws each trial's success from
the variant's true rate, and looks whenever the trials have grown by a look step, as
``optimise.subject_tests.evaluate`` does. The measured rates are recorded in
docs/subject-tests.md; the bounds below are what the documentation promises.
"""

from __future__ import annotations

import random

from optimise.decision import NO_WINNER, RUNNING, WINNER, Arm, Rule, Verdict, decide, look_step, p_best

RUNS = 500


def simulate(rates: list[float], rule: Rule, rng: random.Random) -> Verdict:
    trials, successes = [0] * len(rates), [0] * len(rates)
    while True:
        for _ in range(look_step(rule)):
            i = rng.randrange(len(rates))
            trials[i] += 1
            successes[i] += rng.random() < rates[i]
        verdict = decide([Arm(t, s) for t, s in zip(trials, successes, strict=True)], rule)
        if verdict.status != RUNNING:
            return verdict


def outcomes(rates: list[float], rule: Rule, seed: int, runs: int = RUNS) -> dict[str, float]:
    """Shares of ``runs`` simulated tests: any winner, the better variant, a worse one, none."""
    rng = random.Random(seed)
    verdicts = [simulate(rates, rule, rng) for _ in range(runs)]
    best = max(range(len(rates)), key=lambda i: rates[i])
    return {
        "winner": sum(v.status == WINNER for v in verdicts) / runs,
        "right": sum(v.status == WINNER and v.winner == best for v in verdicts) / runs,
        "wrong": sum(v.status == WINNER and v.winner != best for v in verdicts) / runs,
        "none": sum(v.status == NO_WINNER for v in verdicts) / runs,
    }


def test_a_a_test_names_a_false_winner_at_most_at_the_documented_rate() -> None:
    measured = outcomes([0.10, 0.10], Rule(confidence=0.95, max_sample=2000), seed=20)
    assert measured["winner"] <= 0.07  # documented: about 4 % at confidence 0.95
    assert measured["none"] >= 0.93


def test_a_b_test_picks_the_better_variant_and_almost_never_the_worse() -> None:
    measured = outcomes([0.10, 0.13], Rule(confidence=0.95, max_sample=4000), seed=21, runs=300)
    assert measured["right"] >= 0.70  # documented: about 80 % at 4,000 trials
    assert measured["wrong"] <= 0.01
    large = outcomes([0.10, 0.20], Rule(confidence=0.95, max_sample=1000), seed=22, runs=100)
    assert large["right"] >= 0.9 and large["wrong"] == 0


def test_p_best_of_three_variants_sums_to_one_and_orders_them() -> None:
    chances = p_best([Arm(400, 40), Arm(400, 60), Arm(400, 48)])
    assert abs(sum(chances) - 1) < 1e-6
    assert chances[1] > chances[2] > chances[0]
    # Two variants: the closed form agrees with the grid used for three or four.
    two = p_best([Arm(300, 30), Arm(300, 42)])
    three = p_best([Arm(300, 30), Arm(300, 42), Arm(300, 0)])
    assert abs(two[1] - three[1]) < 0.01


def test_three_variant_a_a_a_test_stays_honest() -> None:
    rng = random.Random(23)
    rule = Rule(confidence=0.95, max_sample=600)
    verdicts = [simulate([0.2, 0.2, 0.2], rule, rng) for _ in range(20)]
    assert sum(v.status == WINNER for v in verdicts) <= 2
