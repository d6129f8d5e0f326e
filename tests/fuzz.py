"""Mutation fuzzing: good inputs, a few random edits each, for the parsers' "parse or refuse cleanly"
tests (SIP, SDP, RTCP)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Mutator:
    """`mutator(rng, data)` applies 1 to `max_edits` random edits to `data`, each one of: overwrite a
    byte, flip one bit (with `bit_flips`), cut up to `max_cut` bytes, insert one of `interesting`, copy
    up to `max_copy` bytes in place (in whole `word`s), or cut the rest off. The same seed gives the
    same mutations."""

    interesting: Sequence[bytes]
    max_edits: int = 4
    max_cut: int = 40
    max_copy: int = 60
    word: int = 1
    bit_flips: bool = False

    def __call__(self, rng: random.Random, data: bytes) -> bytes:
        ops = ["byte", "bit", "cut", "insert", "copy", "truncate"]
        if not self.bit_flips:
            ops.remove("bit")
        out = bytearray(data)
        for _ in range(rng.randint(1, self.max_edits)):
            op = ops[rng.randrange(len(ops))]
            at = rng.randrange(len(out) + 1)
            if op == "byte":
                if out:
                    out[min(at, len(out) - 1)] = rng.randrange(256)
            elif op == "bit":
                if out:
                    out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)  # counts, flags, lengths
            elif op == "cut":
                del out[at : at + rng.randint(1, self.max_cut)]
            elif op == "insert":
                out[at:at] = rng.choice(self.interesting)
            elif op == "copy":
                out[at:at] = out[at : at + self.word * rng.randint(1, self.max_copy // self.word)]
            else:
                del out[at:]
        return bytes(out)
