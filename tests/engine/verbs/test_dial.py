"""<Dial> over fake child calls: each target becomes a party with the options it asks for; nobody
answering gives the action DialCallStatus; the winner gets its digits, its whisper, then the bridge
(recorded with `record`), and is ended whatever happened; the action hears how it went."""

from __future__ import annotations

import pytest

from callgate.core.call import CallOptions
from callgate.core.verbs import Dial, DialTarget
from callgate.engine.verbs import dial
from callgate.engine.verbs.base import Goto, Party
from tests.engine.verbs.fake import Children, FakeContext

pytestmark = pytest.mark.anyio

A, B = "+14155550101", "+14155550102"


def number(address: str, **kw) -> DialTarget:
    return DialTarget(kind="number", address=address, **kw)


async def test_each_target_is_a_party_with_the_options_it_asks_for():
    ctx = FakeContext(children_=Children({A: "busy"}))
    target = number(
        A, url="https://app.test/whisper", status_callback="https://cb.test/s", username="u", password="p"
    )
    await dial.run(ctx, Dial(targets=(target,), caller_id="+14155550000", timeout_s=12, time_limit_s=60))
    (party,) = ctx.children.placed
    assert party == Party(
        to=A,
        from_="+14155550000",
        options=CallOptions(
            url="https://app.test/whisper",
            status_callback="https://cb.test/s",
            status_callback_events=("completed",),
            caller_id="+14155550000",
            timeout_s=12,
            time_limit_s=60,
            sip_auth_username="u",
            sip_auth_password="p",
            dialect=ctx.call.options.dialect,
        ),
    )
    assert ctx.children.released


async def test_without_a_caller_id_the_parties_call_from_the_callers_number():
    ctx = FakeContext(children_=Children({A: "no-answer"}))
    await dial.run(ctx, Dial(targets=(number(A),)))
    assert ctx.children.placed[0].from_ == ctx.call.from_
    assert ctx.children.placed[0].options.status_callback_events == ()


@pytest.mark.parametrize(
    ("outcomes", "status", "one"),
    [
        ({A: "busy"}, "busy", True),
        ({A: "busy", B: "busy"}, "busy", False),
        ({A: "busy", B: "no-answer"}, "no-answer", False),
        ({A: "failed", B: "busy"}, "failed", False),
    ],
)
async def test_nobody_answering_tells_the_action_how_it_went(outcomes, status, one):
    ctx = FakeContext(children_=Children(outcomes))
    step = await dial.run(ctx, Dial(targets=tuple(number(n) for n in outcomes), action="after"))
    assert isinstance(step, Goto) and step.url == "https://app.test/after"
    params = dict(step.params)
    assert params["DialCallStatus"] == status
    assert ("DialCallSid" in params) is one, "a single party's sid is given, several parties' none"


async def test_no_targets_fails_at_once():
    ctx = FakeContext()
    step = await dial.run(ctx, Dial(targets=(), action="after"))
    assert isinstance(step, Goto) and dict(step.params) == {"DialCallStatus": "failed"}


async def test_the_winner_gets_its_digits_its_whisper_and_the_bridge_then_is_ended():
    children = Children({A: "busy", B: "answer"}, bridge_ends="star")
    ctx = FakeContext(children_=children)
    verb = Dial(targets=(number(A), number(B, send_digits="ww12")), action="after", time_limit_s=90,
                hangup_on_star=True)  # fmt: skip
    step = await dial.run(ctx, verb)
    winner = children.answered
    assert winner is not None
    assert winner.did == [("press", "ww12"), ("whisper",), ("bridge", 90, True), ("end", "star")]
    assert isinstance(step, Goto)
    assert dict(step.params) == {"DialCallStatus": "completed", "DialCallSid": str(winner.call.id),
                                 "DialCallDuration": "7"}  # fmt: skip
    assert not [d for d in ctx.done if d[0] == "begin_recording"], "recorded without `record`"


async def test_a_party_that_hangs_up_in_its_whisper_is_not_bridged():
    children = Children({A: "answer"}, hangs_up_in_whisper=True)
    ctx = FakeContext(children_=children)
    assert await dial.run(ctx, Dial(targets=(number(A),))) is None, "without an action the document goes on"
    assert children.answered is not None
    assert children.answered.did == [("whisper",), ("end", "callee")]


@pytest.mark.parametrize(
    ("record", "channels"), [("record-from-answer", "mono"), ("record-from-ringing-dual", "dual")]
)
async def test_record_records_the_bridge_and_reports_it(record, channels):
    children = Children({A: "answer"})
    ctx = FakeContext(children_=children)
    verb = Dial(
        targets=(number(A),), action="after", record=record, recording_status_callback="https://cb.test/r"
    )
    step = await dial.run(ctx, verb)
    assert [d for d in ctx.done if "recording" in d[0]] == [
        ("begin_recording", "DialVerb", channels, "both", False),
        ("finish_recording", "DialVerb"),
    ]
    assert ctx.callbacks == [("https://cb.test/r", "POST", ("completed",), "DialVerb")]
    assert isinstance(step, Goto) and "RecordingSid" in dict(step.params)


async def test_an_empty_recording_of_the_bridge_is_not_reported():
    ctx = FakeContext(children_=Children({A: "answer"}), recording_status="absent")
    step = await dial.run(ctx, Dial(targets=(number(A),), action="after", record="record-from-answer"))
    assert ctx.callbacks == []
    assert isinstance(step, Goto) and "RecordingSid" not in dict(step.params)
