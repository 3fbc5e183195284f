"""events: versioned categories, events and their steps, photos, the whistle; org units gain level and parent

Revision ID: 0006_events
Revises: 0005_address_history
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_events"
down_revision = "0005_address_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_category",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("major_code", sa.String(length=4), nullable=False),
        sa.Column("major_name", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=True),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=False),
        sa.Column("limit_value", sa.Float(), nullable=False),
        sa.Column("limit_unit", sa.String(length=16), nullable=False),
        sa.Column("closing", sa.Text(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("whistle_hint", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_category")),
        sa.UniqueConstraint("code", "version", name="uq_event_category_code_version"),
    )
    op.create_index(op.f("ix_event_category_code"), "event_category", ["code"], unique=False)
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("subtype_code", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("address_text", sa.Text(), nullable=True),
        sa.Column("std_address_code", sa.String(length=40), nullable=True),
        sa.Column("street_code", sa.String(length=15), nullable=True),
        sa.Column("community_code", sa.String(length=15), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("reporter_name", sa.String(length=64), nullable=True),
        sa.Column("reporter_phone", sa.String(length=200), nullable=True),
        sa.Column("reporter_phone_hash", sa.String(length=64), nullable=True),
        sa.Column("reporter_user_id", sa.Integer(), nullable=True),
        sa.Column("handling_unit_code", sa.String(length=32), nullable=True),
        sa.Column("handling_level", sa.String(length=16), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_status", sa.String(length=8), nullable=False),
        sa.Column("reworks", sa.Integer(), nullable=False),
        sa.Column("supervised", sa.Boolean(), nullable=False),
        sa.Column("extension_pending", sa.Float(), nullable=True),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_id"], ["event_category.id"], name=op.f("fk_event_category_id_event_category")
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"], ["event.id"], name=op.f("fk_event_duplicate_of_id_event")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_event_idempotency_key")),
        sa.UniqueConstraint("ticket", name=op.f("uq_event_ticket")),
    )
    op.create_index(op.f("ix_event_category_id"), "event", ["category_id"], unique=False)
    op.create_index(op.f("ix_event_community_code"), "event", ["community_code"], unique=False)
    op.create_index(op.f("ix_event_created_at"), "event", ["created_at"], unique=False)
    op.create_index(op.f("ix_event_due_at"), "event", ["due_at"], unique=False)
    op.create_index(op.f("ix_event_grid_code"), "event", ["grid_code"], unique=False)
    op.create_index(op.f("ix_event_handling_unit_code"), "event", ["handling_unit_code"], unique=False)
    op.create_index(op.f("ix_event_reporter_phone_hash"), "event", ["reporter_phone_hash"], unique=False)
    op.create_index(op.f("ix_event_state"), "event", ["state"], unique=False)
    op.create_index(op.f("ix_event_street_code"), "event", ["street_code"], unique=False)
    op.create_index(op.f("ix_event_subtype_code"), "event", ["subtype_code"], unique=False)
    op.create_table(
        "event_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], name=op.f("fk_event_step_event_id_event")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_step")),
    )
    op.create_index(op.f("ix_event_step_event_id"), "event_step", ["event_id"], unique=False)
    op.create_table(
        "whistle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("ground", sa.String(length=24), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("hard_case", sa.Boolean(), nullable=False),
        sa.Column("blown_by", sa.String(length=128), nullable=False),
        sa.Column("blown_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], name=op.f("fk_whistle_event_id_event")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whistle")),
    )
    op.create_index(op.f("ix_whistle_event_id"), "whistle", ["event_id"], unique=False)
    op.create_table(
        "event_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("mime", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], name=op.f("fk_event_photo_event_id_event")),
        sa.ForeignKeyConstraint(
            ["step_id"], ["event_step.id"], name=op.f("fk_event_photo_step_id_event_step")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_photo")),
    )
    op.create_index(op.f("ix_event_photo_event_id"), "event_photo", ["event_id"], unique=False)
    op.create_index(op.f("ix_event_photo_sha256"), "event_photo", ["sha256"], unique=False)
    op.create_table(
        "whistle_summons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("whistle_id", sa.Integer(), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=False),
        sa.Column("sign_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["whistle_id"], ["whistle.id"], name=op.f("fk_whistle_summons_whistle_id_whistle")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whistle_summons")),
    )
    op.create_index(
        op.f("ix_whistle_summons_department_code"), "whistle_summons", ["department_code"], unique=False
    )
    op.create_index(op.f("ix_whistle_summons_whistle_id"), "whistle_summons", ["whistle_id"], unique=False)
    op.create_table(
        "open311_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_open311_key_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_open311_key_name")),
    )
    # batch mode: SQLite rebuilds the table where it cannot alter in place; PostgreSQL alters directly.
    with op.batch_alter_table("org_unit") as batch:
        batch.add_column(sa.Column("name_en", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("level", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("parent_code", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.create_index(op.f("ix_org_unit_parent_code"), "org_unit", ["parent_code"], unique=False)


def downgrade() -> None:
    op.drop_table("open311_key")
    op.drop_index(op.f("ix_org_unit_parent_code"), table_name="org_unit")
    with op.batch_alter_table("org_unit") as batch:
        batch.drop_column("active")
        batch.drop_column("parent_code")
        batch.drop_column("level")
        batch.drop_column("name_en")
    op.drop_index(op.f("ix_whistle_summons_whistle_id"), table_name="whistle_summons")
    op.drop_index(op.f("ix_whistle_summons_department_code"), table_name="whistle_summons")
    op.drop_table("whistle_summons")
    op.drop_index(op.f("ix_event_photo_sha256"), table_name="event_photo")
    op.drop_index(op.f("ix_event_photo_event_id"), table_name="event_photo")
    op.drop_table("event_photo")
    op.drop_index(op.f("ix_whistle_event_id"), table_name="whistle")
    op.drop_table("whistle")
    op.drop_index(op.f("ix_event_step_event_id"), table_name="event_step")
    op.drop_table("event_step")
    op.drop_index(op.f("ix_event_subtype_code"), table_name="event")
    op.drop_index(op.f("ix_event_street_code"), table_name="event")
    op.drop_index(op.f("ix_event_state"), table_name="event")
    op.drop_index(op.f("ix_event_reporter_phone_hash"), table_name="event")
    op.drop_index(op.f("ix_event_handling_unit_code"), table_name="event")
    op.drop_index(op.f("ix_event_grid_code"), table_name="event")
    op.drop_index(op.f("ix_event_due_at"), table_name="event")
    op.drop_index(op.f("ix_event_created_at"), table_name="event")
    op.drop_index(op.f("ix_event_community_code"), table_name="event")
    op.drop_index(op.f("ix_event_category_id"), table_name="event")
    op.drop_table("event")
    op.drop_index(op.f("ix_event_category_code"), table_name="event_category")
    op.drop_table("event_category")
