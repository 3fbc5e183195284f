"""Group commit: concurrent items are written together, each answered with its own outcome."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from gridgov.core.batching import GroupCommit


class Recorder:
    """A writer that remembers its batches; it can hold the first batch until released, fail on a marked
    item (``"bad"``: its own error) or fail a whole batch holding ``"poison"`` (a lost connection, say)."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def __call__(self, items: Sequence[str]) -> list[str | Exception]:
        self.entered.set()
        self.hold.wait(5)
        self.batches.append(list(items))
        if "poison" in items and len(items) > 1:
            raise RuntimeError("the whole batch failed")
        return [
            ValueError(f"refused {item}") if item in ("bad", "poison") else item.upper() for item in items
        ]


def busy() -> tuple[Recorder, GroupCommit[str, str]]:
    """A writer busy with a first item: what is submitted now waits and is written as one batch."""
    writer = Recorder()
    writer.hold.clear()
    intake: GroupCommit[str, str] = GroupCommit(writer, name="test-intake")
    intake.submit("warm")
    assert writer.entered.wait(5)
    return writer, intake


def test_items_queued_while_a_batch_is_written_go_together_in_the_next_one() -> None:
    writer = Recorder()
    writer.hold.clear()
    intake: GroupCommit[str, str] = GroupCommit(writer, name="test-intake")
    first = intake.submit("a")
    assert writer.entered.wait(5)  # "a" is being written alone
    later = [intake.submit(item) for item in ("b", "c", "d")]
    writer.hold.set()
    assert first.result(5) == "A"
    assert [f.result(5) for f in later] == ["B", "C", "D"]
    assert writer.batches == [["a"], ["b", "c", "d"]]
    assert (intake.batches, intake.items) == (2, 4)
    intake.close()


def test_one_refused_item_does_not_fail_the_others() -> None:
    writer, intake = busy()
    good, bad, also_good = (intake.submit(item) for item in ("x", "bad", "y"))
    writer.hold.set()
    assert good.result(5) == "X" and also_good.result(5) == "Y"
    with pytest.raises(ValueError, match="refused bad"):
        bad.result(5)
    intake.close()


def test_a_batch_that_fails_as_a_whole_is_written_again_item_by_item() -> None:
    writer, intake = busy()
    futures = [intake.submit(item) for item in ("p", "poison", "q")]
    writer.hold.set()
    assert futures[0].result(5) == "P" and futures[2].result(5) == "Q"
    with pytest.raises(ValueError, match="refused poison"):
        futures[1].result(5)
    assert writer.batches[1:] == [["p", "poison", "q"], ["p"], ["poison"], ["q"]]
    intake.close()


def test_batches_are_capped_and_close_writes_what_is_queued_then_a_new_submit_restarts() -> None:
    writer = Recorder()
    writer.hold.clear()
    intake: GroupCommit[str, str] = GroupCommit(writer, name="test-intake", max_batch=2)
    futures = [intake.submit(str(n)) for n in range(5)]
    writer.hold.set()
    intake.close()
    assert all(f.done() for f in futures)
    assert max(len(batch) for batch in writer.batches) == 2
    assert sorted(item for batch in writer.batches for item in batch) == ["0", "1", "2", "3", "4"]
    assert intake.submit("again").result(5) == "AGAIN"  # the app started again: a new writer thread
    intake.close()
    with pytest.raises(ValueError):
        GroupCommit(writer, name="x", max_batch=0)
