"""address library: change history, a change number on every address

Revision ID: 0005_address_history
Revises: 0004_address
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_address_history"
down_revision = "0004_address"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot add columns with constraints in place everywhere; PostgreSQL alters directly.
    with op.batch_alter_table("std_address") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_std_address_revision", "std_address", ["revision"])
    # A former name is a whole former address text (up to 256 characters), not just a short common name.
    with op.batch_alter_table("address_alias") as batch:
        batch.alter_column(
            "alias", type_=sa.String(256), existing_type=sa.String(128), existing_nullable=False
        )
    op.create_table(
        "std_address_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("address_id", sa.Integer(), sa.ForeignKey("std_address.id"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_std_address_history_address_id", "std_address_history", ["address_id"])


def downgrade() -> None:
    op.drop_table("std_address_history")
    with op.batch_alter_table("address_alias") as batch:
        batch.alter_column(
            "alias", type_=sa.String(128), existing_type=sa.String(256), existing_nullable=False
        )
    op.drop_index("ix_std_address_revision", table_name="std_address")
    with op.batch_alter_table("std_address") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("revision")
