"""articles and design: article title, kept front matter, locale and branding per campaign (issue 18)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wildmail.core.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT_COLUMNS = (
    ("article_title", 300),
    ("locale", 35),
    ("logo_url", 2000),
    ("brand_colour", 16),
    ("organisation", 200),
    ("hero_image", 2000),
    ("hero_alt", 300),
)


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for name, length in TEXT_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), server_default="", nullable=False))
        for name in ("article_metadata", "images"):
            batch_op.add_column(
                sa.Column(name, wildmail.core.db.JSONType, server_default="{}", nullable=False)
            )
    # Until now the internal name was the title subscribers saw; keep showing it for old campaigns.
    op.execute("UPDATE campaigns SET article_title = title")


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("images")
        batch_op.drop_column("article_metadata")
        for name, _length in reversed(TEXT_COLUMNS):
            batch_op.drop_column(name)
