"""donations: money received, attributed to the email that led to it (issue 21)

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from wildmail.core.db import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "donations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("donated_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("utm_campaign", sa.String(length=100), nullable=False),
        sa.Column("match", sa.String(length=24), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("email_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_donations_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["email_id"], ["emails.id"], name=op.f("fk_donations_email_id_emails"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_donations_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_donations_subscriber_id_subscribers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donations")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_donations_source_external_id")),
    )
    op.create_index(op.f("ix_donations_campaign_id_email_id"), "donations", ["campaign_id", "email_id"])
    op.create_index(op.f("ix_donations_delivery_id"), "donations", ["delivery_id"])
    op.create_index(op.f("ix_donations_subscriber_id"), "donations", ["subscriber_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_donations_subscriber_id"), table_name="donations")
    op.drop_index(op.f("ix_donations_delivery_id"), table_name="donations")
    op.drop_index(op.f("ix_donations_campaign_id_email_id"), table_name="donations")
    op.drop_table("donations")
