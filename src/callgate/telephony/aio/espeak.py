"""espeak-ng as a library, in this process: the libespeak-ng and voice data that the espeakng-loader
wheel ships, driven through ctypes, so that speech needs no Debian package.

    engine = Espeak.load()                  # None where the wheel's library cannot be loaded
    pcm = engine.synthesize("Hello", "en-us+f3")   # 16-bit mono at engine.sample_rate (22050)

libespeak-ng keeps one global state (its voice, its callback), so one `Espeak` exists per process and
`synthesize` takes a lock: renderings run one at a time, each on the caller's thread (the `Speaker`
runs them off the event loop). A rendering is stopped from another thread by setting the `stop`
event it was given: the library's callback then asks it to stop, and it returns what it had.

Voice names are espeak-ng's: a voice file's name and an optional variant (`en-us+f3`). The library
finds a voice by its file name only, so a language with a region it has no file for (`en-gb`,
`es-es`) falls back to the language's own voice (`en`, `es`), as the command line's lookup does.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass, field
from pathlib import Path

try:  # the wheel: its library and data sit inside the package
    import espeakng_loader
except ImportError:  # pragma: no cover - the wheel is a dependency; other platforms may lack it
    espeakng_loader = None

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0

_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakError(RuntimeError):
    """libespeak-ng could not be loaded, or refused a voice or a text."""


@dataclass(eq=False)
class Espeak:
    """One libespeak-ng, initialised for synchronous rendering into memory."""

    library: ctypes.CDLL
    sample_rate: int
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _chunks: list[bytes] = field(default_factory=list)
    _stop: threading.Event | None = None
    _voice: bytes | None = None

    @classmethod
    def open(cls, library_path: str, data_path: str) -> Espeak:
        """Load the library at `library_path` with the voice data in `data_path` (its espeak-ng-data)."""
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as exc:
            raise EspeakError(f"cannot load {library_path}: {exc}") from None
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
        if rate <= 0:
            raise EspeakError(f"espeak-ng did not initialise with the data in {data_path}")
        engine = cls(lib, rate)
        # Kept on the instance: the library calls it for as long as the process lives.
        engine._callback = _Callback(engine._received)  # type: ignore[attr-defined]
        lib.espeak_SetSynthCallback(engine._callback)  # type: ignore[attr-defined]
        return engine

    @classmethod
    def load(cls) -> Espeak | None:
        """The process's libespeak-ng from the espeakng-loader wheel, or None where it cannot load."""
        global _LOADED
        with _LOAD_LOCK:
            if _LOADED is None:
                _LOADED = _load(cls)
            return _LOADED if isinstance(_LOADED, Espeak) else None

    def _received(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int | None) -> int:
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        stop = self._stop
        return 1 if stop is not None and stop.is_set() else 0

    def synthesize(self, text: str, voice: str, stop: threading.Event | None = None) -> bytes:
        """`text` spoken by `voice`: little-endian 16-bit mono samples at `sample_rate`, or what was
        rendered when `stop` was set. Raises EspeakError for a voice espeak-ng does not have, or a
        rendering that failed."""
        data = text.encode("utf-8", errors="replace") + b"\0"
        with self._lock:
            self._select(voice)
            self._chunks, self._stop = [], stop
            try:
                status = self.library.espeak_Synth(
                    data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
                )
            finally:
                chunks, self._chunks, self._stop = self._chunks, [], None
        if status != _EE_OK:
            raise EspeakError(f"espeak-ng could not render the text (status {status})")
        return b"".join(chunks)

    def _select(self, voice: str) -> None:
        wanted = voice.encode()
        if wanted == self._voice:
            return
        name, _, variant = voice.partition("+")
        candidates = [voice]
        if "-" in name:  # a region without a voice file of its own: the language's voice
            primary = name.split("-")[0]
            candidates.append(f"{primary}+{variant}" if variant else primary)
        for candidate in candidates:
            if self.library.espeak_SetVoiceByName(candidate.encode()) == _EE_OK:
                self._voice = wanted
                return
        self._voice = None
        raise EspeakError(f"espeak-ng has no voice {voice}")


_LOAD_LOCK = threading.Lock()
_LOADED: Espeak | bool | None = None  # False: tried, and it cannot load here


def _load(cls: type[Espeak]) -> Espeak | bool:
    if espeakng_loader is None:
        return False
    try:
        library, data = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except RuntimeError:  # the wheel without its data
        return False
    if not Path(library).exists():
        return False
    try:
        return cls.open(library, data)
    except EspeakError:
        return False


__all__ = ["Espeak", "EspeakError"]
