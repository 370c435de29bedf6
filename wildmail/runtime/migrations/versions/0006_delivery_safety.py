"""delivery safety: relay alerts and suppression lifts (issue 14)

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wildmail.core.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A relay paused for a refusal about the relay itself: why, since when, how many pauses in a row.
    with op.batch_alter_table("relay_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("alert_since", wildmail.core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("pauses", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("relay_state", schema=None) as batch_op:
        batch_op.drop_column("pauses")
        batch_op.drop_column("alert_since")
        batch_op.drop_column("alert")
