"""block data: registry (buildings, dwellings, people, rentals, entities, care tags, changes, area counts),
ingest sources, batches and quarantine, grid-worker tasks

Revision ID: 0007_block_data
Revises: 0006_events
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_block_data"
down_revision = "0006_events"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "ingest_source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("system", sa.String(length=128), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("contact", sa.String(length=128), nullable=True),
        sa.Column("record_kind", sa.String(length=16), nullable=False),
        sa.Column("spec_yaml", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_source")),
        sa.UniqueConstraint("name", name=op.f("uq_ingest_source_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_ingest_source_token_hash")),
    )
    op.create_table(
        "reg_area_count",
        sa.Column("area_code", sa.String(length=15), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("area_code", "metric", name=op.f("pk_reg_area_count")),
    )
    op.create_table(
        "reg_building",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("address_text", sa.Text(), nullable=False),
        sa.Column("use", sa.String(length=16), nullable=True),
        sa.Column("floors", sa.Integer(), nullable=True),
        sa.Column("structure", sa.String(length=16), nullable=True),
        sa.Column("street_code", sa.String(length=15), nullable=True),
        sa.Column("community_code", sa.String(length=15), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("seen_batch_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_building")),
        sa.UniqueConstraint("code", name=op.f("uq_reg_building_code")),
    )
    with op.batch_alter_table("reg_building", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reg_building_community_code"), ["community_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_building_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_building_street_code"), ["street_code"], unique=False)

    op.create_table(
        "reg_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("record_kind", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_change")),
    )
    with op.batch_alter_table("reg_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reg_change_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_change_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_change_kind"), ["kind"], unique=False)

    op.create_table(
        "reg_dwelling",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("building_code", sa.String(length=40), nullable=True),
        sa.Column("address_text", sa.Text(), nullable=False),
        sa.Column("use", sa.String(length=16), nullable=False),
        sa.Column("street_code", sa.String(length=15), nullable=True),
        sa.Column("community_code", sa.String(length=15), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("seen_batch_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_dwelling")),
        sa.UniqueConstraint("code", name=op.f("uq_reg_dwelling_code")),
    )
    with op.batch_alter_table("reg_dwelling", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reg_dwelling_building_code"), ["building_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_dwelling_community_code"), ["community_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_dwelling_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_dwelling_street_code"), ["street_code"], unique=False)

    op.create_table(
        "reg_legal_entity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credit_code", sa.String(length=32), nullable=False),
        sa.Column("credit_code_valid", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("legal_representative", sa.String(length=64), nullable=True),
        sa.Column("registered_capital_wan", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("established_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("industry", sa.String(length=64), nullable=True),
        sa.Column("registered_address_text", sa.Text(), nullable=True),
        sa.Column("registered_address_code", sa.String(length=40), nullable=True),
        sa.Column("operating_address_text", sa.Text(), nullable=False),
        sa.Column("operating_address_code", sa.String(length=40), nullable=True),
        sa.Column("risk_level", sa.String(length=8), nullable=True),
        sa.Column("three_small_kind", sa.String(length=24), nullable=True),
        sa.Column("street_code", sa.String(length=15), nullable=True),
        sa.Column("community_code", sa.String(length=15), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("seen_batch_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_legal_entity")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_reg_legal_entity_credit_code")),
    )
    with op.batch_alter_table("reg_legal_entity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reg_legal_entity_community_code"), ["community_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reg_legal_entity_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reg_legal_entity_operating_address_code"), ["operating_address_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reg_legal_entity_street_code"), ["street_code"], unique=False)

    op.create_table(
        "reg_person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=True),
        sa.Column("id_number_enc", sa.Text(), nullable=True),
        sa.Column("id_valid", sa.Boolean(), nullable=False),
        sa.Column("doc_type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("household_type", sa.String(length=16), nullable=True),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("dwelling_code", sa.String(length=40), nullable=True),
        sa.Column("address_text", sa.Text(), nullable=True),
        sa.Column("address_score", sa.Float(), nullable=True),
        sa.Column("move_in_date", sa.Date(), nullable=True),
        sa.Column("moved_out_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("street_code", sa.String(length=15), nullable=True),
        sa.Column("community_code", sa.String(length=15), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("seen_batch_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_person")),
        sa.UniqueConstraint("id_hash", name=op.f("uq_reg_person_id_hash")),
    )
    with op.batch_alter_table("reg_person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reg_person_community_code"), ["community_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_person_dwelling_code"), ["dwelling_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_person_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_person_phone_hash"), ["phone_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_person_street_code"), ["street_code"], unique=False)

    op.create_table(
        "reg_rental",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_key", sa.String(length=64), nullable=False),
        sa.Column("dwelling_code", sa.String(length=40), nullable=True),
        sa.Column("address_text", sa.Text(), nullable=False),
        sa.Column("landlord_name", sa.String(length=64), nullable=False),
        sa.Column("landlord_id_hash", sa.String(length=64), nullable=True),
        sa.Column("landlord_id_enc", sa.Text(), nullable=True),
        sa.Column("landlord_phone_enc", sa.Text(), nullable=True),
        sa.Column("landlord_phone_hash", sa.String(length=64), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("declared_occupants", sa.Integer(), nullable=True),
        sa.Column("street_code", sa.String(length=15), nullable=True),
        sa.Column("community_code", sa.String(length=15), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("seen_batch_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("identity_key", name=op.f("uq_reg_rental_identity_key")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_rental")),
    )
    with op.batch_alter_table("reg_rental", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reg_rental_community_code"), ["community_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_rental_dwelling_code"), ["dwelling_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_rental_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reg_rental_landlord_id_hash"), ["landlord_id_hash"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reg_rental_street_code"), ["street_code"], unique=False)

    op.create_table(
        "task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("street_code", sa.String(length=15), nullable=True),
        sa.Column("community_code", sa.String(length=15), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("what_to_check", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=True),
        sa.Column("corrected", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("photo_sha256", sa.String(length=64), nullable=True),
        sa.Column("answered_by_user_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_community_code"), ["community_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_rule"), ["rule"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_street_code"), ["street_code"], unique=False)

    op.create_table(
        "ingest_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("merged", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("next_row", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"], ["ingest_source.id"], name=op.f("fk_ingest_batch_source_id_ingest_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_batch")),
    )
    with op.batch_alter_table("ingest_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_batch_file_sha256"), ["file_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_batch_source_id"), ["source_id"], unique=False)

    op.create_table(
        "reg_care_tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("care_every_days", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["reg_person.id"], name=op.f("fk_reg_care_tag_person_id_reg_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_care_tag")),
    )
    with op.batch_alter_table("reg_care_tag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reg_care_tag_person_id"), ["person_id"], unique=False)

    op.create_table(
        "reg_rental_tenant",
        sa.Column("rental_id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["reg_person.id"], name=op.f("fk_reg_rental_tenant_person_id_reg_person")
        ),
        sa.ForeignKeyConstraint(
            ["rental_id"], ["reg_rental.id"], name=op.f("fk_reg_rental_tenant_rental_id_reg_rental")
        ),
        sa.PrimaryKeyConstraint("rental_id", "id_hash", name=op.f("pk_reg_rental_tenant")),
    )
    with op.batch_alter_table("reg_rental_tenant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reg_rental_tenant_person_id"), ["person_id"], unique=False)

    op.create_table(
        "ingest_quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("row_id", sa.String(length=64), nullable=True),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_batch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["ingest_batch.id"], name=op.f("fk_ingest_quarantine_batch_id_ingest_batch")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_quarantine")),
    )
    with op.batch_alter_table("ingest_quarantine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_quarantine_batch_id"), ["batch_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("ingest_quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_quarantine_batch_id"))

    op.drop_table("ingest_quarantine")
    with op.batch_alter_table("reg_rental_tenant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_rental_tenant_person_id"))

    op.drop_table("reg_rental_tenant")
    with op.batch_alter_table("reg_care_tag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_care_tag_person_id"))

    op.drop_table("reg_care_tag")
    with op.batch_alter_table("ingest_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_batch_source_id"))
        batch_op.drop_index(batch_op.f("ix_ingest_batch_file_sha256"))

    op.drop_table("ingest_batch")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_street_code"))
        batch_op.drop_index(batch_op.f("ix_task_state"))
        batch_op.drop_index(batch_op.f("ix_task_rule"))
        batch_op.drop_index(batch_op.f("ix_task_grid_code"))
        batch_op.drop_index(batch_op.f("ix_task_community_code"))
        batch_op.drop_index(batch_op.f("ix_task_batch_id"))

    op.drop_table("task")
    with op.batch_alter_table("reg_rental", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_rental_street_code"))
        batch_op.drop_index(batch_op.f("ix_reg_rental_landlord_id_hash"))
        batch_op.drop_index(batch_op.f("ix_reg_rental_grid_code"))
        batch_op.drop_index(batch_op.f("ix_reg_rental_dwelling_code"))
        batch_op.drop_index(batch_op.f("ix_reg_rental_community_code"))

    op.drop_table("reg_rental")
    with op.batch_alter_table("reg_person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_person_street_code"))
        batch_op.drop_index(batch_op.f("ix_reg_person_phone_hash"))
        batch_op.drop_index(batch_op.f("ix_reg_person_grid_code"))
        batch_op.drop_index(batch_op.f("ix_reg_person_dwelling_code"))
        batch_op.drop_index(batch_op.f("ix_reg_person_community_code"))

    op.drop_table("reg_person")
    with op.batch_alter_table("reg_legal_entity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_legal_entity_street_code"))
        batch_op.drop_index(batch_op.f("ix_reg_legal_entity_operating_address_code"))
        batch_op.drop_index(batch_op.f("ix_reg_legal_entity_grid_code"))
        batch_op.drop_index(batch_op.f("ix_reg_legal_entity_community_code"))

    op.drop_table("reg_legal_entity")
    with op.batch_alter_table("reg_dwelling", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_dwelling_street_code"))
        batch_op.drop_index(batch_op.f("ix_reg_dwelling_grid_code"))
        batch_op.drop_index(batch_op.f("ix_reg_dwelling_community_code"))
        batch_op.drop_index(batch_op.f("ix_reg_dwelling_building_code"))

    op.drop_table("reg_dwelling")
    with op.batch_alter_table("reg_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_change_kind"))
        batch_op.drop_index(batch_op.f("ix_reg_change_grid_code"))
        batch_op.drop_index(batch_op.f("ix_reg_change_batch_id"))

    op.drop_table("reg_change")
    with op.batch_alter_table("reg_building", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_building_street_code"))
        batch_op.drop_index(batch_op.f("ix_reg_building_grid_code"))
        batch_op.drop_index(batch_op.f("ix_reg_building_community_code"))

    op.drop_table("reg_building")
    op.drop_table("reg_area_count")
    op.drop_table("ingest_source")
