"""Detection rules (由"采"变"核", issue 6): what the data says happened → verification tasks for the grid
worker of the record's grid.

The rules are configured in ``rules/data/rules.yaml`` (each with its shipped on/off default, target kind,
working days to answer and its own knobs); an operator's switch (``tasks.service.switch_rule``, kept in the
database) wins over the default. ``run_rules`` runs the switched-on rules; each is **set-based SQL** over
the registry — a join, a group-by or an ``EXISTS`` the database runs over millions of rows — and only the
rows it finds (the candidates, not the registry) are turned into tasks, in bulk, through
``tasks.service.create_tasks``. That function de-duplicates (one open task per rule + target, and the same
facts — the rule's ``dedupe_key`` — are not asked again once answered), so ``run_rules`` is idempotent.

Rules:

- ``new_occupant`` (出租屋新面孔) — a resident whose dwelling has a current rental registration but who is
  not among the tenants of any current registration of it (the landlord excepted). A "moved" change into a
  rented dwelling is the same fact seen from the change log; the change is named in the evidence.
- ``over_occupancy`` (群租嫌疑) — more residents in a rented dwelling than its registration declares.
- ``entity_residential`` (住改商) — an active business whose operating address is a residential dwelling
  (the address library's dwelling use, or the registry's dwelling use) or a residential building.
- ``entity_unplaced`` (地址库外经营) — an active business whose operating address the library cannot place.
- ``address_review`` (地址待核) — a resident's address matched in the matcher's review band
  (``address.match.REVIEW_BAND``: placed, but below the auto-accept threshold).
- ``invalid_id`` (证件号待核) — a resident ID kept as written although it fails its check.
- ``merge_in_doubt`` (疑似同一人) — fed by the identity review queue through ``ask_about_merges``.

Each task carries a title and what to check (in Chinese, the grid worker's language), the evidence (which
source, batch and row said what; values that identify a person are never copied into it), its due date on
the working-day calendar, the target and the area codes of the record.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import yaml
from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from gridgov.address.match import AUTO_ACCEPT, REVIEW_BAND
from gridgov.address.models import StdAddress
from gridgov.audit.service import record
from gridgov.core.clock import CHINA_TZ
from gridgov.core.clock import now as clock_now
from gridgov.core.errors import InvalidInput
from gridgov.core.i18n import translate
from gridgov.ingest.models import Batch, Source
from gridgov.registry.models import Dwelling, LegalEntity, Person, RegistryChange, Rental, RentalTenant
from gridgov.tasks.service import NewTask, create_tasks, register_rule_catalogue, rule_switches

RULES_FILE: Final = Path(__file__).with_name("data") / "rules.yaml"
#: The language tasks are written in: the grid worker's.
TASK_LANGUAGE: Final = "zh-CN"
_LINEAGE: Final = re.compile(r"^b(\d+):r(\d+)$")


@dataclass(frozen=True)
class Rule:
    name: str
    enabled: bool
    target: str
    due_days: int
    options: dict[str, Any]


@lru_cache(maxsize=1)
def load_rules() -> dict[str, Rule]:
    """The rules as shipped (``rules.yaml``), by name."""
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    rules = {}
    for name, spec in (data.get("rules") or {}).items():
        spec = dict(spec or {})
        rules[name] = Rule(
            name=name,
            enabled=bool(spec.pop("enabled", True)),
            target=str(spec.pop("target")),
            due_days=int(spec.pop("due_days", 5)),
            options=spec,
        )
    unknown = set(rules) - set(_RULES) - {"merge_in_doubt"}
    if unknown:
        raise ValueError(f"{RULES_FILE}: rules without an implementation: {sorted(unknown)}")
    return rules


def rule_title(name: str, lang: str) -> str:
    titles = {
        "new_occupant": translate("rules.new_occupant.title", lang),
        "over_occupancy": translate("rules.over_occupancy.title", lang),
        "entity_residential": translate("rules.entity_residential.title", lang),
        "entity_unplaced": translate("rules.entity_unplaced.title", lang),
        "address_review": translate("rules.address_review.title", lang),
        "invalid_id": translate("rules.invalid_id.title", lang),
        "merge_in_doubt": translate("rules.merge_in_doubt.title", lang),
    }
    return titles.get(name, name)


def enabled_rules(session: Session) -> dict[str, bool]:
    """Every rule and whether it is on: the operator's switch, else the shipped default."""
    switches = rule_switches(session)
    return {name: switches.get(name, rule.enabled) for name, rule in load_rules().items()}


def catalogue(session: Session, lang: str = TASK_LANGUAGE) -> list[dict[str, Any]]:
    """The rules with their title, target, due days, shipped default and current state."""
    switches = rule_switches(session)
    return [
        {
            "rule": name,
            "title": rule_title(name, lang),
            "target_kind": rule.target,
            "due_days": rule.due_days,
            "default": rule.enabled,
            "enabled": switches.get(name, rule.enabled),
        }
        for name, rule in load_rules().items()
    ]


def run_rules(
    session: Session, *, rules: Sequence[str] | None = None, batch_id: int | None = None
) -> dict[str, int]:
    """Run the switched-on rules (all, or those named) and create the tasks they imply; the number
    created per rule. ``batch_id``: look only at records that import batch made or changed. Idempotent:
    a second run creates nothing new unless the data changed."""
    shipped = load_rules()
    wanted = list(rules) if rules is not None else [name for name in shipped if name in _RULES]
    if rules is None or "merge_in_doubt" in wanted:
        wanted = [name for name in wanted if name != "merge_in_doubt"]
        asks_merges = True
    else:
        asks_merges = False
    unknown = [name for name in wanted if name not in _RULES]
    if unknown:
        raise InvalidInput(f"Unknown rule(s): {', '.join(unknown)} (known: {', '.join(sorted(_RULES))})")
    on = enabled_rules(session)
    created: dict[str, int] = {}
    for name in wanted:
        if not on.get(name, False):
            created[name] = 0
            continue
        rule = shipped[name]
        found = _RULES[name](session, rule, batch_id)
        created[name] = len(create_tasks(session, found))
    if asks_merges:
        created["merge_in_doubt"] = ask_about_merges(session, _open_identity_reviews(session, batch_id))
    record(
        session,
        action="rules.run",
        object_type="task",
        details={"created": created, "batch": batch_id},
    )
    session.flush()
    return created


# ---------------------------------------------------------------------------------------------------------
# Evidence


class _Sources:
    """Turns lineage (``b<batch>:r<row>``) into "which source, which batch, which row" for the evidence."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.known: dict[int, dict[str, Any]] = {}

    def load(self, lineages: Iterable[str | None]) -> None:
        wanted = set()
        for text in lineages:
            found = _LINEAGE.match(text or "")
            if found and int(found.group(1)) not in self.known:
                wanted.add(int(found.group(1)))
        if not wanted:
            return
        for batch_id, name, title, file_name in self.session.execute(
            select(Batch.id, Source.name, Source.title, Batch.file_name)
            .join(Source, Source.id == Batch.source_id)
            .where(Batch.id.in_(wanted))
        ):
            self.known[batch_id] = {"source": name, "source_title": title, "file": file_name}

    def said(self, what: str, lineage: str | None, **facts: Any) -> dict[str, Any]:
        """One piece of evidence: what was said, and by which source, batch and row."""
        item: dict[str, Any] = {"said": what, **{k: _plain(v) for k, v in facts.items()}}
        found = _LINEAGE.match(lineage or "")
        if found:
            batch = int(found.group(1))
            item.update(batch=batch, row=int(found.group(2)), **self.known.get(batch, {}))
        elif lineage:
            item["lineage"] = lineage
        return item


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _key(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _today() -> date:
    return clock_now().astimezone(CHINA_TZ).date()


def _found(
    session: Session, query: Select[Any], model: Any, batch_id: int | None, field: str
) -> tuple[list[Any], _Sources]:
    """What a rule's query finds (only the records ``batch_id`` made or changed, when given), and the
    sources of the ``field`` each row's evidence quotes."""
    if batch_id is not None:
        query = query.where(model.seen_batch_id == batch_id)
    rows = list(session.execute(query))
    sources = _Sources(session)
    sources.load([_lineage_of(row.lineage, field) for row in rows])
    return rows, sources


def _lineage_of(value: Any, name: str) -> str | None:
    return (value or {}).get(name) if isinstance(value, dict) else None


def _task(
    rule: Rule,
    target_id: int,
    row: Any,
    *,
    title: str,
    check: str,
    evidence: dict[str, Any],
    key: str,
    batch_id: int | None,
) -> NewTask:
    return NewTask(
        rule=rule.name,
        target_kind=rule.target,
        target_id=target_id,
        title=title,
        what_to_check=check,
        evidence={"rule": rule.name, **evidence},
        street_code=row.street_code,
        community_code=row.community_code,
        grid_code=row.grid_code,
        dedupe_key=key,
        batch_id=batch_id,
        due_days=rule.due_days,
    )


def _current(rental: Any) -> Any:
    """A rental registration still running today."""
    return or_(rental.end_date.is_(None), rental.end_date >= _today())


# ---------------------------------------------------------------------------------------------------------
# The rules


def _new_occupant(session: Session, rule: Rule, batch_id: int | None) -> list[NewTask]:
    rental = aliased(Rental)
    other = aliased(Rental)
    tenant_of_dwelling = (
        select(RentalTenant.rental_id)
        .join(other, other.id == RentalTenant.rental_id)
        .where(
            other.dwelling_code == Person.dwelling_code,
            _current(other),
            or_(RentalTenant.person_id == Person.id, RentalTenant.id_hash == Person.id_hash),
        )
    )
    query: Select[Any] = (
        select(
            Person.id,
            Person.street_code,
            Person.community_code,
            Person.grid_code,
            Person.lineage,
            Person.move_in_date,
            Person.address_text,
            rental.id.label("rental_id"),
            rental.lineage.label("rental_lineage"),
            rental.start_date,
            rental.declared_occupants,
        )
        .join(rental, rental.dwelling_code == Person.dwelling_code)
        .where(
            Person.status == "resident",
            Person.dwelling_code.is_not(None),
            _current(rental),
            or_(rental.landlord_id_hash.is_(None), rental.landlord_id_hash != Person.id_hash),
            ~exists(tenant_of_dwelling),
        )
        .order_by(Person.id, rental.id)
    )
    if batch_id is not None:
        query = query.where(or_(Person.seen_batch_id == batch_id, rental.seen_batch_id == batch_id))
    rows = list(session.execute(query))
    moves = _moves(session, [row.id for row in rows])
    sources = _Sources(session)
    sources.load(
        [_lineage_of(r.lineage, "dwelling_code") for r in rows]
        + [
            _lineage_of(r.rental_lineage, "identity_key") or _lineage_of(r.rental_lineage, "start_date")
            for r in rows
        ]
    )
    tasks: dict[int, NewTask] = {}
    for row in rows:
        if row.id in tasks:
            continue  # one task per person, naming the first current registration
        facts: list[dict[str, Any]] = [
            sources.said(
                "lives_here",
                _lineage_of(row.lineage, "dwelling_code"),
                address=row.address_text,
                move_in_date=row.move_in_date,
            ),
            sources.said(
                "rental_registered",
                _lineage_of(row.rental_lineage, "start_date"),
                rental_id=row.rental_id,
                start_date=row.start_date,
                declared_occupants=row.declared_occupants,
            ),
        ]
        if row.id in moves:
            facts.append({"said": "moved_in", **moves[row.id]})
        evidence = {"fields": ["dwelling_code", "address_text"], "facts": facts}
        tasks[row.id] = _task(
            rule,
            row.id,
            row,
            title=translate("rules.new_occupant.title", TASK_LANGUAGE),
            check=translate("rules.new_occupant.check", TASK_LANGUAGE, address=row.address_text or ""),
            evidence=evidence,
            key=_key(row.rental_id),
            batch_id=batch_id,
        )
    return list(tasks.values())


def _moves(session: Session, person_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The latest "moved" change of each of these people (the change log's view of a new occupant)."""
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(person_ids), 5000):
        chunk = list(person_ids[start : start + 5000])
        for change in session.scalars(
            select(RegistryChange)
            .where(
                RegistryChange.kind == "moved",
                RegistryChange.record_kind == "person",
                RegistryChange.record_id.in_(chunk),
            )
            .order_by(RegistryChange.id)
        ):
            found[change.record_id] = {
                "batch": change.batch_id,
                "change": change.id,
                **(change.details or {}),
            }
    return found


def _over_occupancy(session: Session, rule: Rule, batch_id: int | None) -> list[NewTask]:
    tolerance = int(rule.options.get("tolerance", 0))
    residents = (
        select(Person.dwelling_code, func.count().label("residents"))
        .where(Person.status == "resident", Person.dwelling_code.is_not(None))
        .group_by(Person.dwelling_code)
        .subquery()
    )
    query: Select[Any] = (
        select(
            Rental.id,
            Rental.street_code,
            Rental.community_code,
            Rental.grid_code,
            Rental.lineage,
            Rental.address_text,
            Rental.declared_occupants,
            residents.c.residents,
        )
        .join(residents, residents.c.dwelling_code == Rental.dwelling_code)
        .where(
            _current(Rental),
            Rental.declared_occupants.is_not(None),
            residents.c.residents > Rental.declared_occupants + tolerance,
        )
        .order_by(Rental.id)
    )
    rows, sources = _found(session, query, Rental, batch_id, "declared_occupants")
    return [
        _task(
            rule,
            row.id,
            row,
            title=translate("rules.over_occupancy.title", TASK_LANGUAGE),
            check=translate(
                "rules.over_occupancy.check",
                TASK_LANGUAGE,
                address=row.address_text,
                residents=row.residents,
                declared=row.declared_occupants,
            ),
            evidence={
                "fields": ["declared_occupants"],
                "facts": [
                    sources.said(
                        "declared_occupants",
                        _lineage_of(row.lineage, "declared_occupants"),
                        declared_occupants=row.declared_occupants,
                    ),
                    {"said": "residents_counted", "residents": int(row.residents)},
                ],
            },
            key=_key(row.residents, row.declared_occupants),
            batch_id=batch_id,
        )
        for row in rows
    ]


def _entity_residential(session: Session, rule: Rule, batch_id: int | None) -> list[NewTask]:
    dwelling_uses = [str(u) for u in rule.options.get("residential_dwelling_uses", [])]
    building_uses = [str(u) for u in rule.options.get("residential_building_uses", [])]
    place = aliased(StdAddress)
    building = aliased(StdAddress)
    registry_dwelling = exists(
        select(Dwelling.id).where(
            Dwelling.code == LegalEntity.operating_address_code, Dwelling.use.in_(dwelling_uses)
        )
    )
    residential = or_(
        and_(place.level == "dwelling", place.use.in_(dwelling_uses)),
        and_(place.level == "building", place.use.in_(building_uses)),
        and_(place.level == "dwelling", place.use.is_(None), building.use.in_(building_uses)),
        registry_dwelling,
    )
    query: Select[Any] = (
        select(
            LegalEntity.id,
            LegalEntity.street_code,
            LegalEntity.community_code,
            LegalEntity.grid_code,
            LegalEntity.lineage,
            LegalEntity.operating_address_text,
            LegalEntity.operating_address_code,
            place.level.label("place_level"),
            place.use.label("place_use"),
            building.use.label("building_use"),
        )
        .outerjoin(place, place.code == LegalEntity.operating_address_code)
        .outerjoin(building, building.id == place.parent_id)
        .where(LegalEntity.status == "active", LegalEntity.operating_address_code.is_not(None), residential)
        .order_by(LegalEntity.id)
    )
    rows, sources = _found(session, query, LegalEntity, batch_id, "operating_address_code")
    return [
        _task(
            rule,
            row.id,
            row,
            title=translate("rules.entity_residential.title", TASK_LANGUAGE),
            check=translate(
                "rules.entity_residential.check", TASK_LANGUAGE, address=row.operating_address_text
            ),
            evidence={
                "fields": ["operating_address_text", "operating_address_code"],
                "facts": [
                    sources.said(
                        "operates_at",
                        _lineage_of(row.lineage, "operating_address_code"),
                        address=row.operating_address_text,
                        address_code=row.operating_address_code,
                    ),
                    {
                        "said": "address_use",
                        "level": row.place_level,
                        "use": row.place_use,
                        "building_use": row.building_use,
                    },
                ],
            },
            key=_key(row.operating_address_code),
            batch_id=batch_id,
        )
        for row in rows
    ]


def _entity_unplaced(session: Session, rule: Rule, batch_id: int | None) -> list[NewTask]:
    registered = aliased(StdAddress)
    query: Select[Any] = (
        select(
            LegalEntity.id,
            LegalEntity.lineage,
            LegalEntity.operating_address_text,
            LegalEntity.registered_address_text,
            registered.street_code,
            registered.community_code,
            registered.grid_code,
        )
        .outerjoin(registered, registered.code == LegalEntity.registered_address_code)
        .where(LegalEntity.status == "active", LegalEntity.operating_address_code.is_(None))
        .order_by(LegalEntity.id)
    )
    rows, sources = _found(session, query, LegalEntity, batch_id, "operating_address_text")
    return [
        _task(
            rule,
            row.id,
            row,
            title=translate("rules.entity_unplaced.title", TASK_LANGUAGE),
            check=translate("rules.entity_unplaced.check", TASK_LANGUAGE, address=row.operating_address_text),
            evidence={
                "fields": ["operating_address_text"],
                "facts": [
                    sources.said(
                        "operates_at_unplaced",
                        _lineage_of(row.lineage, "operating_address_text"),
                        address=row.operating_address_text,
                    ),
                    {"said": "placed_by_registered_address", "address": row.registered_address_text},
                ],
            },
            key=_key(row.operating_address_text),
            batch_id=batch_id,
        )
        for row in rows
    ]


def _address_review(session: Session, rule: Rule, batch_id: int | None) -> list[NewTask]:
    low = float(rule.options.get("min_score", REVIEW_BAND[0]))
    high = float(rule.options.get("auto_accept", AUTO_ACCEPT))
    query: Select[Any] = (
        select(
            Person.id,
            Person.street_code,
            Person.community_code,
            Person.grid_code,
            Person.lineage,
            Person.address_text,
            Person.address_score,
            Person.dwelling_code,
        )
        .where(
            Person.status == "resident",
            Person.dwelling_code.is_not(None),
            Person.address_score >= low,
            Person.address_score < high,
        )
        .order_by(Person.id)
    )
    rows, sources = _found(session, query, Person, batch_id, "address_text")
    return [
        _task(
            rule,
            row.id,
            row,
            title=translate("rules.address_review.title", TASK_LANGUAGE),
            check=translate("rules.address_review.check", TASK_LANGUAGE, address=row.address_text or ""),
            evidence={
                "fields": ["address_text", "dwelling_code"],
                "facts": [
                    sources.said(
                        "address_written",
                        _lineage_of(row.lineage, "address_text"),
                        address=row.address_text,
                        matched_code=row.dwelling_code,
                        score=round(float(row.address_score), 3),
                        auto_accept=high,
                    )
                ],
            },
            key=_key(row.address_text, row.dwelling_code),
            batch_id=batch_id,
        )
        for row in rows
    ]


def _invalid_id(session: Session, rule: Rule, batch_id: int | None) -> list[NewTask]:
    query: Select[Any] = (
        select(
            Person.id,
            Person.street_code,
            Person.community_code,
            Person.grid_code,
            Person.lineage,
            Person.id_hash,
            Person.address_text,
        )
        .where(Person.status == "resident", Person.id_valid.is_(False))
        .order_by(Person.id)
    )
    rows, sources = _found(session, query, Person, batch_id, "id_number_enc")
    return [
        _task(
            rule,
            row.id,
            row,
            title=translate("rules.invalid_id.title", TASK_LANGUAGE),
            check=translate("rules.invalid_id.check", TASK_LANGUAGE, address=row.address_text or ""),
            evidence={
                "fields": ["id_number_enc"],
                # The number itself stays out of the evidence (it is personal data): only who said it.
                "facts": [sources.said("id_fails_check", _lineage_of(row.lineage, "id_number_enc"))],
            },
            key=row.id_hash or _key(row.id),
            batch_id=batch_id,
        )
        for row in rows
    ]


_RULES: Final[dict[str, Callable[[Session, Rule, int | None], list[NewTask]]]] = {
    "new_occupant": _new_occupant,
    "over_occupancy": _over_occupancy,
    "entity_residential": _entity_residential,
    "entity_unplaced": _entity_unplaced,
    "address_review": _address_review,
    "invalid_id": _invalid_id,
}


# ---------------------------------------------------------------------------------------------------------
# A merge in doubt (the identity review queue)


@dataclass(frozen=True)
class DoubtfulMerge:
    """Two records the identity review queue could not decide are the same person: the grid worker of the
    kept record's grid is asked. ``reason`` is shown; ``evidence`` says which sources said what."""

    person_id: int
    other_person_id: int
    reason: str
    evidence: dict[str, Any]
    batch_id: int | None = None


def ask_about_merges(session: Session, merges: Iterable[DoubtfulMerge]) -> int:
    """Tasks for doubtful merges (rule ``merge_in_doubt``, unless switched off); the number created."""
    if not enabled_rules(session).get("merge_in_doubt", False):
        return 0
    rule = load_rules()["merge_in_doubt"]
    items = list(merges)
    places = {
        row.id: row
        for row in session.execute(
            select(Person.id, Person.street_code, Person.community_code, Person.grid_code).where(
                Person.id.in_({m.person_id for m in items})
            )
        )
    }
    new = [
        _task(
            rule,
            merge.person_id,
            places[merge.person_id],
            title=translate("rules.merge_in_doubt.title", TASK_LANGUAGE),
            check=translate("rules.merge_in_doubt.check", TASK_LANGUAGE, reason=merge.reason),
            evidence={"fields": ["name"], "other_person_id": merge.other_person_id, **merge.evidence},
            key=_key(
                min(merge.person_id, merge.other_person_id), max(merge.person_id, merge.other_person_id)
            ),
            batch_id=merge.batch_id,
        )
        for merge in items
        if merge.person_id in places
    ]
    return len(create_tasks(session, new))


def _open_identity_reviews(session: Session, batch_id: int | None) -> list[DoubtfulMerge]:
    """The identity review queue's open pairs (``ingest`` writes them; a decision there closes them)."""
    from gridgov.registry.models import IdentityReview

    query = select(IdentityReview).where(IdentityReview.status == "open")
    if batch_id is not None:
        query = query.where(IdentityReview.batch_id == batch_id)
    return [
        DoubtfulMerge(
            person_id=review.candidate_id,
            other_person_id=review.record_id,
            reason=translate("rules.merge_in_doubt.reason", TASK_LANGUAGE, score=f"{review.score:.2f}"),
            evidence={"review": review.id, "score": review.score, "reasons": review.reasons},
            batch_id=review.batch_id,
        )
        for review in session.scalars(query)
    ]


def _run(session: Session, rules: list[str] | None, batch_id: int | None) -> dict[str, int]:
    return run_rules(session, rules=rules, batch_id=batch_id)


register_rule_catalogue(catalogue, _run)


def tasks_after_batch(session: Session, batch_id: int) -> dict[str, int]:
    """The rules over what one import batch brought (``ingest_file(after=…)``): tasks created, by rule."""
    return {name: count for name, count in run_rules(session, batch_id=batch_id).items() if count}
