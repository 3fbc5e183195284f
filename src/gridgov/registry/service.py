"""Registry reads (issue 6): search, the building / dwelling / person / rental / entity views with every
field's lineage, reveal, key-person care tags and the area statistics.

Plain functions, a session and the caller's ``AreaScope`` (the one scoping helper, ``Principal.scope``)
passed in: every list filters with it (``_clause``: an indexed equality on the column of the scope's level)
and every single record is checked with ``scope.covers`` (403 outside), so a record outside the scope is
neither listed nor reachable. A record not yet placed in an area (no grid, community or street) is visible
to district scopes only, as in the address library.

Personal data is masked here, not in templates: names ``张**``, resident IDs ``4403**********1234``,
phones ``138****5678`` (``core.identifiers``); ``reveal_person`` returns one unmasked value to a holder of
``personal.reveal`` with a typed reason, audited. Care tags are read and written only through their own
functions, which take ``care=True`` from a holder of ``registry.care``; no other view mentions them.

Area statistics come from the maintained counts (``reg_area_count``: one indexed lookup for the area and
its children) and one grouped count of open tasks, so they stay fast at 2.1 million people.

The lineage of a field is ``"b<batch>:r<row>"`` or ``"t<task id>"``; batches are named by their import
source. The ingest package lies below this one (it imports the registry), so its two tables are reached
by name here rather than by importing its models.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final, Literal, get_args

from sqlalchemy import ColumnElement, Select, column, false, func, or_, select, table, true
from sqlalchemy.orm import Session

from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import AreaScope, Principal, ScopeLevel
from gridgov.address.models import StdAddress
from gridgov.areas.models import Community, Grid, Street
from gridgov.areas.scope import DISTRICT_CODE
from gridgov.audit.service import record
from gridgov.core import crypto
from gridgov.core.clock import now
from gridgov.core.errors import Forbidden, InvalidInput, NotFound
from gridgov.core.i18n import translate
from gridgov.core.identifiers import mask_name, mask_phone, mask_resident_id
from gridgov.registry.models import (
    AreaCount,
    Building,
    CareTag,
    Dwelling,
    LegalEntity,
    Person,
    Rental,
    RentalTenant,
)
from gridgov.registry.schemas import (
    AreaFigures,
    AreaRefOut,
    AreaStatsOut,
    BuildingOut,
    CareCategory,
    CareTagIn,
    CareTagOut,
    DwellingOut,
    DwellingRow,
    EntityOut,
    FieldOut,
    FieldValue,
    LineageOut,
    PersonOut,
    RecordRef,
    RentalOut,
    RentalSummary,
    SearchKind,
    SearchOut,
)
from gridgov.tasks.models import Task

# The contexts the import pipeline encrypts under and the purposes it hashes for (ingest.service).
ID_CONTEXT: Final = "reg_person.id_number"
PHONE_CONTEXT: Final = "reg_person.phone"
ID_PURPOSE: Final = "resident_id"
PHONE_PURPOSE: Final = "phone"

CARE_CATEGORIES: Final[tuple[str, ...]] = get_args(CareCategory)
SEARCH_LIMIT_MAX: Final = 50
SEARCH_OFFSET_MAX: Final = 500
QUERY_MAX: Final = 64
LIST_LIMIT: Final = 200  # rows of each list on a building or dwelling view
#: Metrics shown first, in this order; any other metric the pipeline keeps follows, sorted.
METRIC_ORDER: Final = (
    "people",
    "people_registered",
    "people_floating",
    "dwellings",
    "dwellings_rented",
    "rentals",
    "entities",
    "entities_three_small",
)

_RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")
_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
LIBRARY: Final = "address_library"  # the lineage of a field shown from the address library (no registry row)
_LINEAGE = re.compile(r"^b(\d+):r(\d+)$|^t(\d+)$")

# The ingest tables, by name (see the module note).
_BATCH = table("ingest_batch", column("id"), column("source_id"))
_SOURCE = table("ingest_source", column("id"), column("title"))


# ---------------------------------------------------------------------------------------------------------
# Scope


def _area_of(record: Any) -> str | None:
    area: str | None = record.grid_code or record.community_code or record.street_code
    return area


def visible(scope: AreaScope, area: str | None) -> bool:
    """An unplaced record (no area) is visible to district scopes only."""
    if area is None:
        return scope.level is ScopeLevel.district
    return scope.covers(area)


def _check(scope: AreaScope, record: Any, what: str) -> None:
    if not visible(scope, _area_of(record)):
        raise Forbidden(f"That {what} lies outside your area scope")


def _clause(scope: AreaScope, model: Any) -> ColumnElement[bool]:
    """Rows of ``model`` (a placed registry table) inside the scope, as an indexed equality on the column
    of the scope's level (``grid_code IN (…)`` for a grid worker), not a LIKE over every row: the three area
    codes of a record come together from its matched address, so a record lies in a community exactly when
    its ``community_code`` is that community. A district scope also sees records not placed in any area."""
    if scope.level is ScopeLevel.district:
        return true() if scope.covers(DISTRICT_CODE) else false()
    column = {
        ScopeLevel.street: model.street_code,
        ScopeLevel.community: model.community_code,
        ScopeLevel.grids: model.grid_code,
    }[scope.level]
    codes = sorted(scope.codes)
    return column.in_(codes) if codes else false()


# ---------------------------------------------------------------------------------------------------------
# Masking


def _decrypt(token: str | None, context: str) -> str | None:
    return crypto.decrypt(token, context) if token else None


def masked_id(token: str | None) -> str | None:
    value = _decrypt(token, ID_CONTEXT)
    return mask_resident_id(value) if value is not None else None


def masked_phone(token: str | None) -> str | None:
    value = _decrypt(token, PHONE_CONTEXT)
    return mask_phone(value) if value is not None else None


def masked_birth(value: date | None) -> str | None:
    """The year only: the full birth date is half a resident ID."""
    return f"{value.year}-**-**" if value else None


# ---------------------------------------------------------------------------------------------------------
# Lineage


def _parse_lineage(raw: str) -> tuple[int | None, int | None, int | None]:
    match = _LINEAGE.match(raw)
    if match is None:
        return None, None, None
    batch, row, task = match.groups()
    return (int(batch) if batch else None, int(row) if row else None, int(task) if task else None)


def batch_sources(session: Session, lineages: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """The import source's title of every batch named in ``lineages`` (one query)."""
    batches = {
        batch
        for lineage in lineages
        for raw in lineage.values()
        if isinstance(raw, str) and (batch := _parse_lineage(raw)[0]) is not None
    }
    if not batches:
        return {}
    rows = session.execute(
        select(_BATCH.c.id, _SOURCE.c.title)
        .join(_SOURCE, _SOURCE.c.id == _BATCH.c.source_id)
        .where(_BATCH.c.id.in_(batches))
    )
    return {int(batch): str(title) for batch, title in rows}


def describe_lineage(raw: str, sources: Mapping[int, str], lang: str) -> LineageOut:
    """``b2:r15`` → "出租屋登记 第2批 第15行"; ``t7`` → "网格员核查 任务 #7" (linking to the task)."""
    if raw == LIBRARY:
        return LineageOut(
            raw=raw, kind="address_library", text=translate("registry.lineage.address_library", lang)
        )
    batch, row, task = _parse_lineage(raw)
    if task is not None:
        return LineageOut(
            raw=raw,
            kind="task",
            task_id=task,
            link=f"/tasks/{task}",
            text=translate("registry.lineage.task", lang, task=task),
        )
    if batch is not None and row is not None:
        source = sources.get(batch) or translate("registry.lineage.unknown_source", lang)
        return LineageOut(
            raw=raw,
            kind="batch",
            batch_id=batch,
            row=row,
            source=source,
            text=translate("registry.lineage.batch", lang, source=source, batch=batch, row=row),
        )
    return LineageOut(raw=raw, kind="unknown", text=raw)


def _fields(
    values: Sequence[tuple[str, FieldValue]],
    lineage: Mapping[str, Any],
    sources: Mapping[int, str],
    lang: str,
    *,
    lineage_of: Mapping[str, str] | None = None,
) -> list[FieldOut]:
    """Fields in display order, each with the lineage of the stored field it shows (``lineage_of`` maps a
    shown field to the stored one where their names differ, e.g. ``id_number`` → ``id_number_enc``)."""
    out = []
    for name, value in values:
        stored = (lineage_of or {}).get(name, name)
        raw = lineage.get(stored) or lineage.get(name)
        out.append(
            FieldOut(
                name=name,
                value=value,
                lineage=describe_lineage(raw, sources, lang) if isinstance(raw, str) else None,
            )
        )
    return out


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


# ---------------------------------------------------------------------------------------------------------
# Search


def _person_ref(person: Person) -> RecordRef:
    subtitle = " · ".join(
        part
        for part in (masked_id(person.id_number_enc), masked_birth(person.birth_date), person.address_text)
        if part
    )
    return RecordRef(
        kind="person",
        key=str(person.id),
        title=mask_name(person.name),
        subtitle=subtitle or None,
        link=f"/registry/people/{person.id}",
        street_code=person.street_code,
        community_code=person.community_code,
        grid_code=person.grid_code,
    )


def _entity_ref(entity: LegalEntity) -> RecordRef:
    return RecordRef(
        kind="entity",
        key=str(entity.id),
        title=entity.name,
        subtitle=f"{entity.credit_code} · {entity.operating_address_text}",
        link=f"/registry/entities/{entity.id}",
        street_code=entity.street_code,
        community_code=entity.community_code,
        grid_code=entity.grid_code,
    )


def _address_ref(address: StdAddress) -> RecordRef:
    kind = "building" if address.level == "building" else "dwelling"
    return RecordRef(
        kind=kind,
        key=address.code,
        title=address.text,
        subtitle=address.code,
        link=f"/registry/{'buildings' if kind == 'building' else 'dwellings'}/{address.code}",
        street_code=address.street_code,
        community_code=address.community_code,
        grid_code=address.grid_code,
    )


def _page(statement: Select[Any], session: Session, offset: int, limit: int) -> tuple[list[Any], bool]:
    rows = list(session.scalars(statement.offset(offset).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def search(
    session: Session,
    q: str,
    *,
    scope: AreaScope,
    kind: SearchKind = "address",
    offset: int = 0,
    limit: int = 20,
) -> SearchOut:
    """Find records inside the scope.

    - ``address``: standard addresses (buildings first) through the address library's type-ahead, each
      leading to its building or dwelling view;
    - ``person``: an 18-character resident ID finds its holder exactly, a mobile number the people giving
      it (both by the keyed lookup hash, never by decrypting); other text finds people by name (exact names
      first, then names starting with it); all masked;
    - ``entity``: a unified social credit code exactly; other text by name (substring).
    """
    text = " ".join(q.split())
    if not text:
        raise InvalidInput("Type something to search for")
    if len(text) > QUERY_MAX:
        raise InvalidInput(f"Search text is too long ({QUERY_MAX} characters at most)")
    limit = max(1, min(limit, SEARCH_LIMIT_MAX))
    offset = max(0, min(offset, SEARCH_OFFSET_MAX))
    if kind == "address":
        from gridgov.address import service as address_service

        found = address_service.search(session, text, scope=scope, limit=min(offset + limit + 1, 50))
        results = [_address_ref(a) for a in found if visible(scope, _area_of(a))]
        page = results[offset : offset + limit]
        return SearchOut(
            kind=kind,
            mode="address",
            offset=offset,
            limit=limit,
            has_more=len(results) > offset + limit,
            results=page,
        )
    if kind == "person":
        upper = text.replace(" ", "").upper()
        phone = _mobile(text)
        if _RESIDENT_ID.match(upper):
            digest = crypto.lookup_hash(upper, ID_PURPOSE)
            statement = select(Person).where(Person.id_hash == digest, _clause(scope, Person))
            mode = "id_number"
        elif phone is not None:
            digest = crypto.lookup_hash(phone, PHONE_PURPOSE)
            statement = (
                select(Person).where(Person.phone_hash == digest, _clause(scope, Person)).order_by(Person.id)
            )
            mode = "phone"
        else:
            if not _escaped(text):
                raise InvalidInput("Type part of a name, an 18-character resident ID or a mobile number")
            # On the name key (the name without spaces) as a range: the name key + birth date index
            # serves it on both backends, where a LIKE on the name would read every person.
            key = "".join(text.split())
            statement = (
                select(Person)
                .where(Person.name_key >= key, Person.name_key < key + "\U0010ffff", _clause(scope, Person))
                .order_by((Person.name_key != key), Person.name_key, Person.id)
            )
            mode = "name"
        people, more = _page(statement, session, offset, limit)
        return SearchOut(
            kind=kind,
            mode=mode,
            offset=offset,
            limit=limit,
            has_more=more,
            results=[_person_ref(p) for p in people],
        )
    upper = text.replace(" ", "").upper()
    by_entity: Select[Any]
    if _CREDIT_CODE.match(upper):
        by_entity = select(LegalEntity).where(LegalEntity.credit_code == upper, _clause(scope, LegalEntity))
        mode = "credit_code"
    else:
        if not _escaped(text):
            raise InvalidInput("Type part of an entity name or a unified social credit code")
        by_entity = (
            select(LegalEntity)
            .where(LegalEntity.name.like(_contains(text)), _clause(scope, LegalEntity))
            .order_by((LegalEntity.name != text), LegalEntity.name, LegalEntity.id)
        )
        mode = "name"
    entities, more = _page(by_entity, session, offset, limit)
    return SearchOut(
        kind="entity",
        mode=mode,
        offset=offset,
        limit=limit,
        has_more=more,
        results=[_entity_ref(e) for e in entities],
    )


def _mobile(text: str) -> str | None:
    """``text`` as an 11-digit mainland mobile number, when it is one (``138 1234 5678``, ``+86…``)."""
    from gridgov.core.identifiers import normalise_phone

    if sum(ch.isdigit() for ch in text) < 11:
        return None
    try:
        return normalise_phone(text)
    except InvalidInput:
        return None


def _escaped(text: str) -> str:
    return text.replace("%", "").replace("_", "")


def _contains(text: str) -> str:
    return f"%{_escaped(text)}%"


# ---------------------------------------------------------------------------------------------------------
# Rentals, as listed and as viewed


def _people_at(session: Session, codes: Sequence[str]) -> dict[str, int]:
    """Residents counted by the population register per dwelling code."""
    if not codes:
        return {}
    rows = session.execute(
        select(Person.dwelling_code, func.count())
        .where(Person.dwelling_code.in_(codes), Person.status == "resident")
        .group_by(Person.dwelling_code)
    )
    return {str(code): int(n) for code, n in rows}


def _tenants_named(session: Session, rental_ids: Sequence[int]) -> dict[int, int]:
    if not rental_ids:
        return {}
    rows = session.execute(
        select(RentalTenant.rental_id, func.count())
        .where(RentalTenant.rental_id.in_(rental_ids))
        .group_by(RentalTenant.rental_id)
    )
    return {int(rid): int(n) for rid, n in rows}


def _rental_summaries(session: Session, rentals: Sequence[Rental]) -> list[RentalSummary]:
    counted = _people_at(session, sorted({r.dwelling_code for r in rentals if r.dwelling_code}))
    named = _tenants_named(session, [r.id for r in rentals])
    out = []
    for rental in rentals:
        people = counted.get(rental.dwelling_code or "", 0)
        out.append(
            RentalSummary(
                id=rental.id,
                link=f"/registry/rentals/{rental.id}",
                address_text=rental.address_text,
                dwelling_code=rental.dwelling_code,
                landlord_name=mask_name(rental.landlord_name),
                start_date=rental.start_date,
                end_date=rental.end_date,
                declared_occupants=rental.declared_occupants,
                tenants_named=named.get(rental.id, 0),
                people_counted=people,
                over_declared=rental.declared_occupants is not None and people > rental.declared_occupants,
                street_code=rental.street_code,
                community_code=rental.community_code,
                grid_code=rental.grid_code,
            )
        )
    return out


def get_rental(session: Session, rental_id: int, *, scope: AreaScope, lang: str = "zh-CN") -> RentalOut:
    rental = session.get(Rental, rental_id)
    if rental is None:
        raise NotFound(f"No rental {rental_id}")
    _check(scope, rental, "rental")
    summary = _rental_summaries(session, [rental])[0]
    sources = batch_sources(session, [rental.lineage or {}])
    fields = _fields(
        [
            ("address_text", rental.address_text),
            ("dwelling_code", rental.dwelling_code),
            ("landlord_name", mask_name(rental.landlord_name)),
            ("landlord_id", masked_id(rental.landlord_id_enc)),
            ("landlord_phone", masked_phone(rental.landlord_phone_enc)),
            ("start_date", _iso(rental.start_date)),
            ("end_date", _iso(rental.end_date)),
            ("declared_occupants", rental.declared_occupants),
        ],
        rental.lineage or {},
        sources,
        lang,
        lineage_of={"landlord_id": "landlord_id_enc", "landlord_phone": "landlord_phone_enc"},
    )
    tenants = session.scalars(
        select(Person)
        .join(RentalTenant, RentalTenant.person_id == Person.id)
        .where(RentalTenant.rental_id == rental.id, _clause(scope, Person))
        .order_by(Person.id)
        .limit(LIST_LIMIT)
    )
    residents: list[Person] = []
    if rental.dwelling_code:
        residents = list(
            session.scalars(
                select(Person)
                .where(
                    Person.dwelling_code == rental.dwelling_code,
                    Person.status == "resident",
                    _clause(scope, Person),
                )
                .order_by(Person.id)
                .limit(LIST_LIMIT)
            )
        )
    return RentalOut(
        **summary.model_dump(),
        landlord_phone=masked_phone(rental.landlord_phone_enc),
        fields=fields,
        tenants=[_person_ref(p) for p in tenants],
        residents=[_person_ref(p) for p in residents],
    )


# ---------------------------------------------------------------------------------------------------------
# People


def _scoped_person(session: Session, person_id: int, scope: AreaScope) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"No person {person_id}")
    _check(scope, person, "person")
    return person


def get_person(session: Session, person_id: int, *, scope: AreaScope, lang: str = "zh-CN") -> PersonOut:
    """A person, masked, every field with its lineage, and the rentals naming them (in the scope)."""
    person = _scoped_person(session, person_id, scope)
    sources = batch_sources(session, [person.lineage or {}])
    fields = _fields(
        [
            ("name", mask_name(person.name)),
            ("id_number", masked_id(person.id_number_enc)),
            ("id_valid", person.id_valid),
            ("doc_type", person.doc_type),
            ("sex", person.sex),
            ("birth_date", masked_birth(person.birth_date)),
            ("household_type", person.household_type),
            ("phone", masked_phone(person.phone_enc)),
            ("address_text", person.address_text),
            ("dwelling_code", person.dwelling_code),
            ("move_in_date", _iso(person.move_in_date)),
            ("moved_out_on", _iso(person.moved_out_on)),
            ("status", person.status),
        ],
        person.lineage or {},
        sources,
        lang,
        lineage_of={"id_number": "id_number_enc", "phone": "phone_enc"},
    )
    as_tenant = select(RentalTenant.rental_id).where(RentalTenant.person_id == person.id)
    landlord = Rental.landlord_id_hash == person.id_hash if person.id_hash else None
    naming = or_(Rental.id.in_(as_tenant), landlord) if landlord is not None else Rental.id.in_(as_tenant)
    rentals = list(
        session.scalars(
            select(Rental).where(naming, _clause(scope, Rental)).order_by(Rental.id).limit(LIST_LIMIT)
        )
    )
    return PersonOut(
        id=person.id,
        name=mask_name(person.name),
        id_number=masked_id(person.id_number_enc),
        phone=masked_phone(person.phone_enc),
        status=person.status,
        household_type=person.household_type,
        dwelling_code=person.dwelling_code,
        address_text=person.address_text,
        fields=fields,
        rentals=_rental_summaries(session, rentals),
        street_code=person.street_code,
        community_code=person.community_code,
        grid_code=person.grid_code,
    )


def reveal_person(
    session: Session, principal: Principal, person_id: int, field: str, reason: str
) -> str | None:
    """One unmasked value (``id_number`` or ``phone``) of a person in scope: needs ``personal.reveal`` and a
    typed reason; the reveal is written to the audit trail (field name, never the value)."""
    principal.require(Permission.registry_read)
    principal.require(Permission.personal_reveal)
    clean_reason = " ".join(reason.split())
    if len(clean_reason) < 4:
        raise InvalidInput("Say why you need to see this (at least 4 characters); the reason is audited")
    if field not in ("id_number", "phone"):
        raise InvalidInput("Only an ID number or a phone number can be revealed")
    person = _scoped_person(session, person_id, principal.scope)
    record(
        session,
        action="personal.reveal",
        object_type="reg_person",
        object_id=str(person.id),
        reason=clean_reason,
        details={"field": field},
    )
    if field == "id_number":
        return _decrypt(person.id_number_enc, ID_CONTEXT)
    return _decrypt(person.phone_enc, PHONE_CONTEXT)


# ---------------------------------------------------------------------------------------------------------
# Legal entities


def get_entity(session: Session, entity_id: int, *, scope: AreaScope, lang: str = "zh-CN") -> EntityOut:
    entity = session.get(LegalEntity, entity_id)
    if entity is None:
        raise NotFound(f"No legal entity {entity_id}")
    _check(scope, entity, "legal entity")
    sources = batch_sources(session, [entity.lineage or {}])
    capital = entity.registered_capital_wan
    fields = _fields(
        [
            ("entity_name", entity.name),
            ("credit_code", entity.credit_code),
            ("credit_code_valid", entity.credit_code_valid),
            ("entity_type", entity.entity_type),
            ("legal_representative", mask_name(entity.legal_representative or "") or None),
            ("registered_capital_wan", float(capital) if capital is not None else None),
            ("established_on", _iso(entity.established_on)),
            ("entity_status", entity.status),
            ("industry", entity.industry),
            ("registered_address", entity.registered_address_text),
            ("operating_address", entity.operating_address_text),
            ("operating_address_code", entity.operating_address_code),
            ("risk_level", entity.risk_level),
            ("three_small_kind", entity.three_small_kind),
        ],
        entity.lineage or {},
        sources,
        lang,
        lineage_of={
            "entity_name": "name",
            "entity_status": "status",
            "registered_address": "registered_address_text",
            "operating_address": "operating_address_text",
        },
    )
    return EntityOut(
        id=entity.id,
        name=entity.name,
        credit_code=entity.credit_code,
        status=entity.status,
        three_small_kind=entity.three_small_kind,
        operating_address_code=entity.operating_address_code,
        fields=fields,
        street_code=entity.street_code,
        community_code=entity.community_code,
        grid_code=entity.grid_code,
    )


# ---------------------------------------------------------------------------------------------------------
# Dwellings and buildings: the registry's row, or the address library's when the registry has none


def _address(session: Session, code: str) -> StdAddress | None:
    return session.scalars(select(StdAddress).where(StdAddress.code == code)).first()


def _residents(session: Session, codes: Sequence[str], scope: AreaScope) -> tuple[list[Person], int]:
    if not codes:
        return [], 0
    where = (Person.dwelling_code.in_(codes), Person.status == "resident", _clause(scope, Person))
    total = session.scalar(select(func.count()).select_from(Person).where(*where)) or 0
    people = list(
        session.scalars(
            select(Person).where(*where).order_by(Person.dwelling_code, Person.id).limit(LIST_LIMIT)
        )
    )
    return people, int(total)


def _rentals_at(session: Session, codes: Sequence[str], scope: AreaScope) -> list[Rental]:
    if not codes:
        return []
    return list(
        session.scalars(
            select(Rental)
            .where(Rental.dwelling_code.in_(codes), _clause(scope, Rental))
            .order_by(Rental.dwelling_code, Rental.id)
            .limit(LIST_LIMIT)
        )
    )


def _entities_at(session: Session, codes: Sequence[str], scope: AreaScope) -> list[LegalEntity]:
    if not codes:
        return []
    return list(
        session.scalars(
            select(LegalEntity)
            .where(LegalEntity.operating_address_code.in_(codes), _clause(scope, LegalEntity))
            .order_by(LegalEntity.id)
            .limit(LIST_LIMIT)
        )
    )


def get_dwelling(session: Session, code: str, *, scope: AreaScope, lang: str = "zh-CN") -> DwellingOut:
    """A dwelling: its fields, the people counted there, its rentals (declared vs counted) and the
    entities operating there."""
    dwelling = session.scalars(select(Dwelling).where(Dwelling.code == code)).first()
    text: str
    use: str | None
    building: str | None
    place: Dwelling | StdAddress
    source: Literal["registry", "address_library"]
    if dwelling is not None:
        _check(scope, dwelling, "dwelling")
        sources = batch_sources(session, [dwelling.lineage or {}])
        fields = _fields(
            [
                ("address_text", dwelling.address_text),
                ("building_code", dwelling.building_code),
                ("dwelling_use", dwelling.use),
            ],
            dwelling.lineage or {},
            sources,
            lang,
            lineage_of={"dwelling_use": "use"},
        )
        text, use, building, place, source = (
            dwelling.address_text,
            dwelling.use,
            dwelling.building_code,
            dwelling,
            "registry",
        )
    else:
        address = _address(session, code)
        if address is None or address.level == "building":
            raise NotFound(f"No dwelling with code {code}")
        _check(scope, address, "dwelling")
        parent = session.get(StdAddress, address.parent_id) if address.parent_id else None
        fields = _fields(
            [
                ("address_text", address.text),
                ("building_code", parent.code if parent else None),
                ("dwelling_use", address.use),
            ],
            dict.fromkeys(("address_text", "building_code", "dwelling_use"), LIBRARY),
            {},
            lang,
        )
        text, use, building, place, source = (
            address.text,
            address.use,
            parent.code if parent else None,
            address,
            "address_library",
        )
    residents, total = _residents(session, [code], scope)
    return DwellingOut(
        code=code,
        address_text=text,
        use=use,
        building_code=building,
        source=source,
        fields=fields,
        residents=[_person_ref(p) for p in residents],
        residents_total=total,
        rentals=_rental_summaries(session, _rentals_at(session, [code], scope)),
        entities=[_entity_ref(e) for e in _entities_at(session, [code], scope)],
        street_code=place.street_code,
        community_code=place.community_code,
        grid_code=place.grid_code,
    )


def _dwellings_of(session: Session, code: str, library_id: int | None, scope: AreaScope) -> list[DwellingRow]:
    """The building's dwellings: the registry's, then the address library's it does not have."""
    rows: dict[str, DwellingRow] = {}
    for dwelling in session.scalars(
        select(Dwelling)
        .where(Dwelling.building_code == code, _clause(scope, Dwelling))
        .order_by(Dwelling.code)
    ):
        rows[dwelling.code] = DwellingRow(
            code=dwelling.code,
            address_text=dwelling.address_text,
            use=dwelling.use,
            residents=0,
            link=f"/registry/dwellings/{dwelling.code}",
        )
    if library_id is not None:
        for address in session.scalars(
            select(StdAddress)
            .where(StdAddress.parent_id == library_id, StdAddress.valid_to.is_(None))
            .order_by(StdAddress.code)
        ):
            if address.code not in rows and visible(scope, _area_of(address)):
                rows[address.code] = DwellingRow(
                    code=address.code,
                    address_text=address.text,
                    use=address.use,
                    residents=0,
                    link=f"/registry/dwellings/{address.code}",
                )
    counted = _people_at(session, list(rows))
    return [row.model_copy(update={"residents": counted.get(row.code, 0)}) for row in rows.values()]


def get_building(session: Session, code: str, *, scope: AreaScope, lang: str = "zh-CN") -> BuildingOut:
    """A building (the registry's row, or the address library's building when the registry has none):
    its dwellings, the residents counted there (masked), its rentals and the entities operating there."""
    building = session.scalars(select(Building).where(Building.code == code)).first()
    address = _address(session, code)
    text: str
    use: str | None
    floors: int | None
    structure: str | None
    place: Building | StdAddress
    source: Literal["registry", "address_library"]
    if building is not None:
        _check(scope, building, "building")
        sources = batch_sources(session, [building.lineage or {}])
        fields = _fields(
            [
                ("address_text", building.address_text),
                ("building_use", building.use),
                ("floors", building.floors),
                ("structure", building.structure),
            ],
            building.lineage or {},
            sources,
            lang,
            lineage_of={"building_use": "use"},
        )
        text, use, floors, structure, place, source = (
            building.address_text,
            building.use,
            building.floors,
            building.structure,
            building,
            "registry",
        )
    else:
        if address is None or address.level != "building":
            raise NotFound(f"No building with code {code}")
        _check(scope, address, "building")
        fields = _fields(
            [("address_text", address.text), ("building_use", address.use)],
            dict.fromkeys(("address_text", "building_use"), LIBRARY),
            {},
            lang,
        )
        text, use, floors, structure, place, source = (
            address.text,
            address.use,
            None,
            None,
            address,
            "address_library",
        )
    dwellings = _dwellings_of(session, code, address.id if address is not None else None, scope)
    codes = [code, *(d.code for d in dwellings)]
    residents, total = _residents(session, codes, scope)
    return BuildingOut(
        code=code,
        address_text=text,
        use=use,
        floors=floors,
        structure=structure,
        source=source,
        fields=fields,
        dwellings=dwellings[:LIST_LIMIT],
        dwellings_total=len(dwellings),
        residents=[_person_ref(p) for p in residents],
        residents_total=total,
        rentals=_rental_summaries(session, _rentals_at(session, codes, scope)),
        entities=[_entity_ref(e) for e in _entities_at(session, codes, scope)],
        limit=LIST_LIMIT,
        street_code=place.street_code,
        community_code=place.community_code,
        grid_code=place.grid_code,
    )


# ---------------------------------------------------------------------------------------------------------
# Key-person care tags: only for holders of registry.care


def _require_care(care: bool) -> None:
    if not care:
        raise Forbidden("Your role may not see key-person care tags (needs permission 'registry.care')")


def care_tags(session: Session, person_id: int, *, scope: AreaScope, care: bool) -> list[CareTagOut]:
    _require_care(care)
    person = _scoped_person(session, person_id, scope)
    tags = session.scalars(
        select(CareTag).where(CareTag.person_id == person.id).order_by(CareTag.active.desc(), CareTag.id)
    )
    return [CareTagOut.model_validate(tag) for tag in tags]


def add_care_tag(
    session: Session, person_id: int, tag: CareTagIn, *, scope: AreaScope, care: bool, actor: str
) -> CareTagOut:
    """Tag a person in scope as a key person to care for (the write hook audits it)."""
    _require_care(care)
    person = _scoped_person(session, person_id, scope)
    note = " ".join((tag.note or "").split()) or None
    duplicate = session.scalars(
        select(CareTag).where(
            CareTag.person_id == person.id, CareTag.category == tag.category, CareTag.active.is_(True)
        )
    ).first()
    if duplicate is not None:
        raise InvalidInput("This person already has an active care tag of that category")
    row = CareTag(
        person_id=person.id,
        category=tag.category,
        care_every_days=tag.care_every_days,
        note=note,
        active=True,
        created_at=now(),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    return CareTagOut.model_validate(row)


def end_care_tag(session: Session, tag_id: int, *, scope: AreaScope, care: bool) -> CareTagOut:
    """End a care tag (kept, inactive) of a person in scope (the write hook audits it)."""
    _require_care(care)
    tag = session.get(CareTag, tag_id)
    if tag is None:
        raise NotFound(f"No care tag {tag_id}")
    _scoped_person(session, tag.person_id, scope)
    if not tag.active:
        raise InvalidInput("That care tag has already ended")
    tag.active = False
    session.flush()
    return CareTagOut.model_validate(tag)


# ---------------------------------------------------------------------------------------------------------
# Area statistics


def _level(code: str) -> str:
    from gridgov.areas.service import level_of_code

    return level_of_code(code)


def area_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """Names of streets, communities and grids by code."""
    wanted = set(codes)
    names: dict[str, str] = {}
    for model in (Street, Community, Grid):
        names.update(
            {
                str(c): str(n)
                for c, n in session.execute(select(model.code, model.name).where(model.code.in_(wanted)))
            }
        )
    return names


def _child_codes(session: Session, code: str, level: str) -> list[str]:
    if level == "district":
        query = select(Street.code).where(Street.district_code == code)
    elif level == "street":
        query = select(Community.code).where(Community.street_code == code)
    elif level == "community":
        query = select(Grid.code).where(Grid.community_code == code)
    else:
        return []
    return list(session.scalars(query.order_by(query.selected_columns[0])))


def _open_tasks(
    session: Session, code: str | None, level: str, grids: Sequence[str] = ()
) -> dict[str | None, int]:
    """Open tasks grouped by the area one level down (one grouped count): street → its communities …"""
    where: ColumnElement[bool]
    if level == "district":
        key, where = Task.street_code, true()
    elif level == "street":
        key, where = Task.community_code, Task.street_code == code
    elif level == "community":
        key, where = Task.grid_code, Task.community_code == code
    elif level == "grid":
        key, where = Task.grid_code, Task.grid_code == code
    else:  # several grids
        key, where = Task.grid_code, Task.grid_code.in_(grids)
    rows = session.execute(select(key, func.count()).where(Task.state == "open", where).group_by(key))
    return {k: int(n) for k, n in rows}


def ordered_metrics(present: Iterable[str]) -> list[str]:
    known = [m for m in METRIC_ORDER if m in present]
    return known + sorted(set(present) - set(known))


def area_stats(session: Session, *, scope: AreaScope, area: str | None = None) -> AreaStatsOut:
    """The counts of an area inside the scope and of its children (those inside the scope too), with open
    verification tasks. No ``area``: the scope's own area (or, for several grids, each of them)."""
    from gridgov.areas.service import ancestors, get_area

    if area is None and len(scope.codes) == 1:
        area = next(iter(scope.codes))
    if area is not None:
        level = _level(area)
        if not scope.covers(area):
            raise Forbidden(f"The {level} {area} lies outside your area scope")
        row = get_area(session, area)
        children = [c for c in _child_codes(session, area, level) if scope.covers(c)]
        tasks = _open_tasks(session, area, level)
        parents = [
            AreaRefOut(code=p.code, name=p.name, level=p.level)
            for p in ancestors(session, row)
            if scope.covers(p.code)
        ]
    else:
        level = "grids"
        children = sorted(scope.codes)
        tasks = _open_tasks(session, None, level, children)
        parents = []
        row = None
    wanted = ([area] if area else []) + children
    values: dict[str, dict[str, int]] = {code: {} for code in wanted}
    for code, metric, value in session.execute(
        select(AreaCount.area_code, AreaCount.metric, AreaCount.value).where(AreaCount.area_code.in_(wanted))
    ):
        values[code][metric] = int(value)
    names = area_names(session, children)
    child_figures = [
        AreaFigures(
            code=c,
            name=names.get(c, c),
            level=_level(c),
            metrics=values.get(c, {}),
            tasks_open=tasks.get(c, 0) if level != "grid" else 0,
        )
        for c in children
    ]
    figures = None
    if row is not None and area is not None:
        figures = AreaFigures(
            code=area,
            name=row.name,
            level=level,
            metrics=values.get(area, {}),
            tasks_open=sum(tasks.values()),
        )
    present = {m for v in values.values() for m in v}
    return AreaStatsOut(
        area=figures, parents=parents, children=child_figures, metrics=ordered_metrics(present)
    )
