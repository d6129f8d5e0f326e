"""The engine's neutral notices as Twilio's and SignalWire's debugger codes."""

from __future__ import annotations

import pytest

from callgate.core.notices import Notice, NoticeKind
from callgate.dialects.signalwire import SIGNALWIRE
from callgate.dialects.twilio.engine_face import CompatFace
from callgate.dialects.twilio.face import TWILIO
from callgate.engine.faces import Notification

# the codes the engine reported before its notices were neutral
EXPECTED = {
    NoticeKind.FETCH_FAILED: 11200,
    NoticeKind.INVALID_CONTENT_TYPE: 12300,
    NoticeKind.DOCUMENT: 12100,
    NoticeKind.DOCUMENT_LIMIT_REACHED: 14106,
    NoticeKind.UNROUTABLE: 13224,
    NoticeKind.INTERNAL_FAILURE: 12400,
    NoticeKind.SAY_FAILED: 13520,
    NoticeKind.SAY_TOO_LONG: 13521,
    NoticeKind.AUDIO_FETCH_FAILED: 11200,
    NoticeKind.BAD_AUDIO: 13227,
    NoticeKind.UNSUPPORTED: 13750,
}


@pytest.mark.parametrize("flavor", [TWILIO, SIGNALWIRE], ids=lambda f: f.name)
@pytest.mark.parametrize("kind", list(NoticeKind), ids=lambda k: k.value)
def test_every_kind_has_its_code_message_and_level(flavor, kind):
    note = CompatFace(flavor).notification(Notice(kind, "what happened", "warning", url="https://app.test/a"))
    assert note == Notification(EXPECTED[kind], "what happened", "warning")


@pytest.mark.parametrize(("kind", "cause"), [(NoticeKind.FETCH_FAILED, 11205), (NoticeKind.DOCUMENT, 12200)])
def test_a_fetch_or_parser_failure_keeps_the_code_given_below(kind, cause):
    assert CompatFace(TWILIO).notification(Notice(kind, "x", cause=cause)).code == cause


def test_a_cause_does_not_change_the_code_of_other_kinds():
    assert CompatFace(TWILIO).notification(Notice(NoticeKind.UNROUTABLE, "x", cause=11205)).code == 13224


def test_the_fallback_url_is_told_the_code_of_the_failure():
    face = CompatFace(TWILIO)
    failed = Notice(NoticeKind.INVALID_CONTENT_TYPE, "Invalid Content-Type: application/json")
    params = face.fallback_params([("CallSid", "CA1")], error=failed, error_url="https://app.test/a")
    assert params == [("CallSid", "CA1"), ("ErrorCode", "12300"), ("ErrorUrl", "https://app.test/a")]
    timed_out = Notice(NoticeKind.FETCH_FAILED, "read timeout", cause=11205)
    params = face.fallback_params([], error=timed_out, error_url="https://app.test/a")
    assert ("ErrorCode", "11205") in params
