"""Row plans shared by every feed: output order, duplicates, broken rows, and their bookkeeping.

A feed has ``n`` true records. The plan shuffles them, inserts duplicates a little after their
source (a person who declared twice, a landlord who pressed submit twice, a caller who rang again),
and marks a few rows to be broken on the way out. Everything is decided up front in numpy, so the
rows can then be streamed in chunks.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from gridgov.demo.writers import TableWriter

DUPLICATE_RATE = 0.015
BROKEN_RATE = 0.005
INVALID_ID_RATE = 0.02
INVALID_CREDIT_RATE = 0.01
CHUNK = 20_000

BROKEN_KINDS = ("missing_required", "wrong_column_count", "garbage_date")
GARBAGE_DATES = (
    "0000-00-00",
    "2023-13-45",
    "#VALUE!",
    "45123",
    "19/02/31",
    "N/A",
    "2024-02-30",
    "00:00:00",
    "1900-01-00",
    "——",
)


@dataclass
class RowPlan:
    """Output order of a feed: ``source[i]`` is the record written at row ``i``."""

    source: NDArray[np.int64]  # record index for every output row
    duplicate_of: NDArray[np.int64]  # output row this row duplicates, or -1
    exact: NDArray[np.bool_]  # duplicate rows: exact copy (True) or near duplicate (False)
    broken: NDArray[np.int8]  # 0 = fine, else 1 + index into BROKEN_KINDS
    first_row_of_record: NDArray[np.int64]  # record → its first (original) output row

    @property
    def rows(self) -> int:
        return len(self.source)

    def record_ids(self, prefix: str, width: int = 8) -> RecordIds:
        return RecordIds(lambda i: f"{prefix}{i + 1:0{width}d}")


class RecordIds:
    """Record id of output row ``i``, made when asked: a list would hold millions of strings."""

    def __init__(self, make: Callable[[int], str]) -> None:
        self._make = make

    def __getitem__(self, i: int) -> str:
        return self._make(i)


def make_plan(
    rng: np.random.Generator,
    n: int,
    *,
    shuffle: bool = True,
    duplicate_rate: float = DUPLICATE_RATE,
    broken_rate: float = BROKEN_RATE,
    order: NDArray[np.int64] | None = None,
) -> RowPlan:
    """Shuffle ``n`` records (or take ``order``), add duplicates, pick broken rows.

    ``duplicate_rate`` and ``broken_rate`` are fractions of the *output* rows.
    """
    if order is None:
        order = rng.permutation(n) if shuffle else np.arange(n)
    n_dup = round(duplicate_rate * n / (1.0 - duplicate_rate))
    sources = np.sort(rng.choice(n, size=min(n_dup, n), replace=False)) if n_dup else np.zeros(0, np.int64)
    # A duplicate lands a little after its original (minutes to days later in the source system).
    offsets = rng.integers(1, 3000, size=len(sources))
    keys = np.concatenate(
        [
            np.arange(n, dtype=np.float64),
            np.minimum(sources + offsets, n) - 0.5 + rng.random(len(sources)) * 0.25 + 0.25,
        ]
    )
    rank = np.argsort(keys, kind="stable")
    is_dup_sorted = rank >= n
    position_source = np.where(
        is_dup_sorted, sources[np.clip(rank - n, 0, None)] if len(sources) else 0, rank
    )
    rows = len(rank)
    # Where each base position ended up.
    final_of_base = np.empty(n, dtype=np.int64)
    final_of_base[rank[~is_dup_sorted]] = np.flatnonzero(~is_dup_sorted)
    duplicate_of = np.full(rows, -1, dtype=np.int64)
    duplicate_of[is_dup_sorted] = final_of_base[position_source[is_dup_sorted]]
    exact = np.zeros(rows, dtype=bool)
    exact[is_dup_sorted] = rng.random(int(is_dup_sorted.sum())) < 0.5
    # Broken rows: originals that nobody duplicates, so every duplicate has a readable source.
    n_broken = round(broken_rate * rows)
    candidates = np.flatnonzero(~is_dup_sorted)
    candidates = candidates[~np.isin(candidates, duplicate_of[is_dup_sorted])]
    broken = np.zeros(rows, dtype=np.int8)
    picked = rng.choice(candidates, size=min(n_broken, len(candidates)), replace=False)
    broken[picked] = 1 + rng.integers(0, len(BROKEN_KINDS), size=len(picked))
    source = order[position_source]
    first_row = np.empty(n, dtype=np.int64)
    first_row[order] = final_of_base
    return RowPlan(
        source=source.astype(np.int64),
        duplicate_of=duplicate_of,
        exact=exact,
        broken=broken,
        first_row_of_record=first_row,
    )


def pick_rows(
    rng: np.random.Generator, eligible: NDArray[np.bool_], rate: float, rows: int
) -> NDArray[np.bool_]:
    """A mask of ``round(rate × rows)`` rows chosen among ``eligible`` (for invalid identifiers)."""
    idx = np.flatnonzero(eligible)
    k = min(len(idx), round(rate * rows))
    mask = np.zeros(len(eligible), dtype=bool)
    mask[rng.choice(idx, size=k, replace=False)] = True
    return mask


def break_row(
    r: random.Random, row: Sequence[object], kind: str, *, required: list[int], dates: list[int]
) -> list[object]:
    """Damage one output row the way real exports are damaged."""
    row = list(row)
    if kind == "missing_required":
        row[required[r.randrange(len(required))]] = ""
    elif kind == "garbage_date":
        row[dates[r.randrange(len(dates))]] = GARBAGE_DATES[r.randrange(len(GARBAGE_DATES))]
    else:  # wrong_column_count: a field lost, or an address split on an unquoted comma
        i = 1 + r.randrange(len(row) - 1)
        if r.random() < 0.5:
            del row[i]
        else:
            text = str(row[i])
            cut = r.randrange(len(text) + 1) if text else 0
            row[i : i + 1] = [text[:cut], text[cut:]]
    return row


@dataclass
class DefectTally:
    """Counts of injected defects for manifest.json (and a check against the truth files)."""

    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def add_all(self, names: list[str]) -> None:
        for name in names:
            self.counts[name] += 1

    def as_dict(self, targets: dict[str, float]) -> dict[str, object]:
        out: dict[str, object] = {"rows": self.rows}
        for name in sorted(self.counts):
            entry: dict[str, object] = {
                "count": self.counts[name],
                "fraction": round(self.counts[name] / self.rows, 6) if self.rows else 0.0,
            }
            if name in targets:
                entry["target"] = targets[name]
            out[name] = entry
        for name, target in sorted(targets.items()):
            if name not in self.counts:
                out[name] = {"count": 0, "fraction": 0.0, "target": target}
        return out


class FeedRows:
    """Writes one feed and its truth file row by row, with the bookkeeping duplicates and broken rows need.

    Every truth file ends with the columns ``is_duplicate_of``, ``duplicate_kind``, ``broken`` and
    ``address_defects``. Rows that a later duplicate copies are kept in ``copies`` as
    ``(row, truth_row)``, as first written (undamaged: broken rows are never duplicated).
    """

    def __init__(
        self,
        plan: RowPlan,
        record_ids: RecordIds,
        feed: TableWriter,
        truth: TableWriter,
        tally: DefectTally,
        tally_truth: Callable[[DefectTally, list[object]], None],
    ) -> None:
        self.plan = plan
        self.record_ids = record_ids
        self.feed = feed
        self.truth = truth
        self.tally = tally
        self.copies: dict[int, tuple[list[object], list[object]]] = {}
        self._tally_truth = tally_truth
        self._duplicate_column = truth.header.index("is_duplicate_of")
        self._wanted = set(plan.duplicate_of[plan.duplicate_of >= 0].tolist())

    def truth_tail(self, i: int, address_defects: list[str]) -> list[object]:
        """The last columns of row ``i``'s truth row (duplicate of, duplicate kind, broken, address defects).

        ``broken`` is left blank here and filled in by ``write``; exact copies never come this way.
        """
        dup_of = int(self.plan.duplicate_of[i])
        return [
            self.record_ids[dup_of] if dup_of >= 0 else "",
            "near" if dup_of >= 0 else "",
            "",
            ";".join(address_defects),
        ]

    def write_exact_duplicate(self, i: int) -> bool:
        """Write row ``i`` as an exact copy of its original if the plan makes it one; else False.

        The copy gets its own record id; its truth row names the original.
        """
        dup_of = int(self.plan.duplicate_of[i])
        if dup_of < 0 or not self.plan.exact[i]:
            return False
        row, truth_row = self.copies[dup_of]
        row = [self.record_ids[i], *row[1:]]
        truth_row = [self.record_ids[i], *truth_row[1:]]
        column = self._duplicate_column
        truth_row[column], truth_row[column + 1] = self.record_ids[dup_of], "exact"
        self.feed.write(row)
        self.truth.write(truth_row)
        self.tally.add("duplicate")
        self._tally_truth(self.tally, truth_row)
        return True

    def write(
        self,
        i: int,
        row: list[object],
        truth_row: list[object],
        r: random.Random,
        *,
        required: list[int],
        dates: list[int],
    ) -> None:
        """Write row ``i`` (an original or a near duplicate), broken on the way out if the plan says so."""
        if i in self._wanted:
            self.copies[i] = (row, truth_row)
        if self.plan.broken[i]:
            kind = BROKEN_KINDS[int(self.plan.broken[i]) - 1]
            row = break_row(r, row, kind, required=required, dates=dates)
            truth_row[self._duplicate_column + 2] = kind
            self.tally.add("broken")
            self.tally.add(f"broken:{kind}")
        if self.plan.duplicate_of[i] >= 0:
            self.tally.add("duplicate")
        self.feed.write(row)
        self.truth.write(truth_row)
        self._tally_truth(self.tally, truth_row)


def py_random(rng: np.random.Generator) -> random.Random:
    """A stdlib generator seeded from numpy, for per-row text choices (cheap per call, reproducible)."""
    return random.Random(int(rng.integers(0, 2**63 - 1)))


def days_to_iso(days: NDArray[np.int64]) -> list[str]:
    """Days since 1970-01-01 → 'YYYY-MM-DD' strings, vectorised."""
    return list(np.datetime_as_string(days.astype("datetime64[D]"), unit="D"))


def seconds_to_iso(seconds: NDArray[np.int64]) -> list[str]:
    """Seconds since the epoch → 'YYYY-MM-DD HH:MM:SS'."""
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return [t.replace("T", " ") for t in text]
