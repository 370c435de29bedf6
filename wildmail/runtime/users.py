"""Dashboard accounts: the tables, argon2 password hashing, account management, login limits, sessions."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine, ForeignKey, Index, Integer, String, case, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from wildmail.core.db import Base, UTCDateTime, write_transaction


class Role(enum.StrEnum):
    MARKETER = "marketer"
    STAFF = "staff"
    ADMIN = "admin"


class User(Base):
    """A person who logs into the dashboard; passwords are argon2 hashes."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default=Role.STAFF.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LoginFailure(Base):
    """A failed dashboard login: keyed hashes of the account tried and of the client that tried it."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64))
    client_key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(None, "account_key", "at"),
        Index(None, "client_key", "at"),
        Index(None, "at"),
    )


class UserSession(Base):
    """A dashboard login; the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class UserError(ValueError):
    """A user-management request cannot be done; the message says why."""


_hasher = PasswordHasher()
MIN_PASSWORD = 10
_dummy: list[str] = []


def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a wrong address costs as long as a wrong password."""
    if not _dummy:
        _dummy.append(_hasher.hash("not-a-real-password-0000"))
    return _dummy[0]


def normalise_email(address: str) -> str:
    """Lower-cased, validated address (no DNS look-up); raises :class:`UserError`."""
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise UserError(f"{address!r} is not a valid email address: {exc}") from None


def parse_role(role: str) -> Role:
    """The role named ``role``; raises :class:`UserError` listing the valid ones."""
    try:
        return Role(role.strip().lower())
    except ValueError:
        raise UserError(f"unknown role {role!r}: choose marketer, staff or admin") from None


def hash_password(password: str) -> str:
    """An argon2id hash; refuses passwords shorter than MIN_PASSWORD characters."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must be at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def add_user(session: Session, email: str, role: str, password: str, now: datetime) -> User:
    """Create an account; raises :class:`UserError` when the address is taken or input is bad."""
    address = normalise_email(email)
    if session.scalar(select(User).where(User.email == address)) is not None:
        raise UserError(f"a user {address} already exists")
    user = User(
        email=address, role=parse_role(role).value, password_hash=hash_password(password), created_at=now
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, email: str) -> User:
    """The account with this address; raises :class:`UserError` when there is none."""
    address = normalise_email(email)
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        raise UserError(f"no user {address}")
    return user


def list_users(session: Session) -> list[User]:
    """Every account, by address."""
    return list(session.scalars(select(User).order_by(User.email)))


def remove_user(session: Session, email: str) -> None:
    """Delete an account (its sessions go with it)."""
    user = get_user(session, email)
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.delete(user)


def set_password(session: Session, email: str, password: str, now: datetime) -> int:
    """Replace an account's password and end its sessions; returns how many were ended."""
    user = get_user(session, email)
    user.password_hash = hash_password(password)
    return revoke_sessions(session, user.id, now)


def set_role(session: Session, email: str, role: str, now: datetime) -> int:
    """Change an account's role and end its sessions; returns how many were ended."""
    user = get_user(session, email)
    user.role = parse_role(role).value
    return revoke_sessions(session, user.id, now)


def authenticate(session: Session, email: str, password: str, now: datetime) -> User | None:
    """The user when the password matches (rehashing outdated hashes), else None."""
    try:
        address = normalise_email(email)
    except UserError:
        address = ""
    user = session.scalar(select(User).where(User.email == address)) if address else None
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    return user


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed within ``window`` before further attempts are refused unchecked."""

    window: timedelta = timedelta(minutes=15)
    per_pair: int = 5  # one client on one account (typos)
    per_client: int = 20  # one client, any accounts (spreading guesses over many addresses)
    per_account: int = 20  # one account, any clients (a guesser rotating addresses)
    overall: int = 200  # everything together (a distributed guesser)


class LoginThrottled(Exception):
    """Too many recent failures for this client, this account or overall."""


def attempt_login(
    session: Session,
    email: str,
    password: str,
    *,
    account_key: str,
    client_key: str,
    now: datetime,
    limits: LoginLimits,
) -> User | None:
    """Check a password unless a limit is reached (raises :class:`LoginThrottled`); record a failure.

    ``account_key`` and ``client_key`` identify the account tried and the client (keyed hashes, so
    neither addresses nor IPs are stored). A success forgets only this client's failures on this account:
    logging into one's own account must not reset the counters used against guesses on others.
    """
    since = now - limits.window
    is_pair = (LoginFailure.account_key == account_key) & (LoginFailure.client_key == client_key)
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((is_pair, 1), else_=0)), 0),
            func.coalesce(func.sum(case((LoginFailure.client_key == client_key, 1), else_=0)), 0),
            func.coalesce(func.sum(case((LoginFailure.account_key == account_key, 1), else_=0)), 0),
        ).where(LoginFailure.at > since)
    ).one()
    overall, pair, client, account = (int(n) for n in row)
    if (
        pair >= limits.per_pair
        or client >= limits.per_client
        or account >= limits.per_account
        or overall >= limits.overall
    ):
        raise LoginThrottled
    user = authenticate(session, email, password, now)
    if user is None:
        session.add(LoginFailure(account_key=account_key, client_key=client_key, at=now))
        session.execute(delete(LoginFailure).where(LoginFailure.at < now - timedelta(days=1)))
        return None
    session.execute(delete(LoginFailure).where(is_pair))
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user: User, now: datetime, lifetime: timedelta) -> str:
    """Start a session for ``user``; returns the random token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
    )
    session.execute(delete(UserSession).where(UserSession.expires_at < now - timedelta(days=1)))
    return token


def session_owner(session: Session, token: str, now: datetime) -> tuple[User, datetime] | None:
    """The user of a live session (not revoked, not expired) and when it was last seen; else None."""
    row = session.execute(
        select(User, UserSession.last_seen_at)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            UserSession.token_hash == _token_hash(token),
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def touch_session(session: Session, token: str, now: datetime) -> None:
    """Record that the session was used at ``now``."""
    session.execute(
        update(UserSession).where(UserSession.token_hash == _token_hash(token)).values(last_seen_at=now)
    )


def revoke_session(session: Session, token: str, now: datetime) -> None:
    """End one session (logout)."""
    session.execute(
        update(UserSession)
        .where(UserSession.token_hash == _token_hash(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_sessions(session: Session, user_id: int, now: datetime) -> int:
    """End every session of a user not ended yet; returns how many."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def revoke_user_sessions(session: Session, email: str, now: datetime) -> int:
    """End every session of the account with this address (log it out everywhere)."""
    return revoke_sessions(session, get_user(session, email).id, now)


# Whole use cases for the dashboard, each in its own transaction; the users they return are detached
# (their columns stay readable after the session closes).


def log_in(
    engine: Engine,
    email: str,
    password: str,
    *,
    account_key: str,
    client_key: str,
    now: datetime,
    limits: LoginLimits,
) -> User | None:
    """:func:`attempt_login` committed (a failure is recorded even though None is returned)."""
    with write_transaction(engine) as session:
        user = attempt_login(
            session, email, password, account_key=account_key, client_key=client_key, now=now, limits=limits
        )
        if user is not None:
            session.flush()
            session.expunge(user)
        return user


def start_session(
    engine: Engine, user: User, now: datetime, lifetime: timedelta, replacing: str | None
) -> str:
    """Open a session for ``user``, revoking ``replacing`` (the browser's previous one); returns the token."""
    with write_transaction(engine) as session:
        if replacing is not None:
            revoke_session(session, replacing, now)
        return open_session(session, user, now, lifetime)


def end_session(engine: Engine, token: str, now: datetime) -> None:
    """Revoke one session (logout): a copy of its cookie stops working."""
    with write_transaction(engine) as session:
        revoke_session(session, token, now)


def live_session_user(engine: Engine, token: str, now: datetime, touch_every: timedelta) -> User | None:
    """The user of a live session, noting the visit when it was last seen ``touch_every`` ago or more."""
    with Session(engine, expire_on_commit=False) as session:
        found = session_owner(session, token, now)
        if found is None:
            return None
        user, last_seen = found
        session.expunge(user)
    if now - last_seen >= touch_every:
        with write_transaction(engine) as session:
            touch_session(session, token, now)
    return user
