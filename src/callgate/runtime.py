"""Process-wide settings of a Callgate process (`callgate serve`, `worker`, `sandbox`).

The garbage collector: CPython starts a young collection every 700 net allocations of container
objects, and every hundredth is a full collection that walks every live object. A process placing
calls makes and drops tens of thousands of small objects a second (SIP messages, headers, events)
while it keeps a large, long-lived heap (modules, the app, the calls in flight), so with the defaults
it spent a tenth to a fifth of its CPU time collecting (measured with `gc.callbacks` around
bench/sip_cps.py). Reference counting frees nearly all of those objects; the cycle collector only
needs to run now and then.
"""

from __future__ import annotations

import gc

#: young collections every this many net allocations (CPython's default is 700)
GC_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collect cycles less often (the older generations keep CPython's ratios of 10)."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, older, oldest)


def settle_heap() -> None:
    """Once started, move everything made so far (modules, the app, the settings) out of the
    collector's view: it lives as long as the process, and every full collection would walk it."""
    gc.collect()
    gc.freeze()
