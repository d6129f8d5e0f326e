"""<Dial> end to end: a child call with parent_call_sid and its own callbacks, audio bridged both ways,
the action told how the dial went. The sandbox keeps what each of its phones hears, which is how the
test knows the bridge carried audio."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from callgate.telephony.aio.tts import Speaker
from tests.audio_checks import best_alignment
from tests.engine.server import Serve, twilio_user
from tests.engine.webapp import WebApp

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

FROM = "+14155550199"
# A caller who presses * three seconds after answering, then stays on the line.
STAR_PRESSER = """
[[phones]]
number = "+14155550778"
steps = [{ ring = 1 }, "answer", { wait = 3 }, { press = "*" }, { wait = 60 }]
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, Client, WebApp, object]]:
    workdir = tmp_path_factory.mktemp("dial")
    heard = workdir / "heard"
    (workdir / "phones.toml").write_text(STAR_PRESSER)
    server = Serve(f"sqlite:///{workdir}/callgate.db", workdir, CALLGATE_SANDBOX_RECORDINGS=str(heard),
                   CALLGATE_RECORDINGS=str(workdir / "recordings"),
                   CALLGATE_SANDBOX_PHONES=str(workdir / "phones.toml"))  # fmt: skip
    with twilio_user(server) as (client, app, _account):
        yield server, client, app, heard


def samples(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


async def hello() -> np.ndarray:
    return await Speaker().speak("Hello?")


def test_dial_bridges_a_child_call_and_reports_to_the_action(setup):
    import asyncio

    server, twilio, app, heard = setup
    doc = VoiceResponse()
    dial = Dial(action=app.url("/dialed"), time_limit=4, timeout=10)
    dial.number("+14155550100", status_callback=app.url("/child-status"),
                status_callback_event="initiated ringing answered completed")  # fmt: skip
    doc.append(dial)
    doc.hangup()
    app.route("/dialed", "<Response><Hangup/></Response>")
    parent = twilio.calls.create(to="+14155550190", from_=FROM, url=app.route("/voice-dial", str(doc)),
                                 status_callback=app.url("/parent-status"))  # fmt: skip
    (action,) = [h for h in app.wait_hits("/dialed", timeout=60) if h.params["CallSid"] == parent.sid]
    assert action.signature_ok
    assert action.params["DialCallStatus"] == "completed"
    children = twilio.calls.list(parent_call_sid=parent.sid)
    assert len(children) == 1
    child = children[0]
    assert action.params["DialCallSid"] == child.sid
    assert 3 <= int(action.params["DialCallDuration"]) <= 6, "timeLimit=4 ended the bridge"
    assert child.direction == "outbound-dial" and child.parent_call_sid == parent.sid
    assert child.to == "+14155550100" and child._from == FROM
    child_hits = app.wait_for(
        lambda hits: (
            (found := [h for h in hits if h.path == "/child-status" and h.params["CallSid"] == child.sid])
            and found[-1].params["CallStatus"] == "completed"
            and found
        )  # fmt: skip
    )
    assert [h.params["CallStatus"] for h in child_hits] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert all(h.params["ParentCallSid"] == parent.sid for h in child_hits)
    assert all(h.signature_ok for h in child_hits)
    final = app.wait_for(lambda hits: [h for h in hits if h.path == "/parent-status"
                                       and h.params["CallSid"] == parent.sid])[0]  # fmt: skip
    assert final.params["CallStatus"] == "completed"
    assert twilio.calls(child.sid).fetch().status == "completed"
    # The parent's phone (0190, silent) heard the child's phone (0100) say "Hello?" through the bridge.
    reference = asyncio.run(hello())
    scores = [best_alignment(samples(p), reference[len(reference) // 3 :]) for p in heard.glob("*.wav")]
    assert max(scores) > 0.6, scores


def test_a_recorded_dial_gives_the_action_a_recording_of_both_parties(setup):
    server, twilio, app, heard = setup
    doc = VoiceResponse()
    dial = Dial(action=app.url("/dialed-rec"), time_limit=3, record="record-from-answer-dual",
                recording_status_callback=app.url("/dial-recording"))  # fmt: skip
    dial.number("+14155550100")
    doc.append(dial)
    app.route("/dialed-rec", "<Response><Hangup/></Response>")
    parent = twilio.calls.create(to="+14155550190", from_=FROM, url=app.route("/voice-dial-rec", str(doc)))
    (action,) = [h for h in app.wait_hits("/dialed-rec", timeout=60) if h.params["CallSid"] == parent.sid]
    assert action.params["DialCallStatus"] == "completed"
    url = action.params["RecordingUrl"]
    (status,) = [h for h in app.wait_hits("/dial-recording") if h.params["CallSid"] == parent.sid]
    assert status.params["RecordingSource"] == "DialVerb" and status.params["RecordingChannels"] == "2"
    assert status.params["RecordingUrl"] == url
    audio = httpx.get(url + ".wav", timeout=10)
    with wave.open(io.BytesIO(audio.content)) as w:
        assert w.getnchannels() == 2
        stereo = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    import asyncio

    reference = asyncio.run(hello())
    # The called party (0100) said "Hello?": it is on the channel of what the caller's leg heard.
    scores = [
        best_alignment(stereo[:, channel].copy(), reference[len(reference) // 3 :]) for channel in (0, 1)
    ]
    assert max(scores) > 0.6, scores
    assert min(scores) < 0.3, "the other channel is the silent caller"


def test_hang_up_on_star_ends_the_bridge_and_the_caller_goes_on(setup):
    server, twilio, app, heard = setup
    doc = VoiceResponse()
    dial = Dial(action=app.url("/dialed-star"), hangup_on_star=True, time_limit=30)
    dial.number("+14155550190")
    doc.append(dial)
    app.route("/dialed-star", "<Response><Hangup/></Response>")
    parent = twilio.calls.create(to="+14155550778", from_=FROM, url=app.route("/voice-star", str(doc)))
    (action,) = [h for h in app.wait_hits("/dialed-star", timeout=60) if h.params["CallSid"] == parent.sid]
    assert action.params["DialCallStatus"] == "completed"
    assert int(action.params["DialCallDuration"]) <= 4, "the * ended the bridge, not the 30 s time limit"
    (child,) = twilio.calls.list(parent_call_sid=parent.sid)
    assert child.status == "completed"


def test_a_whisper_runs_on_the_called_party_before_the_bridge(setup):
    server, twilio, app, heard = setup
    before = set(heard.glob("*.wav"))
    whisper = VoiceResponse()
    whisper.say("You have a call from Callgate")
    app.route("/whisper", str(whisper))
    doc = VoiceResponse()
    dial = Dial(action=app.url("/dialed-whisper"), time_limit=2)
    dial.number("+14155550190", url=app.url("/whisper"), method="POST")
    doc.append(dial)
    app.route("/dialed-whisper", "<Response><Hangup/></Response>")
    parent = twilio.calls.create(to="+14155550190", from_=FROM, url=app.route("/voice-whisper", str(doc)))
    (action,) = [h for h in app.wait_hits("/dialed-whisper", timeout=60) if h.params["CallSid"] == parent.sid]
    assert action.params["DialCallStatus"] == "completed"
    (child,) = twilio.calls.list(parent_call_sid=parent.sid)
    (fetch,) = [h for h in app.wait_hits("/whisper") if h.params["CallSid"] == child.sid]
    assert fetch.signature_ok and fetch.params["ParentCallSid"] == parent.sid
    import asyncio

    said = asyncio.run(Speaker().speak("You have a call from Callgate"))
    scores = {
        p.name: best_alignment(samples(p), said[: len(said) // 2]) for p in set(heard.glob("*.wav")) - before
    }
    assert max(scores.values()) > 0.8, "the called phone heard the whisper"
    assert min(scores.values()) < 0.3, "the caller's phone did not"


def test_dial_to_a_busy_number_tells_the_action_busy(setup):
    server, twilio, app, heard = setup
    doc = VoiceResponse()
    doc.dial("+14155550120", action=app.url("/dialed-busy"))
    app.route("/dialed-busy", "<Response><Hangup/></Response>")
    parent = twilio.calls.create(to="+14155550190", from_=FROM, url=app.route("/voice-busy", str(doc)))
    (action,) = [h for h in app.wait_hits("/dialed-busy", timeout=60) if h.params["CallSid"] == parent.sid]
    assert action.params["DialCallStatus"] == "busy"
    (child,) = twilio.calls.list(parent_call_sid=parent.sid)
    assert child.status == "busy"


def test_echo_sends_the_far_end_its_own_voice(setup):
    import asyncio

    server, twilio, app, heard = setup
    before = set(heard.glob("*.wav"))
    call = twilio.calls.create(to="+14155550100", from_=FROM, twiml="<Response><Echo/></Response>",
                               time_limit=4, status_callback=app.url("/echo-status"))  # fmt: skip
    final = app.wait_for(lambda hits: [h for h in hits if h.path == "/echo-status"
                                       and h.params["CallSid"] == call.sid])[0]  # fmt: skip
    assert final.params["CallStatus"] == "completed"
    (mine,) = set(heard.glob("*.wav")) - before
    reference = asyncio.run(hello())
    # The phone (0100) said "Hello?" and heard it back, a moment later.
    assert best_alignment(samples(mine), reference[len(reference) // 3 :]) > 0.6
