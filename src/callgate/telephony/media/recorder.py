"""Call recording: what the far end says (inbound), what Callgate sends (outbound), or both, mixed
into one channel or one track a channel, written as it happens (`WavWriter`).

A `Recorder` is a stream listener: the media clock hands it each 20 ms tick's inbound and outbound
frame. Trimming leading and trailing silence, when asked, happens at `close` (it rewrites the file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from callgate.telephony.media.audio import RATE, Samples, WavWriter, encode_mp3, trim_silence

TRACKS = ("inbound", "outbound", "both")


class Recorder:
    def __init__(
        self, path: Path, *, track: str = "both", dual: bool = False, trim: bool = False, mp3: bool = False
    ) -> None:
        if track not in TRACKS:
            raise ValueError(f"track must be one of {TRACKS}")
        self.path = path
        self.track = track
        self.dual = dual and track == "both"
        self.trim = trim
        self.mp3 = mp3
        self.writer = WavWriter(path.open("w+b"), channels=2 if self.dual else 1)
        self.closed = False

    def __call__(self, inbound: Samples, outbound: Samples) -> None:
        if self.closed:
            return
        if self.track == "inbound":
            self.writer.write(inbound)
        elif self.track == "outbound":
            self.writer.write(outbound)
        elif self.dual:
            self.writer.write(np.stack([inbound, outbound], axis=1))
        else:
            mixed = inbound.astype(np.int32) + outbound.astype(np.int32)
            self.writer.write(np.clip(mixed, -32768, 32767).astype(np.int16))

    @property
    def seconds(self) -> float:
        return self.writer.seconds

    def close(self) -> float:
        """Finish the file (and, if asked, its MP3 beside it: same name, .mp3); its duration in seconds."""
        seconds = self._close()
        if self.mp3 and not self.dual:
            samples = np.frombuffer(self.path.read_bytes()[44:], dtype="<i2").astype(np.int16)
            self.path.with_suffix(".mp3").write_bytes(encode_mp3(samples))
        return seconds

    def _close(self) -> float:
        if self.closed:
            return self.writer.samples / RATE
        self.closed = True
        self.writer.close()
        if self.trim and not self.dual:
            data = self.path.read_bytes()[44:]
            samples = trim_silence(np.frombuffer(data, dtype="<i2").astype(np.int16))
            writer = WavWriter(self.path.open("w+b"))
            writer.write(samples)
            writer.close()
            return len(samples) / RATE
        return self.writer.samples / RATE
