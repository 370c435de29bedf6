"""frequency cap: one email per cadence from all series together (issue 16)

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Per list: at most one email per this many days to a member from all running series together.
    with op.batch_alter_table("subscriber_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frequency_cap_days", sa.Integer(), server_default="7", nullable=False))
    # Why an enrolment's next send was postponed ("frequency cap"), empty otherwise.
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held", sa.String(length=32), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_column("held")
    with op.batch_alter_table("subscriber_lists", schema=None) as batch_op:
        batch_op.drop_column("frequency_cap_days")
