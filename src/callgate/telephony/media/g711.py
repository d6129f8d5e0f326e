"""G.711 mu-law (PCMU) and A-law (PCMA), encode and decode, table-driven with numpy.

Python 3.13 removed `audioop`, so Callgate carries its own codec. Decoding is a 256-entry table;
encoding is a 65,536-entry table indexed by the 16-bit sample, both computed once at import from the
segment rules of ITU-T G.711 in the classic integer formulation (mu-law on the 14-bit magnitude with
a bias of 33, clipped at 8159; A-law on the 13-bit magnitude), which is what audioop and most
telephony software compute, bit for bit. A 20 ms frame (160 samples) is one numpy take either way.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]

_MU_BIAS = 0x84
_MU_CLIP = 32635


def _mulaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2  # 14 bits
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    value = np.minimum(np.where(pcm < 0, -pcm, pcm), _MU_CLIP >> 2) + (_MU_BIAS >> 2)
    segment = np.zeros_like(value)
    for i, end in enumerate((0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)):
        segment = np.where(value > end, i + 1, segment)
    code = np.where(segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | ((value >> (segment + 1)) & 0x0F))
    # Indexed by the sample as an unsigned 16-bit number: roll so that index 0 is sample 0.
    return np.roll((code ^ mask).astype(np.uint8), -32768)


def _mulaw_decode_table() -> Samples:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + _MU_BIAS) << exponent) - _MU_BIAS
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3  # 13 bits
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    value = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = np.zeros_like(value)
    for i, end in enumerate((0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)):
        segment = np.where(value > end, i + 1, segment)
    shifted = np.where(segment < 2, value >> 1, value >> np.maximum(segment, 1))
    code = np.where(segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | (shifted & 0x0F))
    return np.roll((code ^ mask).astype(np.uint8), -32768)


def _alaw_decode_table() -> Samples:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code & 0x70) >> 4
    base = ((code & 0x0F) << 4) + np.where(segment == 0, 8, 0x108)
    magnitude = np.where(segment > 1, base << np.maximum(segment - 1, 0), base)
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


MULAW_ENCODE = _mulaw_encode_table()
MULAW_DECODE = _mulaw_decode_table()
ALAW_ENCODE = _alaw_encode_table()
ALAW_DECODE = _alaw_decode_table()

#: the byte of silence in each law (what a zero sample encodes to)
SILENCE = {"PCMU": 0xFF, "PCMA": 0xD5}


def encode(samples: Samples, codec: str) -> bytes:
    """16-bit linear samples -> G.711 bytes (`codec` is "PCMU" or "PCMA")."""
    table = MULAW_ENCODE if codec == "PCMU" else ALAW_ENCODE
    return table[samples.view(np.uint16)].tobytes()


def decode(payload: bytes, codec: str) -> Samples:
    """G.711 bytes -> 16-bit linear samples."""
    table = MULAW_DECODE if codec == "PCMU" else ALAW_DECODE
    return table[np.frombuffer(payload, dtype=np.uint8)]
