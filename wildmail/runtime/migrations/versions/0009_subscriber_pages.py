"""subscriber pages: search indexes, list descriptions, pausing (issue 19)

* ``subscribers.email`` and ``subscribers.name`` compare byte by byte on PostgreSQL (``COLLATE "C"``,
  SQLite's BINARY already), so a prefix search is an index range whatever the database collation.
* ``ix_subscribers_name_key`` on ``(lower(name), id)``: search by name prefix, keyset pages.
* ``subscriber_lists.description``: what subscribers read about a list on the public pages.
* ``subscribers.paused_until`` (indexed): "pause for a month" on the preferences page.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wildmail.core.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _collate(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.batch_alter_table("subscribers") as batch:
        batch.alter_column("email", type_=sa.VARCHAR(320, collation=collation), existing_nullable=False)
        batch.alter_column("name", type_=sa.VARCHAR(200, collation=collation), existing_nullable=False)


def upgrade() -> None:
    _collate("C")
    with op.batch_alter_table("subscriber_lists") as batch:
        batch.add_column(sa.Column("description", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("paused_until", wildmail.core.db.UTCDateTime(), nullable=True))
    op.create_index(op.f("ix_subscribers_paused_until"), "subscribers", ["paused_until"])
    op.create_index("ix_subscribers_name_key", "subscribers", [sa.text("lower(name)"), "id"])


def downgrade() -> None:
    op.drop_index("ix_subscribers_name_key", table_name="subscribers")
    op.drop_index(op.f("ix_subscribers_paused_until"), table_name="subscribers")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("paused_until")
    with op.batch_alter_table("subscriber_lists") as batch:
        batch.drop_column("description")
    _collate(None)
