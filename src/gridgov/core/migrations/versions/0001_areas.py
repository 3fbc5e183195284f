"""areas: district, street, community, grid

Revision ID: 0001_areas
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_areas"
down_revision = None
branch_labels = None
depends_on = None


def _area_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("code", sa.String(15), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("geometry", sa.Text(), nullable=False),
        sa.Column("area_km2", sa.Float(), nullable=False),
        sa.Column("centroid_lon", sa.Float(), nullable=False),
        sa.Column("centroid_lat", sa.Float(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "area_district",
        *_area_columns(),
        sa.Column("parent_code", sa.String(12), nullable=False),
    )
    op.create_table(
        "area_street",
        *_area_columns(),
        sa.Column("district_code", sa.String(15), sa.ForeignKey("area_district.code"), nullable=False),
    )
    op.create_index("ix_area_street_district_code", "area_street", ["district_code"])
    op.create_table(
        "area_community",
        *_area_columns(),
        sa.Column("street_code", sa.String(15), sa.ForeignKey("area_street.code"), nullable=False),
        sa.Column("short_name", sa.String(32), nullable=False),
        sa.Column("anchor_lon", sa.Float(), nullable=True),
        sa.Column("anchor_lat", sa.Float(), nullable=True),
        sa.Column("anchor_suspect", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_area_community_street_code", "area_community", ["street_code"])
    op.create_table(
        "area_grid",
        *_area_columns(),
        sa.Column("community_code", sa.String(15), sa.ForeignKey("area_community.code"), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("density_weight", sa.Float(), nullable=False),
    )
    op.create_index("ix_area_grid_community_code", "area_grid", ["community_code"])


def downgrade() -> None:
    op.drop_table("area_grid")
    op.drop_table("area_community")
    op.drop_table("area_street")
    op.drop_table("area_district")
