"""What `callgate serve`, `worker` and `sandbox` set for the process: the collector, open files."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from callgate.runtime import GC_THRESHOLD, OPEN_FILES_CEILING, settle_heap, tune_gc


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


def test_the_open_files_limit_is_raised_to_the_hard_limit_in_a_child():
    """Run where it cannot leak into the test process: a child started with a soft limit of 256."""
    import subprocess
    import sys

    code = (
        "import resource, socket\n"
        "from callgate.runtime import raise_open_files_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "assert soft == 256, soft\n"
        "raised = raise_open_files_limit()\n"
        "assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == raised\n"
        "socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(600)]\n"
        "print(raised, hard, len(socks))\n"
    )
    prelimit = "import resource, runpy, sys; s, h = resource.getrlimit(resource.RLIMIT_NOFILE); "
    prelimit += "resource.setrlimit(resource.RLIMIT_NOFILE, (256, h)); exec(sys.argv[1])"
    out = subprocess.run([sys.executable, "-c", prelimit, code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    raised, hard, opened = (int(v) for v in out.stdout.split())
    assert opened == 600  # more sockets than the soft limit it started with
    assert raised == (OPEN_FILES_CEILING if hard == -1 else hard)  # -1: RLIM_INFINITY
