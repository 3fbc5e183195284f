"""Write-back of grid-worker verification (由"采"变"核", issue 6): what a task's answer does to its record.

Registered with ``tasks`` (``tasks.service.register_write_back``) when this module is imported — the tasks
package names it in its ``TARGET_PROVIDERS``, so the web app, the command line and the tests all get the
handlers without ``tasks`` importing ``ingest`` in code (it sits above us in the layering).

A **corrected** answer goes through the pipeline's own pieces: the values are checked with the same field
types as the mapping specs (resident ID check digit, phone, dates, whole numbers, code tables — a wrong one is
refused with the field named, before anything is written), an address is matched through the address
library as an import row's is (a text the library cannot place is refused), the area counts are kept with the
pipeline's own counters, and every changed field's lineage becomes ``"t<task id>"`` (shown as "网格员核查
任务 #<id>"). Each change leaves a ``reg_change`` row (``verified_correction``) naming the task and the
fields, never their values.

A **confirmed** answer changes no value: the lineage of the fields the task asked about (the rule names them
in ``evidence["fields"]``) becomes ``"t<task id>"``, so the record shows they were checked on site.

**Not found** means:

- a person: no longer lives there — ``status`` ``moved_out``, ``moved_out_on`` today; they leave the area's
  people counts (counted while resident);
- a rental: the letting has ended — ``end_date`` today (unless it ended earlier); the registration stays on
  record and in the ``rentals`` count, which counts registrations as the pipeline does;
- a legal entity: not operating at its address — ``status`` ``moved_out`` (the register's 迁出), which takes
  it out of the counts (entities are counted while active), as the pipeline does for a status change;
- a dwelling: ``use`` ``unknown``.

Both leave a ``reg_change`` row (``verified_not_found``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gridgov.core import crypto
from gridgov.core.clock import CHINA_TZ
from gridgov.core.clock import now as clock_now
from gridgov.core.errors import InvalidInput, NotFound
from gridgov.core.i18n import translate
from gridgov.core.identifiers import mask_name, mask_phone, mask_resident_id
from gridgov.ingest.mapping import FieldSpec, MappingSpec, map_row
from gridgov.ingest.models import Batch, Source
from gridgov.ingest.service import (
    ID_CONTEXT,
    PHONE_CONTEXT,
    _bump_counts,
    _count_entity,
    _count_person,
    describe_problem,
)
from gridgov.registry.models import Dwelling, LegalEntity, Person, RegistryChange, Rental, RentalTenant
from gridgov.tasks.models import Task
from gridgov.tasks.service import CorrectableField, TargetView, register_write_back

# Code tables of the corrections: the stored code itself, or its Chinese name as a form or a worker says it.
CODE_TABLES: Final[dict[str, dict[str, str]]] = {
    "sex": {"male": "male", "female": "female", "男": "male", "女": "female"},
    "household_type": {
        "registered": "registered",
        "floating": "floating",
        "户籍": "registered",
        "流动": "floating",
    },
    "entity_status": {
        "active": "active",
        "deregistered": "deregistered",
        "revoked": "revoked",
        "moved_out": "moved_out",
        "存续": "active",
        "注销": "deregistered",
        "吊销": "revoked",
        "迁出": "moved_out",
    },
    "risk": {"low": "low", "medium": "medium", "high": "high", "低": "low", "中": "medium", "高": "high"},
    "three_small": {
        "small_stall": "small_stall",
        "small_workshop": "small_workshop",
        "small_entertainment": "small_entertainment",
        "小档口": "small_stall",
        "小作坊": "small_workshop",
        "小娱乐场所": "small_entertainment",
    },
    "dwelling_use": {
        "owner_occupied": "owner_occupied",
        "rented": "rented",
        "vacant": "vacant",
        "commercial": "commercial",
        "自住": "owner_occupied",
        "出租": "rented",
        "空置": "vacant",
        "商用": "commercial",
    },
}

_TEXT: Final = ["strip", "half_width", "collapse_spaces"]
# Per target kind: field → (type, code table, max length, form input).
_FIELDS: Final[dict[str, dict[str, tuple[str, str | None, int | None, str]]]] = {
    "person": {
        "name": ("text", None, 64, "text"),
        "id_number": ("resident_id", None, None, "text"),
        "sex": ("code", "sex", None, "select"),
        "birth_date": ("date", None, None, "date"),
        "household_type": ("code", "household_type", None, "select"),
        "phone": ("phone", None, None, "tel"),
        "address": ("text", None, 200, "text"),
        "move_in_date": ("date", None, None, "date"),
    },
    "rental": {
        "landlord_name": ("text", None, 64, "text"),
        "landlord_phone": ("phone", None, None, "tel"),
        "declared_occupants": ("int", None, None, "number"),
        "end_date": ("date", None, None, "date"),
    },
    "entity": {
        "name": ("text", None, 200, "text"),
        "operating_address": ("text", None, 200, "text"),
        "status": ("code", "entity_status", None, "select"),
        "industry": ("text", None, 64, "text"),
        "legal_representative": ("text", None, 64, "text"),
        "risk_level": ("code", "risk", None, "select"),
        "three_small_kind": ("code", "three_small", None, "select"),
    },
    "dwelling": {"use": ("code", "dwelling_use", None, "select")},
}
# Dates a person cannot give from the future.
_NOT_AFTER_TODAY: Final = frozenset({"birth_date", "move_in_date"})


def field_label(name: str, lang: str) -> str:
    labels = {
        "name": translate("tasks.field.name", lang),
        "id_number": translate("tasks.field.id_number", lang),
        "sex": translate("tasks.field.sex", lang),
        "birth_date": translate("tasks.field.birth_date", lang),
        "household_type": translate("tasks.field.household_type", lang),
        "phone": translate("tasks.field.phone", lang),
        "address": translate("tasks.field.address", lang),
        "move_in_date": translate("tasks.field.move_in_date", lang),
        "status": translate("tasks.field.status", lang),
        "landlord_name": translate("tasks.field.landlord_name", lang),
        "landlord_phone": translate("tasks.field.landlord_phone", lang),
        "declared_occupants": translate("tasks.field.declared_occupants", lang),
        "start_date": translate("tasks.field.start_date", lang),
        "end_date": translate("tasks.field.end_date", lang),
        "tenants": translate("tasks.field.tenants", lang),
        "residents": translate("tasks.field.residents", lang),
        "operating_address": translate("tasks.field.operating_address", lang),
        "registered_address": translate("tasks.field.registered_address", lang),
        "credit_code": translate("tasks.field.credit_code", lang),
        "entity_type": translate("tasks.field.entity_type", lang),
        "industry": translate("tasks.field.industry", lang),
        "legal_representative": translate("tasks.field.legal_representative", lang),
        "risk_level": translate("tasks.field.risk_level", lang),
        "three_small_kind": translate("tasks.field.three_small_kind", lang),
        "use": translate("tasks.field.use", lang),
        "code": translate("tasks.field.code", lang),
    }
    return labels.get(name, name)


def code_label(table: str, code: str | None, lang: str) -> str:
    """A stored code as a person reads it."""
    if not code:
        return ""
    labels = {
        ("sex", "male"): translate("tasks.code.male", lang),
        ("sex", "female"): translate("tasks.code.female", lang),
        ("household_type", "registered"): translate("tasks.code.registered", lang),
        ("household_type", "floating"): translate("tasks.code.floating", lang),
        ("entity_status", "active"): translate("tasks.code.active", lang),
        ("entity_status", "deregistered"): translate("tasks.code.deregistered", lang),
        ("entity_status", "revoked"): translate("tasks.code.revoked", lang),
        ("entity_status", "moved_out"): translate("tasks.code.moved_out", lang),
        ("person_status", "resident"): translate("tasks.code.resident", lang),
        ("person_status", "moved_out"): translate("tasks.code.person_moved_out", lang),
        ("risk", "low"): translate("tasks.code.low", lang),
        ("risk", "medium"): translate("tasks.code.medium", lang),
        ("risk", "high"): translate("tasks.code.high", lang),
        ("three_small", "small_stall"): translate("tasks.code.small_stall", lang),
        ("three_small", "small_workshop"): translate("tasks.code.small_workshop", lang),
        ("three_small", "small_entertainment"): translate("tasks.code.small_entertainment", lang),
        ("dwelling_use", "owner_occupied"): translate("tasks.code.owner_occupied", lang),
        ("dwelling_use", "rented"): translate("tasks.code.rented", lang),
        ("dwelling_use", "vacant"): translate("tasks.code.vacant", lang),
        ("dwelling_use", "commercial"): translate("tasks.code.commercial", lang),
        ("dwelling_use", "unknown"): translate("tasks.code.unknown", lang),
    }
    return labels.get((table, code), code)


def correctable_fields(kind: str) -> Callable[[str], list[CorrectableField]]:
    def fields(lang: str) -> list[CorrectableField]:
        out = []
        for name, (_type, table, _max, form_input) in _FIELDS[kind].items():
            options: tuple[tuple[str, str], ...] = ()
            if table:
                codes = dict.fromkeys(CODE_TABLES[table].values())
                options = tuple((code, code_label(table, code, lang)) for code in codes)
            out.append(CorrectableField(name, field_label(name, lang), form_input, options))
        return out

    return fields


@lru_cache(maxsize=16)
def _spec(kind: str, lang: str) -> MappingSpec:
    """The corrections of a target kind as a mapping spec (its columns are the fields' labels, so a refusal
    names the field as the form shows it)."""
    fields = {}
    for name, (field_type, table, max_length, _input) in _FIELDS[kind].items():
        fields[name] = FieldSpec(
            column=field_label(name, lang),
            type=field_type,
            table=table,
            max_length=max_length,
            transforms=_TEXT,
            not_after="today" if name in _NOT_AFTER_TODAY else None,
        )
    # Built as it is, not validated as a source's spec: a correction names only the fields it corrects (a
    # source's spec must map the record's identity fields, which a grid worker does not correct here).
    return MappingSpec.model_construct(
        name="tasks.correction",
        title="网格员核查更正",
        department="-",
        system="gridgov",
        category="verification",
        record=kind,  # type: ignore[arg-type]
        row_id="task",
        fields=fields,
        code_tables=CODE_TABLES,
    )


def validate(kind: str, corrected: dict[str, Any], lang: str = "zh-CN") -> dict[str, Any]:
    """Typed corrected values of a ``kind`` record, checked like an import row; ``InvalidInput`` naming the
    first field that is wrong (or that cannot be corrected on this kind of record)."""
    known = _FIELDS[kind]
    for name in corrected:
        if name not in known:
            raise InvalidInput(translate("tasks.error.field_not_correctable", lang, field=name))
    spec = _spec(kind, lang)
    raw = {"task": "correction", **{spec.fields[n].column: str(v) for n, v in corrected.items()}}
    mapped = map_row(spec, raw)
    if mapped.problems:
        problem = mapped.problems[0]
        reason = describe_problem({"code": problem.code, "column": problem.column}, lang)
        raise InvalidInput(f"{reason} ({problem.field})", code="invalid_correction")
    return {name: mapped.values[name] for name in corrected}


def _match_address(session: Session, text: str, field: str, lang: str) -> dict[str, Any]:
    """An address through the library as the pipeline matches it; refused when the library cannot place it."""
    from gridgov.address.batch import cached_library, match_texts
    from gridgov.address.match import decide

    code, _text, _level, score, _decision, street, community, grid, _reason = match_texts(
        cached_library(session), [text]
    )[0]
    if not code or decide(float(score or 0)) == "reject":
        raise InvalidInput(
            translate("tasks.error.address_unknown", lang, field=field_label(field, lang)),
            code="invalid_correction",
        )
    return {
        "code": code,
        "score": float(score or 0),
        "street_code": street or None,
        "community_code": community or None,
        "grid_code": grid or None,
    }


def _today() -> date:
    return clock_now().astimezone(CHINA_TZ).date()


def _stamp(task: Task) -> str:
    return f"t{task.id}"


def _checked_fields(task: Task) -> list[str]:
    fields = (task.evidence or {}).get("fields")
    return [str(f) for f in fields] if isinstance(fields, list) else []


def _change(
    session: Session,
    task: Task,
    record_kind: str,
    record_id: int,
    grid: str | None,
    kind: str,
    details: dict[str, Any],
) -> None:
    session.add(
        RegistryChange(
            kind=kind,
            record_kind=record_kind,
            record_id=record_id,
            grid_code=grid,
            batch_id=None,
            at=clock_now(),
            details={"task": task.id, **details},
        )
    )


def _confirm(record: Any, task: Task) -> dict[str, Any]:
    lineage = dict(record.lineage or {})
    for name in _checked_fields(task) or ["verified"]:
        lineage[name] = _stamp(task)
    record.lineage = lineage
    record.updated_at = clock_now()
    return {}


# ---------------------------------------------------------------------------------------------------------
# People


def _values(record: Any) -> dict[str, Any]:
    """The record as the pipeline's counters see a row: every column (so a counter that learns a new
    metric — entities by type, say — counts a verified record the same way as an imported one)."""
    return {column.name: getattr(record, column.name) for column in type(record).__table__.columns}


def _count_resident(deltas: Counter[tuple[str, str]], values: dict[str, Any], sign: int) -> None:
    if values.get("status", "resident") == "resident":  # counted while living here
        _count_person(deltas, values, sign)


def write_back_person(
    session: Session, task: Task, answer: str, corrected: dict[str, Any], lang: str
) -> dict[str, Any]:
    person = session.get(Person, task.target_id)
    if person is None:
        raise NotFound(translate("tasks.error.target_gone", lang))
    if answer == "confirmed":
        return _confirm(person, task)
    before = _values(person)
    shown: dict[str, Any] = {}
    writes: dict[str, Any] = {}
    if answer == "not_found":
        writes = {"status": "moved_out", "moved_out_on": _today()}
        shown = {"status": "moved_out"}
    else:
        values = validate("person", corrected, lang)
        if "address" in values:
            placed = _match_address(session, values["address"], "address", lang)
            writes.update(
                address_text=values["address"],
                dwelling_code=placed["code"],
                # Checked on site by the grid worker: the address is now certain, whatever the text score.
                address_score=1.0,
                street_code=placed["street_code"],
                community_code=placed["community_code"],
                grid_code=placed["grid_code"],
            )
            shown["address"] = values["address"]
        if "id_number" in values:
            id_hash = crypto.lookup_hash(values["id_number"], "resident_id")
            other = session.scalar(select(Person.id).where(Person.id_hash == id_hash, Person.id != person.id))
            if other is not None:
                raise InvalidInput(translate("tasks.error.id_taken", lang), code="invalid_correction")
            writes.update(
                id_hash=id_hash, id_number_enc=crypto.encrypt(values["id_number"], ID_CONTEXT), id_valid=True
            )
            shown["id_number"] = mask_resident_id(values["id_number"])
        if "phone" in values:
            writes.update(
                phone_enc=crypto.encrypt(values["phone"], PHONE_CONTEXT),
                phone_hash=crypto.lookup_hash(values["phone"], "phone"),
            )
            shown["phone"] = mask_phone(values["phone"])
        for name in ("name", "sex", "birth_date", "household_type", "move_in_date"):
            if name in values:
                writes[name] = values[name]
                shown[name] = mask_name(values[name]) if name == "name" else _shown(values[name])
    changed = _apply(person, task, writes, shown, answer)
    if changed:
        person.version = (person.version or 1) + 1
        if "id_hash" in changed:  # tenants named by this ID now link to the person
            session.execute(
                update(RentalTenant)
                .where(RentalTenant.id_hash == person.id_hash, RentalTenant.person_id.is_(None))
                .values(person_id=person.id)
            )
    after = _values(person)
    deltas: Counter[tuple[str, str]] = Counter()
    _count_resident(deltas, before, -1)
    _count_resident(deltas, after, +1)
    _bump_counts(session, deltas)
    kind = "verified_not_found" if answer == "not_found" else "verified_correction"
    details: dict[str, Any] = {"fields": sorted(shown)}
    if before["grid_code"] != after["grid_code"]:
        details.update(from_grid=before["grid_code"], to_grid=after["grid_code"])
    _change(session, task, "person", person.id, person.grid_code, kind, details)
    session.flush()
    return shown


# Corrected form fields → the stored field whose lineage they set.
_LINEAGE_NAME: Final = {
    "address": "address_text",
    "id_number": "id_number_enc",
    "phone": "phone_enc",
    "landlord_phone": "landlord_phone_enc",
    "operating_address": "operating_address_text",
    "registered_address": "registered_address_text",
}


def _shown(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# ---------------------------------------------------------------------------------------------------------
# Rentals


def write_back_rental(
    session: Session, task: Task, answer: str, corrected: dict[str, Any], lang: str
) -> dict[str, Any]:
    rental = session.get(Rental, task.target_id)
    if rental is None:
        raise NotFound(translate("tasks.error.target_gone", lang))
    if answer == "confirmed":
        return _confirm(rental, task)
    writes: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    if answer == "not_found":
        today = _today()
        if rental.end_date is None or rental.end_date > today:
            writes["end_date"] = today
        shown["end_date"] = _shown(writes.get("end_date", rental.end_date))
    else:
        values = validate("rental", corrected, lang)
        if "landlord_phone" in values:
            writes.update(
                landlord_phone_enc=crypto.encrypt(values["landlord_phone"], PHONE_CONTEXT),
                landlord_phone_hash=crypto.lookup_hash(values["landlord_phone"], "phone"),
            )
            shown["landlord_phone"] = mask_phone(values["landlord_phone"])
        for name in ("landlord_name", "declared_occupants", "end_date"):
            if name in values:
                writes[name] = values[name]
                shown[name] = mask_name(values[name]) if name == "landlord_name" else _shown(values[name])
    _apply(rental, task, writes, shown, answer)
    kind = "verified_not_found" if answer == "not_found" else "verified_correction"
    _change(session, task, "rental", rental.id, rental.grid_code, kind, {"fields": sorted(shown)})
    session.flush()
    return shown


def _apply(record: Any, task: Task, writes: dict[str, Any], shown: dict[str, Any], answer: str) -> list[str]:
    """Write the changed values; lineage ``t<id>`` on each (and on each corrected field)."""
    lineage = dict(record.lineage or {})
    changed = [name for name, value in writes.items() if getattr(record, name) != value]
    for name in changed:
        setattr(record, name, writes[name])
        lineage[name] = _stamp(task)
    if answer == "corrected":
        for name in shown:
            lineage[_LINEAGE_NAME.get(name, name)] = _stamp(task)
    record.lineage = lineage
    record.updated_at = clock_now()
    return changed


# ---------------------------------------------------------------------------------------------------------
# Legal entities


def write_back_entity(
    session: Session, task: Task, answer: str, corrected: dict[str, Any], lang: str
) -> dict[str, Any]:
    entity = session.get(LegalEntity, task.target_id)
    if entity is None:
        raise NotFound(translate("tasks.error.target_gone", lang))
    if answer == "confirmed":
        return _confirm(entity, task)
    before = _values(entity)
    writes: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    if answer == "not_found":
        writes["status"] = "moved_out"
        shown["status"] = "moved_out"
    else:
        values = validate("entity", corrected, lang)
        if "operating_address" in values:
            placed = _match_address(session, values["operating_address"], "operating_address", lang)
            writes.update(
                operating_address_text=values["operating_address"],
                operating_address_code=placed["code"],
                street_code=placed["street_code"],
                community_code=placed["community_code"],
                grid_code=placed["grid_code"],
            )
            shown["operating_address"] = values["operating_address"]
        for name in ("name", "status", "industry", "legal_representative", "risk_level", "three_small_kind"):
            if name in values:
                writes[name] = values[name]
                shown[name] = mask_name(values[name]) if name == "legal_representative" else values[name]
    _apply(entity, task, writes, shown, answer)
    after = _values(entity)
    deltas: Counter[tuple[str, str]] = Counter()
    _count_entity(deltas, before, -1)
    _count_entity(deltas, after, +1)
    _bump_counts(session, deltas)
    details: dict[str, Any] = {"fields": sorted(shown)}
    for name in ("status", "grid_code"):
        if before[name] != after[name]:
            details[name] = {"from": before[name], "to": after[name]}
    kind = "verified_not_found" if answer == "not_found" else "verified_correction"
    _change(session, task, "entity", entity.id, entity.grid_code, kind, details)
    session.flush()
    return shown


# ---------------------------------------------------------------------------------------------------------
# Dwellings


def write_back_dwelling(
    session: Session, task: Task, answer: str, corrected: dict[str, Any], lang: str
) -> dict[str, Any]:
    dwelling = session.get(Dwelling, task.target_id)
    if dwelling is None:
        raise NotFound(translate("tasks.error.target_gone", lang))
    if answer == "confirmed":
        return _confirm(dwelling, task)
    values = {"use": "unknown"} if answer == "not_found" else validate("dwelling", corrected, lang)
    _apply(dwelling, task, values, dict(values), answer)
    kind = "verified_not_found" if answer == "not_found" else "verified_correction"
    _change(session, task, "dwelling", dwelling.id, dwelling.grid_code, kind, {"fields": sorted(values)})
    session.flush()
    return dict(values)


# ---------------------------------------------------------------------------------------------------------
# What the task form shows of the record


def _decrypted(token: str | None, context: str) -> str:
    if not token:
        return ""
    try:
        return crypto.decrypt(token, context)
    except crypto.CryptoError:
        return "?"


def _view_lineage(lineage: dict[str, Any] | None, values: list[tuple[str, str]]) -> dict[str, str]:
    """Where each shown value came from, keyed as the form shows it (``address`` ← ``address_text`` …)."""
    stored = lineage or {}
    found = {name: stored.get(_LINEAGE_NAME.get(name, name)) for name, _shown in values}
    return {name: str(where) for name, where in found.items() if where}


_BATCH_ROW: Final = re.compile(r"^b(\d+):r(\d+)$")


def _lineage_labels(session: Session, lineage: dict[str, str], lang: str) -> dict[str, str]:
    """Import lineage with the source's name ("实有人口自主申报与门禁采集 第1批 第235行"); a verification's
    lineage is left to the tasks package ("网格员核查 任务 #7")."""
    batches = {int(m.group(1)) for m in (_BATCH_ROW.match(v) for v in lineage.values()) if m}
    if not batches:
        return {}
    titles = dict(
        session.execute(
            select(Batch.id, Source.title)
            .join(Source, Source.id == Batch.source_id)
            .where(Batch.id.in_(batches))
        ).all()
    )
    labels = {}
    for name, where in lineage.items():
        found = _BATCH_ROW.match(where)
        if found and int(found.group(1)) in titles:
            labels[name] = translate(
                "tasks.lineage.source",
                lang,
                source=titles[int(found.group(1))],
                batch=found.group(1),
                row=found.group(2),
            )
    return labels


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def _view(
    session: Session, record: Any, label: str, url: str, values: list[tuple[str, str]], lang: str
) -> TargetView:
    lineage = _view_lineage(record.lineage, values)
    return TargetView(
        label=label,
        values=[(name, field_label(name, lang), shown) for name, shown in values],
        record_url=url,
        lineage=lineage,
        lineage_labels=_lineage_labels(session, lineage, lang),
    )


def describe_person(session: Session, target_id: int, lang: str) -> TargetView:
    person = session.get(Person, target_id)
    if person is None:
        return TargetView(translate("tasks.target.person", lang), [], "", exists=False)
    values = [
        ("name", mask_name(person.name)),
        ("id_number", mask_resident_id(_decrypted(person.id_number_enc, ID_CONTEXT))),
        ("sex", code_label("sex", person.sex, lang)),
        ("birth_date", _text(person.birth_date)),
        ("household_type", code_label("household_type", person.household_type, lang)),
        ("phone", mask_phone(_decrypted(person.phone_enc, PHONE_CONTEXT))),
        ("address", person.address_text or ""),
        ("move_in_date", _text(person.move_in_date)),
        ("status", code_label("person_status", person.status, lang)),
    ]
    return _view(
        session,
        person,
        f"{translate('tasks.target.person', lang)} {mask_name(person.name)}",
        f"/registry/people/{person.id}",
        values,
        lang,
    )


def describe_rental(session: Session, target_id: int, lang: str) -> TargetView:
    from sqlalchemy import func

    rental = session.get(Rental, target_id)
    if rental is None:
        return TargetView(translate("tasks.target.rental", lang), [], "", exists=False)
    tenants = session.scalar(select(func.count()).where(RentalTenant.rental_id == rental.id)) or 0
    residents = 0
    if rental.dwelling_code:
        residents = (
            session.scalar(
                select(func.count()).where(
                    Person.dwelling_code == rental.dwelling_code, Person.status == "resident"
                )
            )
            or 0
        )
    values = [
        ("address", rental.address_text),
        ("landlord_name", mask_name(rental.landlord_name)),
        ("landlord_phone", mask_phone(_decrypted(rental.landlord_phone_enc, PHONE_CONTEXT))),
        ("start_date", _text(rental.start_date)),
        ("end_date", _text(rental.end_date)),
        ("declared_occupants", _text(rental.declared_occupants)),
        ("tenants", str(tenants)),
        ("residents", str(residents)),
    ]
    return _view(
        session,
        rental,
        f"{translate('tasks.target.rental', lang)} {rental.address_text}",
        f"/registry/rentals/{rental.id}",
        values,
        lang,
    )


def describe_entity(session: Session, target_id: int, lang: str) -> TargetView:
    entity = session.get(LegalEntity, target_id)
    if entity is None:
        return TargetView(translate("tasks.target.entity", lang), [], "", exists=False)
    values = [
        ("name", entity.name),
        ("credit_code", entity.credit_code),
        ("entity_type", entity.entity_type),
        ("legal_representative", mask_name(entity.legal_representative or "")),
        ("status", code_label("entity_status", entity.status, lang)),
        ("industry", entity.industry or ""),
        ("operating_address", entity.operating_address_text),
        ("registered_address", entity.registered_address_text or ""),
        ("risk_level", code_label("risk", entity.risk_level, lang)),
        ("three_small_kind", code_label("three_small", entity.three_small_kind, lang)),
    ]
    return _view(
        session,
        entity,
        f"{translate('tasks.target.entity', lang)} {entity.name}",
        f"/registry/entities/{entity.id}",
        values,
        lang,
    )


def describe_dwelling(session: Session, target_id: int, lang: str) -> TargetView:
    dwelling = session.get(Dwelling, target_id)
    if dwelling is None:
        return TargetView(translate("tasks.target.dwelling", lang), [], "", exists=False)
    values = [
        ("code", dwelling.code),
        ("address", dwelling.address_text),
        ("use", code_label("dwelling_use", dwelling.use, lang)),
    ]
    return _view(
        session,
        dwelling,
        f"{translate('tasks.target.dwelling', lang)} {dwelling.address_text}",
        f"/registry/dwellings/{dwelling.code}",
        values,
        lang,
    )


register_write_back(
    "person", write_back_person, describe=describe_person, fields=correctable_fields("person")
)
register_write_back(
    "rental", write_back_rental, describe=describe_rental, fields=correctable_fields("rental")
)
register_write_back(
    "entity", write_back_entity, describe=describe_entity, fields=correctable_fields("entity")
)
register_write_back(
    "dwelling", write_back_dwelling, describe=describe_dwelling, fields=correctable_fields("dwelling")
)
