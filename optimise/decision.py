"""The winner rule of a subject test: a Bayesian beta-binomial sequential test.

Each variant's success rate gets a Beta(1 + successes, 1 + failures) posterior (a uniform prior).
At each *look* the rule computes, for every variant, the posterior probability that its rate is
the highest of all (``P(best)``): exactly for two variants (a finite sum, no sampling), by
numerical integration over a grid for three or four. The test stops with a winner when one
variant's P(best) reaches :func:`threshold` (a boundary that starts near 1 and falls to about
the chosen confidence, corrected for the number of variants, at the maximum sample) and every
variant has at least :func:`min_per_arm` trials; it stops without a winner (the first variant
is kept) once the trials of all variants together reach ``max_sample``.

Looks are rationed: a look happens when the trials have grown by :func:`look_step` since the
previous one (about twenty looks up to the maximum sample), so the number of looks, and with
it the chance of a false winner from looking repeatedly, does not depend on how often the
scheduler runs. The error rates this gives are measured by ``tests/optimise/test_simulation.py``
with the same functions and recorded in docs/subject-tests.md.

Intervals shown beside each variant are Wilson score intervals (95 %).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

RUNNING = "running"
WINNER = "winner"
NO_WINNER = "no_winner"
GRID = 600  # integration points for three or four variants
LOOK_WIDENING = 1.14  # the repeated-looks factor of an O'Brien-Fleming boundary with ~20 looks


@dataclass(frozen=True)
class Arm:
    """One variant's evidence: trials (deliveries that count) and successes among them."""

    trials: int
    successes: int


@dataclass(frozen=True)
class Rule:
    """When a test stops: ``confidence`` in (0.5, 1), ``max_sample`` trials of all variants."""

    confidence: float = 0.95
    max_sample: int = 2000
    min_per_arm: int = 100


@dataclass(frozen=True)
class Verdict:
    """The rule's answer at one look: status, the winner's index (0-based) and P(best) per arm."""

    status: str
    winner: int | None
    p_best: tuple[float, ...]


def look_step(rule: Rule) -> int:
    """Trials to add between two looks: a twentieth of the maximum sample, at least 20."""
    return max(20, rule.max_sample // 20)


def min_per_arm(rule: Rule, arms: int) -> int:
    """The minimum trials per variant before a winner may be named (never more than the
    maximum sample allows)."""
    return max(1, min(rule.min_per_arm, rule.max_sample // (2 * arms)))


def threshold(rule: Rule, arms: int, trials: int) -> float:
    """The P(best) a variant needs at a look after ``trials`` trials in all.

    An O'Brien-Fleming-shaped boundary: ``Phi(z / sqrt(t))`` with ``t = trials / max_sample``
    (at most 1) and ``z`` the two-sided normal quantile of ``1 - confidence`` shared among the
    other variants (Bonferroni), widened by :data:`LOOK_WIDENING` for the repeated looks. Early
    looks need overwhelming evidence, the last one about ``Phi(z)``; a constant threshold of
    ``confidence`` at every look would name a false winner in about a third of A/A tests
    (measured: 37 % at 0.95 with twenty looks).
    """
    share = (1.0 - rule.confidence) / (2 * max(1, arms - 1))
    z = NormalDist().inv_cdf(1.0 - share) * LOOK_WIDENING
    t = min(1.0, max(trials, 1) / rule.max_sample)
    return NormalDist().cdf(z / math.sqrt(t))


def _lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _p_second_beats_first(a1: int, b1: int, a2: int, b2: int) -> float:
    """P(X2 > X1) for X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2) with integer parameters: the finite
    sum over i < a2 of B(a1 + i, b1 + b2) / ((b2 + i) B(1 + i, b2) B(a1, b1)), each term from the
    one before by a ratio of integers (no special function per term); terms are kept scaled so
    nothing underflows at large samples. Sums over the smaller of a1 and a2."""
    if a1 < a2:
        return 1.0 - _p_second_beats_first(a2, b2, a1, b1)
    log_first = _lbeta(a1, b1 + b2) - _lbeta(a1, b1)
    term, total, log_scale = 1.0, 0.0, 0.0
    for i in range(a2):
        total += term
        term *= (a1 + i) * (b2 + i) * (1 + i + b2) / ((a1 + i + b1 + b2) * (b2 + i + 1) * (1 + i))
        if term > 1e250 or total > 1e250:
            term, total, log_scale = term * 1e-250, total * 1e-250, log_scale + 250 * math.log(10)
    if total <= 0.0:
        return 0.0
    return min(1.0, max(0.0, math.exp(log_first + log_scale + math.log(total))))


def _p_best_grid(params: Sequence[tuple[int, int]]) -> list[float]:
    """P(best) per arm by integrating pdf_i * prod(cdf_j) over a grid around the posteriors."""
    lo, hi = 1.0, 0.0
    for a, b in params:
        mean = a / (a + b)
        sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        lo, hi = min(lo, mean - 10 * sd), max(hi, mean + 10 * sd)
    lo, hi = max(lo, 1e-12), min(hi, 1 - 1e-12)
    step = (hi - lo) / GRID
    xs = [lo + (k + 0.5) * step for k in range(GRID)]
    pdfs: list[list[float]] = []
    cdfs: list[list[float]] = []
    for a, b in params:
        norm = _lbeta(a, b)
        pdf = [math.exp((a - 1) * math.log(x) + (b - 1) * math.log1p(-x) - norm) * step for x in xs]
        mass = sum(pdf) or 1.0
        pdf = [p / mass for p in pdf]
        cdf, running = [], 0.0
        for p in pdf:
            cdf.append(running + p / 2)  # the cdf at the cell's midpoint
            running += p
        pdfs.append(pdf)
        cdfs.append(cdf)
    out = []
    for i in range(len(params)):
        total = 0.0
        for k in range(GRID):
            term = pdfs[i][k]
            for j in range(len(params)):
                if j != i:
                    term *= cdfs[j][k]
            total += term
        out.append(total)
    norm_total = sum(out) or 1.0
    return [p / norm_total for p in out]


def p_best(arms: Sequence[Arm]) -> tuple[float, ...]:
    """The posterior probability that each arm has the highest success rate."""
    params = [(1 + a.successes, 1 + max(0, a.trials - a.successes)) for a in arms]
    if len(params) == 1:
        return (1.0,)
    if len(params) == 2:
        (a1, b1), (a2, b2) = params
        second = _p_second_beats_first(a1, b1, a2, b2)
        return (1.0 - second, second)
    return tuple(_p_best_grid(params))


def decide(arms: Sequence[Arm], rule: Rule) -> Verdict:
    """Apply the stopping rule to the evidence so far (see the module docstring)."""
    probabilities = p_best(arms)
    best = max(range(len(arms)), key=lambda i: probabilities[i])
    enough = all(a.trials >= min_per_arm(rule, len(arms)) for a in arms)
    if enough and probabilities[best] >= threshold(rule, len(arms), sum(a.trials for a in arms)):
        return Verdict(WINNER, best, probabilities)
    if sum(a.trials for a in arms) >= rule.max_sample:
        return Verdict(NO_WINNER, 0, probabilities)
    return Verdict(RUNNING, None, probabilities)


def wilson(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float] | None:
    """The Wilson score interval of a rate (None without trials)."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
