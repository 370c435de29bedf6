"""web archive: a campaign's public archive switch and each email's publication time (issue 21)

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from wildmail.core.db import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("archive_public", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("archive_all_emails", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_column("published_at")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("archive_all_emails")
        batch_op.drop_column("archive_public")
