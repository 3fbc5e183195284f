"""verification tasks: one open task per rule and target (open_slot), the facts a rule saw (dedupe_key),
who answered and the photo's type; per-rule on/off switches (task_rule_setting)

Revision ID: 0008_task_rules
Revises: 0007_block_data
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_task_rules"
down_revision = "0007_block_data"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_rule_setting",
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("rule", name=op.f("pk_task_rule_setting")),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("open_slot", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("answered_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("photo_mime", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(
            "uq_task_open_slot", ["rule", "target_kind", "target_id", "open_slot"]
        )
        batch_op.create_index("ix_task_target", ["target_kind", "target_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_target")
        batch_op.drop_constraint("uq_task_open_slot", type_="unique")
        batch_op.drop_column("photo_mime")
        batch_op.drop_column("answered_by")
        batch_op.drop_column("open_slot")
        batch_op.drop_column("dedupe_key")
    op.drop_table("task_rule_setting")
