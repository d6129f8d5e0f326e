"""The pacing of document fetches without media progress, on a fake clock."""

from __future__ import annotations

import pytest

from callgate.engine.pacing import DocumentPacer


def test_the_first_documents_go_at_once_then_one_per_pace_then_none():
    pacer = DocumentPacer(limit=6, free=3, pace_s=0.5)
    assert [pacer.before_fetch(10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    # Asked again at once, each further fetch waits its turn behind the one before.
    assert pacer.before_fetch(10.0) == pytest.approx(0.5)
    assert pacer.before_fetch(10.5) == pytest.approx(0.5)
    assert pacer.before_fetch(12.0) == 0.0  # its turn has passed: it goes now
    assert pacer.before_fetch(12.0) is None, "the limit: the call's documents end"
    assert pacer.before_fetch(100.0) is None


def test_media_progress_starts_a_new_run():
    pacer = DocumentPacer(limit=2, free=1, pace_s=1.0)
    assert pacer.before_fetch(0.0) == 0.0
    assert pacer.before_fetch(0.0) == pytest.approx(1.0)
    pacer.progressed()
    assert pacer.before_fetch(1.0) == 0.0
    assert pacer.idle == 1
