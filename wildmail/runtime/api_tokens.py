"""REST API tokens and idempotency keys: the tables, token issue/lookup/revocation, scopes.

A token reads ``wm_<public id>_<secret>``: the public id (12 hex characters) finds the row, the
secret (32 random bytes, base64url) is stored only as its SHA-256 and compared in constant time.
A fast hash is enough because the secret is random (256 bits): nobody can guess it from the hash,
and checking it costs microseconds on every request, where a password hash would cost tens of
milliseconds. The token is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from wildmail.core.db import Base, UTCDateTime, write_transaction

PREFIX = "wm"
# Per resource; stats and bounces are read-only (subscribers:write covers bulk imports).
ALL_SCOPES = (
    *("lists:read", "lists:write", "subscribers:read", "subscribers:write", "campaigns:read"),
    *("campaigns:write", "stats:read", "suppression:read", "suppression:write", "bounces:read"),
)
IDEMPOTENCY_TTL = timedelta(hours=24)
_TOKEN = re.compile(r"wm_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")


class ApiToken(Base):
    """A REST API token: its public id, the SHA-256 of its secret, what it may do."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(500))  # comma-separated resource:access
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IdempotencyKey(Base):
    """A POST's ``Idempotency-Key`` and the answer it got, kept per token for 24 hours.

    ``status == 0`` while the first request is still running (a concurrent retry gets 409).
    """

    __tablename__ = "api_idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer, default=0)
    media_type: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("token_id", "key"), Index(None, "created_at"))


class TokenError(ValueError):
    """A token request cannot be done (bad name or scope, no such token); the message says why."""


@dataclass(frozen=True)
class Principal:
    """Who an API request acts as: a live token's id, name and scopes."""

    token_id: int
    name: str
    scopes: frozenset[str]
    last_used_at: datetime | None

    def allows(self, resource: str, access: str) -> bool:
        """Write access includes read access."""
        return f"{resource}:{access}" in self.scopes or (
            access == "read" and f"{resource}:write" in self.scopes
        )


def parse_scopes(text: str) -> list[str]:
    """``subscribers:write,stats:read`` as a sorted list; raises :class:`TokenError` naming a bad one."""
    scopes = sorted({part.strip().lower() for part in text.split(",") if part.strip()})
    if not scopes:
        raise TokenError(f"give at least one scope, e.g. subscribers:write (known: {', '.join(ALL_SCOPES)})")
    for scope in scopes:
        if scope not in ALL_SCOPES:
            raise TokenError(f"unknown scope {scope!r} (known: {', '.join(ALL_SCOPES)})")
    return scopes


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, name: str, scopes: str, now: datetime) -> tuple[ApiToken, str]:
    """Issue a token; returns the row and the token text (shown once, never stored)."""
    name = " ".join(name.split())
    if not _NAME.fullmatch(name):
        raise TokenError(f"token name {name!r}: use 1-100 letters, digits, spaces, dots, dashes, underscores")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))):
        raise TokenError(f"a live token named {name!r} already exists (revoke it first)")
    chosen = parse_scopes(scopes)
    public_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    token = ApiToken(
        public_id=public_id,
        name=name,
        secret_hash=_digest(secret),
        scopes=",".join(chosen),
        created_at=now,
    )
    session.add(token)
    session.flush()
    return token, f"{PREFIX}_{public_id}_{secret}"


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, live ones first, newest first."""
    return list(
        session.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc()))
    )


def revoke_token(session: Session, which: str, now: datetime) -> ApiToken:
    """Revoke the live token with this name or public id; raises :class:`TokenError` when none."""
    which = " ".join(which.split())
    found = list(
        session.scalars(
            select(ApiToken).where(
                (ApiToken.name == which) | (ApiToken.public_id == which), ApiToken.revoked_at.is_(None)
            )
        )
    )
    if not found:
        raise TokenError(f"no live API token named {which!r} (see 'wildmail api-tokens list')")
    token = found[0]
    token.revoked_at = now
    session.flush()
    return token


def authenticate(engine: Engine, presented: str, now: datetime, touch_every: timedelta) -> Principal | None:
    """The live token ``presented`` stands for, or None; notes its use at most every ``touch_every``."""
    match = _TOKEN.fullmatch(presented.strip())
    if match is None:
        return None
    public_id, secret = match.groups()
    with Session(engine) as session:
        row = session.execute(
            select(
                ApiToken.id, ApiToken.name, ApiToken.secret_hash, ApiToken.scopes, ApiToken.last_used_at
            ).where(ApiToken.public_id == public_id, ApiToken.revoked_at.is_(None))
        ).one_or_none()
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
        return None
    if row.last_used_at is None or now - row.last_used_at >= touch_every:
        with write_transaction(engine) as session:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return Principal(row.id, row.name, frozenset(row.scopes.split(",")), row.last_used_at)


# Idempotency keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAnswer:
    """The answer kept for a key (``status == 0``: the first request is still running)."""

    request_hash: str
    status: int
    media_type: str
    body: str
    location: str


def claim_key(
    engine: Engine, token_id: int, key: str, request_hash: str, now: datetime
) -> StoredAnswer | None:
    """Reserve ``key`` for this request; None when it is new (the caller runs the request and calls
    :func:`store_answer`), else what is kept for it. Keys older than 24 hours are forgotten first."""
    with write_transaction(engine) as session:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - IDEMPOTENCY_TTL))
    try:
        with write_transaction(engine) as session:
            session.add(IdempotencyKey(token_id=token_id, key=key, request_hash=request_hash, created_at=now))
        return None
    except IntegrityError:
        with Session(engine) as session:
            row = session.scalars(
                select(IdempotencyKey).where(IdempotencyKey.token_id == token_id, IdempotencyKey.key == key)
            ).one()
            return StoredAnswer(row.request_hash, row.status, row.media_type, row.body, row.location)


def store_answer(
    engine: Engine, token_id: int, key: str, status: int, media_type: str, body: str, location: str
) -> None:
    """Keep the answer to the request that claimed ``key``."""
    with write_transaction(engine) as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.token_id == token_id, IdempotencyKey.key == key)
            .values(status=status, media_type=media_type[:100], body=body, location=location[:500])
        )


def release_key(engine: Engine, token_id: int, key: str) -> None:
    """Forget a claimed key whose request failed on our side, so a retry runs again."""
    with write_transaction(engine) as session:
        session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.token_id == token_id, IdempotencyKey.key == key)
        )
