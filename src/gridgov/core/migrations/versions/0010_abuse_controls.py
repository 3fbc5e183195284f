"""abuse controls: the login throttle counts per username *and* client address; an event's access code

Revision ID: 0010_abuse_controls
Revises: 0009_identity_review
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_abuse_controls"
down_revision = "0009_identity_review"
branch_labels = None
depends_on = None

AWARE = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Failure counts are short-lived (15 minutes): the table is made anew with its wider key.
    op.drop_table("login_throttle")
    op.create_table(
        "login_throttle",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("client_address", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", AWARE, nullable=True),
        sa.Column("last_failure_at", AWARE, nullable=True),
        sa.Column("locked_until", AWARE, nullable=True),
    )
    with op.batch_alter_table("event") as batch:
        batch.add_column(sa.Column("access_code_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("event") as batch:
        batch.drop_column("access_code_hash")
    op.drop_table("login_throttle")
    op.create_table(
        "login_throttle",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", AWARE, nullable=True),
        sa.Column("locked_until", AWARE, nullable=True),
    )
