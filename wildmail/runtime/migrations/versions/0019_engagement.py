"""engagement: send-time optimisation and sunset/re-engagement (issue 20)

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from wildmail.core.db import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("subscriber_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sunset_after", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("sunset_wait_days", sa.Integer(), server_default="14", nullable=False))
        batch_op.add_column(
            sa.Column("sunset_unknown", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("list_memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inactive_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sto_enabled", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("sto_window_start", sa.Integer(), server_default="7", nullable=False))
        batch_op.add_column(sa.Column("sto_window_end", sa.Integer(), server_default="20", nullable=False))
        batch_op.add_column(sa.Column("sto_key", sa.String(length=64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("sto_since", UTCDateTime(), nullable=True))
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sto_arm", sa.String(length=8), server_default="", nullable=False))
        batch_op.add_column(sa.Column("sto_hour", sa.Integer(), nullable=True))
    op.create_table(
        "engagement_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_engagement_cursor")),
    )
    op.create_table(
        "send_time_profiles",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("hours", JSON, nullable=False),
        sa.Column("human_events", sa.Integer(), nullable=False),
        sa.Column("machine_opens", sa.Integer(), nullable=False),
        sa.Column("preferred_hour", sa.Integer(), nullable=True),
        sa.Column("last_human_at", UTCDateTime(), nullable=True),
        sa.Column("last_machine_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_send_time_profiles_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", name=op.f("pk_send_time_profiles")),
    )
    op.create_table(
        "reengagements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("silent", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("asked_at", UTCDateTime(), nullable=True),
        sa.Column("deadline", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["subscriber_lists.id"],
            name=op.f("fk_reengagements_list_id_subscriber_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_reengagements_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reengagements")),
    )
    op.create_index(op.f("ix_reengagements_campaign_id"), "reengagements", ["campaign_id"], unique=False)
    op.create_index(op.f("ix_reengagements_state"), "reengagements", ["state"], unique=False)
    op.create_index(
        op.f("ix_reengagements_subscriber_id_list_id"),
        "reengagements",
        ["subscriber_id", "list_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("reengagements")
    op.drop_table("send_time_profiles")
    op.drop_table("engagement_cursor")
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_column("sto_hour")
        batch_op.drop_column("sto_arm")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for name in ("sto_since", "sto_key", "sto_window_end", "sto_window_start", "sto_enabled"):
            batch_op.drop_column(name)
    with op.batch_alter_table("list_memberships", schema=None) as batch_op:
        batch_op.drop_column("inactive_at")
    with op.batch_alter_table("subscriber_lists", schema=None) as batch_op:
        for name in ("sunset_unknown", "sunset_wait_days", "sunset_after"):
            batch_op.drop_column(name)
