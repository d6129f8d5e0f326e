"""How many documents a call may fetch in a row without making media progress, and how fast.

A document that only sends the call elsewhere (`<Redirect>` to itself, an action that answers with
the same document) would otherwise be fetched as fast as the web app answers until the call's time
limit: thousands of requests an hour. Each document fetch goes through `DocumentPacer.before_fetch`:
the first `free` of a run go at once, the next ones at most one every `pace_s`, and past `limit` the
call's documents end (the session reports Twilio's "document retrieval limit reached", 14106, and
hangs up). A verb that plays or waits on the call (`progressed`) starts a new run.

Sans-IO: the caller hands in `now` (seconds, from the engine's clock) and does the waiting.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_IDLE_DOCUMENTS = 50  # Twilio's limit for that session
FREE_DOCUMENTS = 10
PACE_S = 0.1


@dataclass
class DocumentPacer:
    """Counts the documents fetched since the call last made media progress."""

    limit: int = MAX_IDLE_DOCUMENTS
    free: int = FREE_DOCUMENTS
    pace_s: float = PACE_S
    #: documents fetched since the last progress
    idle: int = 0
    _last: float | None = None  # when the last paced fetch went

    def before_fetch(self, now: float) -> float | None:
        """Seconds to wait before fetching the next document, or None: the limit is reached."""
        if self.idle >= self.limit:
            return None
        self.idle += 1
        wait = 0.0
        if self.idle > self.free and self._last is not None:
            wait = max(0.0, self._last + self.pace_s - now)
        self._last = now + wait
        return wait

    def progressed(self) -> None:
        """The call played, waited or listened: a new run of documents begins."""
        self.idle = 0
