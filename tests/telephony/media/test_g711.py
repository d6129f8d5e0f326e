"""G.711 against the reference values of the standard's classic integer formulation."""

import warnings

import numpy as np
import pytest

from callgate.telephony.media import g711

ALL = np.arange(-32768, 32768, dtype=np.int16)


@pytest.mark.parametrize(
    ("codec", "sample", "code"),
    [
        ("PCMU", 0, 0xFF), ("PCMU", -1, 0x7E), ("PCMU", 32767, 0x80), ("PCMU", -32768, 0x00),
        ("PCMU", 1000, 0xCE), ("PCMA", 0, 0xD5), ("PCMA", -1, 0x55), ("PCMA", 32767, 0xAA),
        ("PCMA", -32768, 0x2A), ("PCMA", 1000, 0xFA),
    ],
)  # fmt: skip
def test_known_codes(codec, sample, code):
    assert g711.encode(np.array([sample], dtype=np.int16), codec) == bytes([code])


@pytest.mark.parametrize(
    ("codec", "code", "sample"),
    [("PCMU", 0xFF, 0), ("PCMU", 0x80, 32124), ("PCMU", 0x00, -32124), ("PCMA", 0xD5, 8), ("PCMA", 0x55, -8),
     ("PCMA", 0xAA, 32256), ("PCMA", 0x2A, -32256)],
)  # fmt: skip
def test_known_samples(codec, code, sample):
    assert g711.decode(bytes([code]), codec).tolist() == [sample]


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_decode_then_encode_is_the_identity_on_every_code(codec):
    codes = bytes(range(256))
    again = g711.encode(g711.decode(codes, codec), codec)
    if codec == "PCMU":
        # 0x7F (-0) decodes to 0, which encodes as +0 (0xFF): the one code with two meanings.
        assert again == codes.replace(b"\x7f", b"\xff")
    else:
        assert again == codes


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_the_round_trip_error_stays_within_the_segment_step(codec):
    back = g711.decode(g711.encode(ALL, codec), codec).astype(np.int32)
    error = np.abs(back - ALL.astype(np.int32))
    # The quantisation step doubles per segment; at the top it is 1024 (mu) / 1024 (A) wide.
    assert error.max() <= 1024 + 32
    small = np.abs(ALL.astype(np.int32)) < 64
    assert error[small].max() <= 8  # fine steps near zero


def test_bit_exact_with_the_standard_library_codec_where_it_still_exists():
    """audioop (removed in Python 3.13) computes the same tables; where it is present, compare all."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    raw = ALL.tobytes()
    assert g711.encode(ALL, "PCMU") == audioop.lin2ulaw(raw, 2)
    assert g711.encode(ALL, "PCMA") == audioop.lin2alaw(raw, 2)
    codes = bytes(range(256))
    assert g711.decode(codes, "PCMU").tobytes() == audioop.ulaw2lin(codes, 2)
    assert g711.decode(codes, "PCMA").tobytes() == audioop.alaw2lin(codes, 2)


def test_silence_bytes():
    zeros = np.zeros(160, dtype=np.int16)
    assert g711.encode(zeros, "PCMU") == bytes([g711.SILENCE["PCMU"]]) * 160
    assert g711.encode(zeros, "PCMA") == bytes([g711.SILENCE["PCMA"]]) * 160
