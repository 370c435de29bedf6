"""Dashboard accounts: the table, argon2 password hashing and account management."""

from __future__ import annotations

import enum
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from wildmail.db import Base, UTCDateTime


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
    """A failed dashboard login, keyed by a keyed hash of (email, client address)."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index(None, "key_hash", "at"),)


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
    """Delete an account."""
    session.delete(get_user(session, email))


def set_password(session: Session, email: str, password: str) -> None:
    """Replace an account's password."""
    get_user(session, email).password_hash = hash_password(password)


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
