"""The process-wide collector settings that `callgate serve`, `worker` and `sandbox` apply."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from callgate.runtime import GC_THRESHOLD, settle_heap, tune_gc


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_young_collections_come_less_often_and_the_older_ratios_stay(collector):
    gc.set_threshold(700, 10, 10)
    tune_gc()
    assert gc.get_threshold() == (GC_THRESHOLD, 10, 10)


def test_what_start_up_made_is_frozen_out_of_the_collectors_view(collector):
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle only the collector can free

    garbage = weakref.ref(Node())  # garbage from before the start: collected, not frozen
    kept = Node()
    gc.unfreeze()
    settle_heap()
    assert garbage() is None
    assert gc.get_freeze_count() > 0
    assert not any(isinstance(o, Node) for o in gc.get_objects())  # frozen: out of the collector's view
    gc.unfreeze()
    assert [o for o in gc.get_objects() if isinstance(o, Node)] == [kept]
