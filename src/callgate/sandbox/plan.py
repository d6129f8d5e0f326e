"""The sandbox number plan (docs/SANDBOX.md): which phone answers `+1NPA55501xx`, and how.

Pure data: the user agent in `callgate.sandbox.uas` plays it. Times are in seconds of the phone's
life; the audio parts (voices, beeps, DTMF, echo) arrive with the media layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What one sandbox phone does with an INVITE."""

    name: str
    ring_s: float = 1.0
    #: a final status to reject with instead of answering (486 busy, 603 decline, ...)
    reject: tuple[int, str] | None = None
    #: never answer (the caller cancels or times out)
    ring_forever: bool = False
    #: hang up this long after answering (None: wait for the caller)
    hangup_after_s: float | None = 120.0


PERSON = Behaviour("person", ring_s=1.0, hangup_after_s=120.0)

PLAN: dict[str, Behaviour] = {
    "0100": PERSON,
    "0101": Behaviour("person pressing 1234#", ring_s=1.0, hangup_after_s=120.0),
    "0110": Behaviour("answering machine with beep", ring_s=4.0, hangup_after_s=120.0),
    "0111": Behaviour("answering machine without beep", ring_s=4.0, hangup_after_s=120.0),
    "0112": Behaviour("greeting, then the machine hangs up", ring_s=4.0, hangup_after_s=8.0),
    "0120": Behaviour("busy", ring_s=0.0, reject=(486, "Busy Here")),
    "0130": Behaviour("rings and never answers", ring_forever=True),
    "0140": Behaviour("declines", ring_s=1.0, reject=(603, "Decline")),
    "0150": Behaviour("does not exist", ring_s=0.0, reject=(404, "Not Found")),
    "0151": Behaviour("network failure", ring_s=0.0, reject=(503, "Service Unavailable")),
    "0160": Behaviour("answers and hangs up after 5 s", ring_s=1.0, hangup_after_s=5.0),
    "0170": Behaviour("fax machine", ring_s=1.0, hangup_after_s=120.0),
    "0180": Behaviour("echo", ring_s=0.0, hangup_after_s=120.0),
    "0190": Behaviour("silent", ring_s=1.0, hangup_after_s=120.0),
}

_SANDBOX_NUMBER = re.compile(r"\+1[2-9]\d{2}555(01\d\d)")


def behaviour_for(number: str) -> Behaviour:
    """The phone at `number` (E.164, or a SIP user part holding one). Numbers outside the plan,
    and `+1NPA55501xx` rows the table does not list, are people (0100)."""
    match = _SANDBOX_NUMBER.fullmatch(number)
    if match is None:
        return PERSON
    return PLAN.get(match.group(1)[-4:], PERSON)
