"""Subject (and preheader) tests of one email of a series: start, evaluate, stop, figures.

While a test runs the tick gives each new delivery of the email one of its variants at random
(``delivery.enqueue.variant_sql``); :func:`evaluate` (run after each tick) counts the trials and
successes per variant (:mod:`optimise.counting`) and applies the winner rule of
:mod:`optimise.decision` at each look. Once decided, every later delivery gets the winner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.compiling import compile_variant
from campaigns.models import Campaign, Email
from campaigns.variant_models import Criterion, SubjectTest, SubjectTestStatus, SubjectVariant, VariantRole
from delivery.message import HeaderInjection, clean
from optimise import decision
from optimise.counting import variant_counts
from optimise.errors import OptimiseError
from wildmail.core.settings import Settings

MIN_VARIANTS, MAX_VARIANTS = 2, 4
MIN_SAMPLE = 20


def email_of(campaign: Campaign, position: int) -> Email:
    """The campaign's email at ``position`` (1-based), or :class:`OptimiseError`."""
    for email in campaign.emails:
        if email.position == position:
            return email
    raise OptimiseError(f"campaign {campaign.slug!r} has no email {position} (it has {len(campaign.emails)})")


def parse_variant(text: str) -> tuple[str, str]:
    """``"subject|preheader"`` (the preheader optional) as (subject, preheader)."""
    subject, _, preheader = text.partition("|")
    subject, preheader = subject.strip(), preheader.strip()
    try:
        clean(subject, "subject")
        clean(preheader, "preheader")
    except HeaderInjection as exc:
        raise OptimiseError(f"variant {text!r}: {exc}") from None
    if not subject:
        raise OptimiseError(f"variant {text!r} has no subject (write it as 'subject|preheader')")
    if len(subject) > 300 or len(preheader) > 300:
        raise OptimiseError(f"variant {text!r}: subject and preheader are at most 300 characters each")
    return subject, preheader


def start_test(
    session: Session,
    settings: Settings,
    campaign: Campaign,
    position: int,
    variants: Sequence[tuple[str, str]],
    *,
    criterion: str = Criterion.HUMAN_OPENS.value,
    confidence: float = 0.95,
    max_sample: int = 2000,
    now: datetime,
) -> SubjectTest:
    """Start a test of ``variants`` (subject, preheader) on email ``position``; each variant is
    compiled now, so sending one costs what sending the email costs."""
    email = email_of(campaign, position)
    if not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        raise OptimiseError(f"give {MIN_VARIANTS} to {MAX_VARIANTS} variants (got {len(variants)})")
    if len(set(variants)) != len(variants):
        raise OptimiseError("two variants are the same")
    if criterion not in {c.value for c in Criterion}:
        raise OptimiseError(f"criterion {criterion!r} is not one of {', '.join(c.value for c in Criterion)}")
    if not 0.5 < confidence < 1:
        raise OptimiseError(f"confidence {confidence} must be between 0.5 and 1 (e.g. 0.95)")
    if max_sample < MIN_SAMPLE * len(variants):
        raise OptimiseError(f"max sample {max_sample} is too small: at least {MIN_SAMPLE * len(variants)}")
    if session.scalar(select(SubjectTest.id).where(SubjectTest.email_id == email.id)) is not None:
        raise OptimiseError(f"email {position} of {campaign.slug!r} already has a subject test")
    if not email.compiled_html:
        raise OptimiseError(f"email {position} of {campaign.slug!r} is not compiled")
    test = SubjectTest(
        email_id=email.id,
        campaign_id=campaign.id,
        criterion=criterion,
        confidence=confidence,
        max_sample=max_sample,
        status=SubjectTestStatus.RUNNING.value,
        looked_at=0,
        created_at=now,
    )
    session.add(test)
    session.flush()
    for i, (subject, preheader) in enumerate(variants, start=1):
        variant = SubjectVariant(
            email_id=email.id,
            test_id=test.id,
            role=VariantRole.TEST.value,
            position=i,
            subject=subject,
            preheader=preheader,
        )
        try:
            compile_variant(campaign, email, variant, settings, now)
        except ValueError as exc:
            raise OptimiseError(str(exc)) from None
        session.add(variant)
    session.flush()
    return test


def _variants(session: Session, test: SubjectTest) -> list[SubjectVariant]:
    return list(
        session.scalars(
            select(SubjectVariant).where(SubjectVariant.test_id == test.id).order_by(SubjectVariant.position)
        )
    )


def find_test(session: Session, campaign: Campaign, position: int) -> SubjectTest:
    """The subject test of email ``position``, or :class:`OptimiseError`."""
    email = email_of(campaign, position)
    test = session.scalar(select(SubjectTest).where(SubjectTest.email_id == email.id))
    if test is None:
        raise OptimiseError(f"email {position} of {campaign.slug!r} has no subject test")
    return test


def stop_test(
    session: Session, campaign: Campaign, position: int, now: datetime, winner: int | None = None
) -> SubjectTest:
    """End a running test by hand: variant ``winner`` (1-based) or else the first goes to everyone."""
    test = find_test(session, campaign, position)
    if test.status != SubjectTestStatus.RUNNING.value:
        raise OptimiseError(f"the subject test of email {position} has ended already ({test.status})")
    variants = _variants(session, test)
    pick = winner or 1
    if not 1 <= pick <= len(variants):
        raise OptimiseError(f"--winner must be 1 to {len(variants)}")
    test.status, test.winner_variant_id, test.decided_at = (
        SubjectTestStatus.STOPPED.value,
        variants[pick - 1].id,
        now,
    )
    return test


def rule_of(test: SubjectTest) -> decision.Rule:
    """The winner rule with this test's settings."""
    return decision.Rule(confidence=test.confidence, max_sample=test.max_sample)


def evaluate(session: Session, now: datetime) -> int:
    """Look at every running test whose trials grew by a look step since its last look and
    decide it when the rule says so; returns how many tests were decided."""
    decided = 0
    for test in session.scalars(
        select(SubjectTest).where(SubjectTest.status == SubjectTestStatus.RUNNING.value)
    ):
        variants = _variants(session, test)
        counts = variant_counts(session, [v.id for v in variants], test.criterion, now)
        arms = [decision.Arm(counts[v.id][1], counts[v.id][2]) for v in variants]
        total = sum(a.trials for a in arms)
        rule = rule_of(test)
        if total < test.looked_at + decision.look_step(rule) and total < rule.max_sample:
            continue
        test.looked_at = total
        verdict = decision.decide(arms, rule)
        if verdict.status == decision.RUNNING or verdict.winner is None:
            continue
        test.status = (
            SubjectTestStatus.WINNER.value
            if verdict.status == decision.WINNER
            else SubjectTestStatus.NO_WINNER.value
        )
        test.winner_variant_id = variants[verdict.winner].id
        test.decided_at = now
        decided += 1
    return decided


@dataclass(frozen=True)
class VariantFigures:
    """One variant's figures: its deliveries, trials, successes, rate with a 95 % interval, P(best)."""

    position: int
    subject: str
    preheader: str
    deliveries: int
    trials: int
    successes: int
    rate: float | None
    low: float | None
    high: float | None
    p_best: float
    winner: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SubjectTestFigures:
    """A subject test of one email with its variants' figures and what the rule says."""

    position: int
    criterion: str
    confidence: float
    max_sample: int
    status: str
    verdict: str
    variants: list[VariantFigures]

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "variants"}
        out["variants"] = [v.as_dict() for v in self.variants]
        return out


VERDICT_TEXT = {
    SubjectTestStatus.RUNNING.value: "running",
    SubjectTestStatus.WINNER.value: "winner: variant {n}",
    SubjectTestStatus.NO_WINNER.value: "no clear winner after {trials} trials: variant 1 kept",
    SubjectTestStatus.STOPPED.value: "stopped by hand: variant {n} kept",
}


def figures(session: Session, campaign_id: int, now: datetime) -> list[SubjectTestFigures]:
    """Every subject test of the campaign, by email position (reads only; refresh the rollup first)."""
    out = []
    q = (
        select(SubjectTest, Email.position)
        .join(Email, Email.id == SubjectTest.email_id)
        .where(SubjectTest.campaign_id == campaign_id)
        .order_by(Email.position)
    )
    for test, position in session.execute(q).tuples():
        variants = _variants(session, test)
        counts = variant_counts(session, [v.id for v in variants], test.criterion, now, test.decided_at)
        arms = [decision.Arm(counts[v.id][1], counts[v.id][2]) for v in variants]
        chances = decision.p_best(arms)
        rows = []
        for v, arm, chance in zip(variants, arms, chances, strict=True):
            interval = decision.wilson(arm.successes, arm.trials)
            rows.append(
                VariantFigures(
                    v.position,
                    v.subject,
                    v.preheader,
                    counts[v.id][0],
                    arm.trials,
                    arm.successes,
                    round(arm.successes / arm.trials, 4) if arm.trials else None,
                    round(interval[0], 4) if interval else None,
                    round(interval[1], 4) if interval else None,
                    round(chance, 4),
                    v.id == test.winner_variant_id,
                )
            )
        winner = next((r.position for r in rows if r.winner), 1)
        verdict = VERDICT_TEXT[test.status].format(n=winner, trials=sum(a.trials for a in arms))
        out.append(
            SubjectTestFigures(
                position, test.criterion, test.confidence, test.max_sample, test.status, verdict, rows
            )
        )
    return out
