"""address library: standard addresses and aliases

Revision ID: 0004_address
Revises: 0003_accounts
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_address"
down_revision = "0003_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "std_address",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("std_address.id"), nullable=True),
        sa.Column("external_code", sa.String(40), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("district_text", sa.String(32), nullable=True),
        sa.Column("street_text", sa.String(32), nullable=True),
        sa.Column("community_text", sa.String(32), nullable=True),
        sa.Column("street_code", sa.String(15), nullable=True),
        sa.Column("community_code", sa.String(15), nullable=True),
        sa.Column("grid_code", sa.String(15), nullable=True),
        sa.Column("road", sa.String(64), nullable=True),
        sa.Column("house_number", sa.String(32), nullable=True),
        sa.Column("site_name", sa.String(64), nullable=True),
        sa.Column("site_kind", sa.String(16), nullable=True),
        sa.Column("building", sa.String(32), nullable=True),
        sa.Column("unit", sa.String(16), nullable=True),
        sa.Column("floor", sa.Integer(), nullable=True),
        sa.Column("room", sa.String(16), nullable=True),
        sa.Column("use", sa.String(16), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("replaced_by_id", sa.Integer(), sa.ForeignKey("std_address.id"), nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_std_address_parent_id", "std_address", ["parent_id"])
    op.create_index("ix_std_address_external_code", "std_address", ["external_code"])
    op.create_index("ix_std_address_community_code", "std_address", ["community_code"])
    op.create_index("ix_std_address_grid_code", "std_address", ["grid_code"])
    op.create_table(
        "address_alias",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("address_id", sa.Integer(), sa.ForeignKey("std_address.id"), nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
    )
    op.create_index("ix_address_alias_address_id", "address_alias", ["address_id"])
    op.create_index("ix_address_alias_alias", "address_alias", ["alias"])


def downgrade() -> None:
    op.drop_table("address_alias")
    op.drop_table("std_address")
