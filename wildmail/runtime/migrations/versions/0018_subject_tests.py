"""subject tests, resend rules, and deliveries unique per (subscriber, email, kind) (issue 20)

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from wildmail.core.db import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subject_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("criterion", sa.String(length=24), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("max_sample", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("winner_variant_id", sa.Integer(), nullable=True),
        sa.Column("looked_at", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_subject_tests_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["email_id"], ["emails.id"], name=op.f("fk_subject_tests_email_id_emails"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_tests")),
        sa.UniqueConstraint("email_id", name=op.f("uq_subject_tests_email_id")),
    )
    op.create_table(
        "subject_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("preheader", sa.String(length=300), nullable=False),
        sa.Column("compiled_html", sa.Text(), nullable=False),
        sa.Column("compiled_text", sa.Text(), nullable=False),
        sa.Column("compiled_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["email_id"], ["emails.id"], name=op.f("fk_subject_variants_email_id_emails"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["test_id"],
            ["subject_tests.id"],
            name=op.f("fk_subject_variants_test_id_subject_tests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_variants")),
        sa.UniqueConstraint(
            "email_id", "role", "position", name=op.f("uq_subject_variants_email_id_role_position")
        ),
    )
    op.create_table(
        "resend_rules",
        sa.Column("email_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("after_days", sa.Integer(), nullable=False),
        sa.Column("include_unknown", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_resend_rules_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["email_id"], ["emails.id"], name=op.f("fk_resend_rules_email_id_emails"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["subject_variants.id"],
            name=op.f("fk_resend_rules_variant_id_subject_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("email_id", name=op.f("pk_resend_rules")),
    )
    # A resend is its own delivery: unique per (subscriber, email, kind). SQLite changes a
    # constraint by copying the table (batch mode); PostgreSQL alters it in place.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="first", nullable=False))
        batch_op.add_column(sa.Column("variant_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint("uq_deliveries_subscriber_id_email_id", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_deliveries_subscriber_id_email_id_kind"), ["subscriber_id", "email_id", "kind"]
        )
        batch_op.create_index(
            batch_op.f("ix_deliveries_variant_id"),
            ["variant_id"],
            unique=False,
            postgresql_where=sa.text("variant_id IS NOT NULL"),
            sqlite_where=sa.text("variant_id IS NOT NULL"),
        )


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE kind <> 'first'")  # the old constraint allows one per email
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_variant_id"))
        batch_op.drop_constraint("uq_deliveries_subscriber_id_email_id_kind", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_deliveries_subscriber_id_email_id"), ["subscriber_id", "email_id"]
        )
        batch_op.drop_column("variant_id")
        batch_op.drop_column("kind")
    op.drop_table("resend_rules")
    op.drop_table("subject_variants")
    op.drop_table("subject_tests")
