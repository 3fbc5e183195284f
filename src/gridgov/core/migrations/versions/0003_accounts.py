"""accounts: org units, users, web sessions, API tokens, login throttle

Revision ID: 0003_accounts
Revises: 0002_audit
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_accounts"
down_revision = "0002_audit"
branch_labels = None
depends_on = None

AWARE = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "org_unit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("area_code", sa.String(15), nullable=True),
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), sa.ForeignKey("org_unit.id"), nullable=True),
        sa.Column("scope_level", sa.String(16), nullable=False),
        sa.Column("scope_codes", sa.Text(), nullable=False),
        sa.Column("phone_encrypted", sa.Text(), nullable=True),
        sa.Column("phone_hash", sa.String(64), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("last_login_at", AWARE, nullable=True),
    )
    op.create_index("ix_user_account_org_unit_id", "user_account", ["org_unit_id"])
    op.create_index("ix_user_account_phone_hash", "user_account", ["phone_hash"])
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("expires_at", AWARE, nullable=False),
        sa.Column("client_address", sa.String(64), nullable=True),
        sa.Column("revoked_at", AWARE, nullable=True),
    )
    op.create_index("ix_web_session_user_id", "web_session", ["user_id"])
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("expires_at", AWARE, nullable=False),
        sa.Column("last_used_at", AWARE, nullable=True),
        sa.Column("revoked_at", AWARE, nullable=True),
    )
    op.create_index("ix_api_token_user_id", "api_token", ["user_id"])
    op.create_table(
        "login_throttle",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", AWARE, nullable=True),
        sa.Column("locked_until", AWARE, nullable=True),
    )


def downgrade() -> None:
    for table in ("login_throttle", "api_token", "web_session", "user_account", "org_unit"):
        op.drop_table(table)
