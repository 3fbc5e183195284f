"""identity review queue (doubtful merges of people known without a document number), and a person's name
key (the name without spaces) with the name key + birth date index that finds their candidates; indexes
counting open tasks per area

Revision ID: 0009_identity_review
Revises: 0008_task_rules
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_identity_review"
down_revision = "0008_task_rules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reg_identity_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_kind", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_identity_review")),
    )
    with op.batch_alter_table("reg_identity_review", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reg_identity_review_candidate_id"), ["candidate_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reg_identity_review_record_id"), ["record_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_identity_review_status"), ["status"], unique=False)
    with op.batch_alter_table("reg_person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_reg_person_name_key_birth", ["name_key", "birth_date"], unique=False)
    # People imported before: their name key from their name (Chinese names carry no spaces).
    op.execute("UPDATE reg_person SET name_key = REPLACE(name, ' ', '')")
    # Open verification tasks counted per area (area statistics) without reading the task rows.
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_state_street", ["state", "street_code", "community_code"], unique=False
        )
        batch_op.create_index(
            "ix_task_state_community", ["state", "community_code", "grid_code"], unique=False
        )
        batch_op.create_index("ix_task_state_grid", ["state", "grid_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_state_grid")
        batch_op.drop_index("ix_task_state_community")
        batch_op.drop_index("ix_task_state_street")
    with op.batch_alter_table("reg_person", schema=None) as batch_op:
        batch_op.drop_index("ix_reg_person_name_key_birth")
        batch_op.drop_column("name_key")
    with op.batch_alter_table("reg_identity_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_identity_review_status"))
        batch_op.drop_index(batch_op.f("ix_reg_identity_review_record_id"))
        batch_op.drop_index(batch_op.f("ix_reg_identity_review_candidate_id"))
    op.drop_table("reg_identity_review")
