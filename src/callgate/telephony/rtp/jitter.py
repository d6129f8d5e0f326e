"""A jitter buffer for received audio: frames in sequence order, at the pace of the playout clock.

`push` files each arriving packet's payload under its sequence number (duplicates and packets too
late to play are dropped and counted). `pop`, called once per frame period by the playout clock,
hands out the next frame in sequence: after `depth` frames have gathered at the start (the
buffer's delay), or after an underrun, so that a little jitter never starves the reader. A frame
that has not arrived when its turn comes is lost: `pop` returns None (the caller conceals it with
silence) and moves on, so one loss never stalls the stream. A jump of more than `max_frames` (the
sender restarted its sequence) resynchronises on the new numbers.
"""

from __future__ import annotations


class JitterBuffer:
    def __init__(self, *, depth: int = 3, max_frames: int = 50) -> None:
        self.depth = depth
        self.max_frames = max_frames
        self._frames: dict[int, bytes] = {}  # by 16-bit sequence number
        self._next: int | None = None  # the sequence number the next pop plays
        self._playing = False
        self.lost = 0  # frames whose turn came before they did
        self.late = 0  # frames that came after their turn
        self.duplicates = 0

    def push(self, sequence: int, payload: bytes) -> None:
        after = self._next
        if after is not None:
            ahead = ((sequence - after + 0x8000) & 0xFFFF) - 0x8000  # seq_distance(after, sequence)
            if ahead < 0:
                if ahead >= -self.max_frames:
                    self.late += 1
                    return
                self._resync()  # far behind: a new sequence, not a late frame
            elif ahead >= self.max_frames:
                self._resync()
        frames = self._frames
        if sequence in frames:
            self.duplicates += 1
            return
        frames[sequence] = payload
        if self._next is None:
            self._next = sequence  # the first frame (or the first after a resync) starts playout

    def pop(self) -> bytes | None:
        """The next frame, or None (a gap to conceal, or still buffering)."""
        if self._next is None:
            return None
        if not self._playing:
            if len(self._frames) < self.depth:
                return None
            self._playing = True
        if not self._frames:
            self._playing = False  # underrun: gather `depth` frames again before playing on
            return None
        frame = self._frames.pop(self._next, None)
        if frame is None:
            self.lost += 1
        self._next = (self._next + 1) & 0xFFFF
        return frame

    def __len__(self) -> int:
        return len(self._frames)

    def _resync(self) -> None:
        self._frames.clear()
        self._next = None
        self._playing = False
