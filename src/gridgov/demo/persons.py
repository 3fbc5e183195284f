"""Synthetic persons in bulk: ages, sexes, resident IDs, names, phones (numpy arrays, no objects).

Used for residents, landlords and legal representatives. IDs are unique across everyone generated
in one world (``IdRegistry``), as real ones are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

from gridgov.demo import names as nm
from gridgov.demo.identifiers import ID_CHECK_CHARS, ID_WEIGHTS, resident_id_check_char

EPOCH = date(1970, 1, 1)
_POW10 = 10 ** np.arange(16, -1, -1, dtype=np.int64)

# Nanshan's age pyramid (assumption, shaped like the 2020 census for Shenzhen: many people 25–44).
AGE_BANDS = np.array([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 96])
AGE_SHARE = np.array(
    [5.5, 5.5, 4.5, 3.5, 7.0, 12.0, 13.0, 11.0, 9.0, 7.5, 6.0, 4.5, 3.5, 2.6, 1.8, 1.2, 0.8, 0.6]
)


def sample_ages(
    rng: np.random.Generator, n: int, *, minimum: int = 0, maximum: int = 95
) -> NDArray[np.int64]:
    lo = AGE_BANDS[:-1]
    hi = AGE_BANDS[1:]
    share = AGE_SHARE * np.clip((np.minimum(hi, maximum + 1) - np.maximum(lo, minimum)) / (hi - lo), 0, 1)
    band = rng.choice(len(share), size=n, p=share / share.sum())
    a = np.maximum(lo[band], minimum)
    b = np.minimum(hi[band], maximum + 1)
    return np.asarray(a + np.floor(rng.random(n) * (b - a)), dtype=np.int64)


def birth_days(rng: np.random.Generator, ages: NDArray[np.int64], as_of: date) -> NDArray[np.int64]:
    """Days since 1970 of a birth date that makes each person exactly ``age`` on ``as_of``."""
    today = (as_of - EPOCH).days
    return (today - np.floor(ages * 365.2425 + rng.random(len(ages)) * 364).astype(np.int64) - 1).astype(
        np.int64
    )


def ymd(days: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    d = days.astype("datetime64[D]")
    years = d.astype("datetime64[Y]").astype(np.int64) + 1970
    months = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    mday = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return years, months, mday


class IdRegistry:
    """Hands out resident IDs that are unique within one generated world."""

    def __init__(self) -> None:
        self._taken = np.zeros(0, dtype=np.int64)

    def make(
        self,
        rng: np.random.Generator,
        area: NDArray[np.int64],
        born: NDArray[np.int64],
        male: NDArray[np.bool_],
    ) -> NDArray[np.int64]:
        """17-digit ID bodies (int64): area + YYYYMMDD + 3-digit sequence with sex parity."""
        y, m, d = ymd(born)
        date_part = y * 10_000 + m * 100 + d
        head = area.astype(np.int64) * 10**11 + date_part * 1000
        body = head + self._sequence(rng, male)
        for _ in range(50):
            # Earlier IDs come first in the concatenation, so only new ones are ever re-drawn.
            combined = np.concatenate([self._taken, body])
            _, first = np.unique(combined, return_index=True)
            clash = np.ones(len(combined), dtype=bool)
            clash[first] = False  # the first occurrence of a number keeps it
            redo = clash[len(self._taken) :]
            if not redo.any():
                break
            body[redo] = head[redo] + self._sequence(rng, male[redo])
        else:  # pragma: no cover - would need ~1000 people sharing an area and a birthday
            raise RuntimeError("Could not make unique resident IDs.")
        self._taken = np.concatenate([self._taken, body])
        return body

    @staticmethod
    def _sequence(rng: np.random.Generator, male: NDArray[np.bool_]) -> NDArray[np.int64]:
        # Odd last digit for men, even for women (GB 11643).
        return rng.integers(0, 100, size=len(male)) * 10 + rng.integers(0, 5, size=len(male)) * 2 + male


def check_indices(bodies: NDArray[np.int64]) -> NDArray[np.int64]:
    """Index into ID_CHECK_CHARS of each body's check character (digit by digit: no (n, 17) matrix)."""
    total = np.zeros(len(bodies), dtype=np.int64)
    for power, weight in zip(_POW10, ID_WEIGHTS, strict=True):
        total += (bodies // power) % 10 * weight
    return total % 11


def id_text(body: int, check_index: int) -> str:
    return f"{body:017d}{ID_CHECK_CHARS[check_index]}"


def corrupt_id(r_choice: float, r_pick: float, valid: str) -> tuple[str, str]:
    """An invalid version of a valid ID and the kind of damage: what a typing mistake does to it."""
    body, check = valid[:17], valid[17]
    if r_choice < 0.5:
        others = [c for c in "0123456789X" if c != check]
        return body + others[int(r_pick * len(others))], "bad_check_digit"
    if r_choice < 0.8:
        # An impossible birth date, check digit recomputed: only the date gives it away.
        bad = ("0230", "0231", "1301", "0431", "0631", "0900", "1100", "0932")[int(r_pick * 8)]
        new_body = body[:10] + bad + body[14:]
        return new_body + resident_id_check_char(new_body), "bad_birth_date"
    if r_pick < 0.5:
        i = 6 + int(r_pick * 2 * 11)
        return valid[:i] + valid[i + 1 :], "wrong_length"
    i = 6 + int((r_pick - 0.5) * 2 * 11)
    return valid[:i] + valid[i] + valid[i:], "wrong_length"


@dataclass
class PersonBatch:
    male: NDArray[np.bool_]
    born: NDArray[np.int64]
    area: NDArray[np.int64]
    id_body: NDArray[np.int64]
    surname: NDArray[np.intp]
    given1: NDArray[np.intp]
    given2: NDArray[np.intp]
    given_kind: NDArray[np.intp]
    phone: NDArray[np.int64]  # 0 = none
    check: NDArray[np.int64]  # index into ID_CHECK_CHARS

    def id_number(self, i: int) -> str:
        return id_text(int(self.id_body[i]), int(self.check[i]))

    def name(self, maker: nm.NameMaker, i: int) -> str:
        return maker.name(
            int(self.surname[i]), int(self.given1[i]), int(self.given2[i]), int(self.given_kind[i])
        )


def area_codes(rng: np.random.Generator, group: NDArray[np.int64]) -> NDArray[np.int64]:
    """group: 0 Shenzhen, 1 rest of Guangdong, 2 other provinces → 6-digit area codes."""
    out = np.zeros(len(group), dtype=np.int64)
    for code, table in ((0, nm.AREA_SHENZHEN), (1, nm.AREA_GUANGDONG), (2, nm.AREA_OTHER)):
        mask = group == code
        picks = nm.draw(rng, table, int(mask.sum()))
        out[mask] = np.array(table[0], dtype=np.int64)[picks]
    return out


def make_people(
    rng: np.random.Generator,
    registry: IdRegistry,
    *,
    ages: NDArray[np.int64],
    group: NDArray[np.int64],
    as_of: date,
    male_share: float = 0.52,
    area: NDArray[np.int64] | None = None,
) -> PersonBatch:
    n = len(ages)
    male = rng.random(n) < male_share
    born = birth_days(rng, ages, as_of)
    if area is None:
        area = area_codes(rng, group)
    body = registry.make(rng, area, born, male)
    years = ymd(born)[0]
    maker_draw = nm.NameMaker().draw(rng, male=male, guangdong=(area // 10_000) == 44, modern=years >= 2000)
    phone = nm.mobile_numbers(rng, n)
    return PersonBatch(
        male=male,
        born=born,
        area=area,
        id_body=body,
        surname=maker_draw[0],
        given1=maker_draw[1],
        given2=maker_draw[2],
        given_kind=maker_draw[3],
        phone=phone,
        check=check_indices(body),
    )
