"""delivery: deliveries outbox and relay state

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wildmail.core.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("email_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("smtp_phase", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", wildmail.core.db.UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", wildmail.core.db.UTCDateTime(), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("last_reply", sa.Text(), nullable=False),
        sa.Column("queued_at", wildmail.core.db.UTCDateTime(), nullable=False),
        sa.Column("sent_at", wildmail.core.db.UTCDateTime(), nullable=True),
        sa.Column("updated_at", wildmail.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["email_id"], ["emails.id"], name=op.f("fk_deliveries_email_id_emails"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_deliveries_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("subscriber_id", "email_id", name=op.f("uq_deliveries_subscriber_id_email_id")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveries_campaign_id_position_state"),
            ["campaign_id", "position", "state"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_deliveries_lease_expires_at"),
            ["lease_expires_at"],
            unique=False,
            postgresql_where=sa.text("state = 'sending'"),
            sqlite_where=sa.text("state = 'sending'"),
        )
        batch_op.create_index(
            batch_op.f("ix_deliveries_state_next_attempt_at"), ["state", "next_attempt_at"], unique=False
        )
    op.create_table(
        "relay_state",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", wildmail.core.db.UTCDateTime(), nullable=False),
        sa.Column("backoff_until", wildmail.core.db.UTCDateTime(), nullable=True),
        sa.Column("last_reply", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_relay_state")),
    )
    # The enrolments table belongs to 0002; the delivery engine adds the slot time zone.
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_column("timezone")
    op.drop_table("relay_state")
    op.drop_table("deliveries")
