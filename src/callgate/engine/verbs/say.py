"""<Say>: text to speech (espeak-ng), `loop` times; loop 0 repeats until the call ends or is interrupted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callgate.core.verbs import Say
from callgate.engine.verbs import Step
from callgate.telephony.aio.tts import SpeechError

if TYPE_CHECKING:
    from callgate.engine.session import Session

#: Twilio stops a `loop="0"` <Say> after this many repetitions
MAX_LOOPS = 1000
SAY_FAILED = 13520


async def run(session: Session, verb: Say) -> Step:
    try:
        samples = await session.speak(verb.text, verb.voice, verb.language)
    except SpeechError as exc:
        await session.notify(SAY_FAILED, f"Say: the text could not be spoken: {exc}", level="warning")
        return None
    await session.play(samples, verb.loop or MAX_LOOPS)
    return None
