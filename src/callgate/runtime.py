"""Process-wide settings of a Callgate process (`callgate serve`, `worker`, `sandbox`).

The garbage collector: CPython starts a young collection every 700 net allocations of container
objects, and every hundredth is a full collection that walks every live object. A process placing
calls makes and drops tens of thousands of small objects a second (SIP messages, headers, events)
while it keeps a large, long-lived heap (modules, the app, the calls in flight), so with the defaults
it spent a large share of its CPU time collecting (`gc.callbacks` around bench/sip_cps.py shows
it). Reference counting frees nearly all of those objects; the cycle collector only
needs to run now and then.

Open files: a call holds two UDP sockets (RTP and RTCP) for its media, and many systems start a
process with a soft limit of 1,024 descriptors, which a few hundred calls would exhaust (the next
call then fails to open its media). The soft limit is raised to the hard one, which needs no
privilege.
"""

from __future__ import annotations

import gc
import logging

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


#: the soft limit asked for when the hard limit is unlimited (Linux's default ceiling, fs.nr_open)
OPEN_FILES_CEILING = 1 << 20


def raise_open_files_limit() -> int:
    """Raise the soft limit of open descriptors to the hard limit; the soft limit in force after."""
    try:
        import resource
    except ImportError:  # not a POSIX system: nothing to raise
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (OSError, ValueError) as exc:  # a ceiling below the hard limit (fs.nr_open): keep it
            logging.getLogger(__name__).warning("open files limit stays at %d: %s", soft, exc)
            return soft
        return wanted
    return soft
