"""child: the document-hash index also holds province and state, so that the province-wide
duplicate check of an import (children.duplicates_among, 10,000 hashes) reads the index alone
instead of every matching row (the import's own new drafts among them)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:52:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("child", schema=None) as batch_op:
        batch_op.drop_index("ix_child_id_hash")
        batch_op.create_index("ix_child_id_hash", ["id_hash", "province_code", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("child", schema=None) as batch_op:
        batch_op.drop_index("ix_child_id_hash")
        batch_op.create_index("ix_child_id_hash", ["id_hash"], unique=False)
