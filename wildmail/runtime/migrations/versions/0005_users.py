"""users: dashboard users, login failures and the stats rollup tables

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wildmail.core.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", wildmail.core.db.UTCDateTime(), nullable=False),
        sa.Column("last_login_at", wildmail.core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("at", wildmail.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_key_hash_at"), "login_failures", ["key_hash", "at"])
    op.create_table(
        "stats_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_stats_cursor")),
    )
    op.create_table(
        "stats_marks",
        sa.Column("delivery_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("marks", sa.Integer(), nullable=False),
        _fk("stats_marks", "delivery_id", "deliveries"),
        _fk("stats_marks", "campaign_id", "campaigns"),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_stats_marks")),
    )
    op.create_table(
        "stats_totals",
        sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        _fk("stats_totals", "campaign_id", "campaigns"),
        sa.PrimaryKeyConstraint("campaign_id", "position", "metric", name=op.f("pk_stats_totals")),
    )
    op.create_table(
        "stats_hourly",
        sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("hour", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        _fk("stats_hourly", "campaign_id", "campaigns"),
        sa.PrimaryKeyConstraint("campaign_id", "metric", "hour", name=op.f("pk_stats_hourly")),
    )
    op.create_table(
        "stats_links",
        sa.Column("link_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        _fk("stats_links", "link_id", "links"),
        _fk("stats_links", "campaign_id", "campaigns"),
        sa.PrimaryKeyConstraint("link_id", "metric", name=op.f("pk_stats_links")),
    )
    op.create_index(op.f("ix_stats_links_campaign_id"), "stats_links", ["campaign_id"])


def downgrade() -> None:
    for table in ("stats_links", "stats_hourly", "stats_totals", "stats_marks", "stats_cursor"):
        op.drop_table(table)
    op.drop_table("login_failures")
    op.drop_table("users")
