"""Text to speech through espeak-ng, cached by (text, voice, language).

The library and voices of the espeakng-loader wheel speak in this process, off the event loop
(`callgate.telephony.aio.espeak`), so nothing outside Python's packages is needed; where that library
cannot load, the `espeak-ng` program (Debian package espeak-ng) is run instead.

The vendors' voice names map onto espeak-ng voices: Twilio's `man`/`woman`/`alice` and Amazon
Polly names (`Polly.Joanna`, ...; the gender is looked up, the rest of the name ignored), Bandwidth's
`gender` and `locale`; a `language` such as `en-US`, `en-GB`, `fr-FR` picks the espeak-ng language.
The speech comes back as 8 kHz mono 16-bit samples, ready to frame and send.

Long text is rendered in pieces (`pieces`: at most `PIECE_CHARS` characters, cut at the end of a
sentence or a word), so one rendering holds seconds of audio, not an hour of it; the cache is bounded
in renderings and in bytes.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections import OrderedDict

import numpy as np

from callgate.telephony.aio.espeak import Espeak, EspeakError
from callgate.telephony.media.audio import Samples, read_wav, resample, to_int16

_UNLOADED = object()

# Polly voices by gender (the ones users name most; others default to female, Polly's default).
_POLLY_MALE = {
    "matthew", "joey", "justin", "kevin", "brian", "russell", "geraint", "mathieu", "hans", "enrique",
    "miguel", "giorgio", "takumi", "cristiano", "ricardo", "maxim", "jacek", "jan", "mads", "filiz",
}  # fmt: skip


#: the most text rendered at once: about half a minute of speech
PIECE_CHARS = 400
_SENTENCE_END = re.compile(r"[.!?;:]\s|\n")


def pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    """`text` in pieces of at most `size` characters, each ending at a sentence's end where one falls in
    its second half, else at a space, else at `size`."""
    out = []
    text = text.strip()
    while len(text) > size:
        ends = [m.end() for m in _SENTENCE_END.finditer(text, size // 2, size + 1)]
        cut = ends[-1] if ends and ends[-1] <= size else text.rfind(" ", size // 2, size + 1)
        if cut <= 0:
            cut = size
        out.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        out.append(text)
    return out


class SpeechError(RuntimeError):
    """espeak-ng is missing or failed."""


# Bandwidth's voices (SpeakSentence `voice`) that speak as men; the others speak as women.
_BANDWIDTH_MALE = {
    "paul",
    "dave",
    "simon",
    "jorge",
    "carlos",
    "ignacio",
    "rafael",
    "jacques",
    "gerard",
    "jan",
}


def espeak_voice(voice: str | None, language: str | None, gender: str | None = None) -> str:
    """The espeak-ng `-v` argument for a vendor voice name, language or locale (`en-US`, `en_GB`),
    and, for Bandwidth, gender (`male`/`female`; it wins over the voice name)."""
    lang = (language or "en-US").lower().replace("_", "-")
    if lang in ("en", "en-us"):
        lang = "en-us"
    name = (voice or "").lower()
    if gender:
        male = gender.lower() == "male"
    elif name.startswith("polly."):
        male = name.removeprefix("polly.").split("-")[0] in _POLLY_MALE
    elif name.startswith("google."):
        male = name.endswith(("-b", "-d", "-i", "-j"))
    else:
        male = name in ("man", "male") or name in _BANDWIDTH_MALE
    return f"{lang}+{'m3' if male else 'f3'}"


class Speaker:
    """Renders text to samples with espeak-ng; keeps the last `size` renderings, `max_bytes` at most."""

    def __init__(self, size: int = 256, max_bytes: int = 64 * 1024 * 1024, *, library: bool = True) -> None:
        """`library=False` runs the espeak-ng program even where the library loads."""
        self._use_library = library
        self._engine: Espeak | None | object = _UNLOADED
        self._cache: OrderedDict[tuple[str, str], Samples] = OrderedDict()
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0

    async def speak(
        self, text: str, voice: str | None = None, language: str | None = None, gender: str | None = None
    ) -> Samples:
        key = (text, espeak_voice(voice, language, gender))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        library = await self._library()
        if library is not None:
            samples = await self._speak_in_process(library, text, key[1])
            if samples is None:  # a language espeak-ng has no voice for: English rather than nothing
                if not key[1].startswith("en-us"):
                    return await self.speak(text, voice, "en-US", gender)
                raise SpeechError(f"espeak-ng has no voice {key[1]}")
        else:
            samples = await self._speak_with_program(text, key[1])
            if samples is None:
                return await self.speak(text, voice, "en-US", gender)
        self._cache[key] = samples
        self._bytes += samples.nbytes
        while len(self._cache) > self._size or (len(self._cache) > 1 and self._bytes > self._max_bytes):
            _, old = self._cache.popitem(last=False)
            self._bytes -= old.nbytes
        return samples

    async def _library(self) -> Espeak | None:
        if self._engine is _UNLOADED:
            self._engine = await asyncio.to_thread(Espeak.load) if self._use_library else None
        return self._engine  # type: ignore[return-value]

    @staticmethod
    async def _speak_in_process(library: Espeak, text: str, voice: str) -> Samples | None:
        """The speech, or None for a voice espeak-ng does not have."""
        stop = threading.Event()
        try:
            pcm = await asyncio.to_thread(library.synthesize, text, voice, stop)
        except EspeakError as exc:
            if "no voice" in str(exc):
                return None
            raise SpeechError(str(exc)) from None
        except asyncio.CancelledError:
            stop.set()  # the call ended while it rendered: the rendering stops at its next piece
            raise
        wave = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        del pcm
        return to_int16(resample(wave, library.sample_rate))

    @staticmethod
    async def _speak_with_program(text: str, voice: str) -> Samples | None:
        """The speech from the espeak-ng program, or None when it failed for a voice other than
        English's."""
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise SpeechError("espeak-ng cannot speak: its library did not load and its program is missing")
        key = (text, voice)
        proc = await asyncio.create_subprocess_exec(
            binary, "-v", key[1], "--stdout", "--", text,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await proc.communicate()
        except asyncio.CancelledError:
            # The call ended while it rendered: stop espeak-ng and reap it before going.
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0 or not out:
            # An unknown language: fall back to English rather than say nothing.
            if not key[1].startswith("en-us"):
                return None
            raise SpeechError(f"espeak-ng failed: {err.decode(errors='replace').strip()[:200]}")
        samples = read_wav(out)
        del out
        return samples


_SPEAKER: Speaker | None = None


def speaker(*, library: bool = True) -> Speaker:
    """The process's speaker (the first call decides whether it uses the library)."""
    global _SPEAKER
    if _SPEAKER is None:
        _SPEAKER = Speaker(library=library)
    return _SPEAKER
