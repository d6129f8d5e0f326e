from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

import pytest

from callgate.core.call import Call, CallOptions, CallQuality
from callgate.core.status import CallStatus
from callgate.dialects.signalwire import SIGNALWIRE
from callgate.dialects.twilio.face import TWILIO
from callgate.dialects.twilio.webhook import (
    RecordingInfo,
    amd_params,
    call_params,
    dial_action_params,
    fallback_params,
    gather_params,
    record_action_params,
    recording_sid,
    recording_status_params,
    recording_url,
    status_callback_params,
    voice_params,
)

ACCOUNT = UUID("0a1b2c3d-0000-4000-8000-000000000001")
CALL = UUID("0a1b2c3d-0000-4000-8000-0000000000ca")
PARENT = UUID("0a1b2c3d-0000-4000-8000-0000000000aa")
CHILD = UUID("0a1b2c3d-0000-4000-8000-0000000000cc")
RECORDING = UUID("0a1b2c3d-0000-4000-8000-0000000000ee")

AC = "AC0a1b2c3d000040008000000000000001"
CA = "CA0a1b2c3d0000400080000000000000ca"
CA_PARENT = "CA0a1b2c3d0000400080000000000000aa"
CA_CHILD = "CA0a1b2c3d0000400080000000000000cc"
RE = "RE0a1b2c3d0000400080000000000000ee"
SW_AC = "0a1b2c3d-0000-4000-8000-000000000001"
SW_CA = "0a1b2c3d-0000-4000-8000-0000000000ca"
SW_RE = "0a1b2c3d-0000-4000-8000-0000000000ee"

T0 = datetime(2026, 3, 2, 9, 30, 5, tzinfo=UTC)
T0_RFC2822 = "Mon, 02 Mar 2026 09:30:05 +0000"
US = "+14155550100"
GB = "+442071838750"

TW_REC_URL = f"https://cg.example/2010-04-01/Accounts/{AC}/Recordings/{RE}"
SW_REC_URL = f"https://cg.example/api/laml/2010-04-01/Accounts/{SW_AC}/Recordings/{SW_RE}"


def make_call(**changes) -> Call:
    fields = {
        "id": CALL,
        "account_id": ACCOUNT,
        "to": US,
        "from_": GB,
        "status": CallStatus.IN_PROGRESS,
        "created_at": T0,
        "updated_at": T0,
        "options": CallOptions(url="https://app.example/voice"),
    }
    return Call(**(fields | changes))


def recording(url: str, **changes) -> RecordingInfo:
    return RecordingInfo(**({"id": RECORDING, "duration_s": 12, "url": url} | changes))


# The standard parameters of the call above, per dialect.
TW_BASE = [
    ("CallSid", CA),
    ("AccountSid", AC),
    ("From", GB),
    ("To", US),
    ("CallStatus", "in-progress"),
    ("ApiVersion", "2010-04-01"),
    ("Direction", "outbound-api"),
    ("Called", US),
    ("CalledCity", ""),
    ("CalledState", ""),
    ("CalledZip", ""),
    ("CalledCountry", "US"),
    ("Caller", GB),
    ("CallerCity", ""),
    ("CallerState", ""),
    ("CallerZip", ""),
    ("CallerCountry", "GB"),
    ("FromCity", ""),
    ("FromState", ""),
    ("FromZip", ""),
    ("FromCountry", "GB"),
    ("ToCity", ""),
    ("ToState", ""),
    ("ToZip", ""),
    ("ToCountry", "US"),
]
SW_BASE = [
    ("CallSid", SW_CA),
    ("AccountSid", SW_AC),
    ("From", GB),
    ("To", US),
    ("CallStatus", "in-progress"),
    ("ApiVersion", "2010-04-01"),
    ("Direction", "outbound-api"),
]


def with_status(base: list[tuple[str, str]], status: str) -> list[tuple[str, str]]:
    return [(k, status if k == "CallStatus" else v) for k, v in base]


# -- standard parameters ---------------------------------------------------------------------------------


def test_twilio_call_params_for_an_e164_call():
    assert call_params(make_call(), TWILIO) == TW_BASE


def test_signalwire_call_params_have_no_legacy_or_geographic_parameters():
    assert call_params(make_call(), SIGNALWIRE) == SW_BASE


def test_status_overrides_call_status():
    assert ("CallStatus", "ringing") in call_params(make_call(), TWILIO, status="ringing")
    assert ("CallStatus", "in-progress") not in call_params(make_call(), SIGNALWIRE, status="ringing")


def test_twilio_child_leg_to_a_sip_uri():
    call = make_call(
        to="sip:alice@pbx.example.com;transport=tcp", parent_call_id=PARENT, direction="outbound-dial"
    )
    assert call_params(call, TWILIO) == [
        ("CallSid", CA),
        ("AccountSid", AC),
        ("From", GB),
        ("To", "sip:alice@pbx.example.com;transport=tcp"),
        ("CallStatus", "in-progress"),
        ("ApiVersion", "2010-04-01"),
        ("Direction", "outbound-dial"),
        ("ParentCallSid", CA_PARENT),
        # A SIP callee has no geography; the phone-number caller keeps its own.
        ("Called", "sip:alice@pbx.example.com;transport=tcp"),
        ("Caller", GB),
        ("CallerCity", ""),
        ("CallerState", ""),
        ("CallerZip", ""),
        ("CallerCountry", "GB"),
        ("FromCity", ""),
        ("FromState", ""),
        ("FromZip", ""),
        ("FromCountry", "GB"),
    ]


def test_signalwire_child_leg_renders_the_parent_as_a_uuid():
    call = make_call(to="sip:alice@pbx.example.com", parent_call_id=PARENT, direction="outbound-dial")
    assert call_params(call, SIGNALWIRE) == [
        ("CallSid", SW_CA),
        ("AccountSid", SW_AC),
        ("From", GB),
        ("To", "sip:alice@pbx.example.com"),
        ("CallStatus", "in-progress"),
        ("ApiVersion", "2010-04-01"),
        ("Direction", "outbound-dial"),
        ("ParentCallSid", "0a1b2c3d-0000-4000-8000-0000000000aa"),
    ]


def test_client_and_sip_parties_have_no_geography():
    params = call_params(make_call(to="client:alice", from_="sip:bob@example.com"), TWILIO)
    assert [k for k, _ in params if k.endswith(("City", "State", "Zip", "Country"))] == []
    assert ("Called", "client:alice") in params and ("Caller", "sip:bob@example.com") in params


@pytest.mark.parametrize(
    ("to", "country"), [("+260967301606", "ZM"), ("+551135892112", "BR"), ("+80012345678", "")]
)
def test_country_comes_from_the_number(to, country):
    params = dict(call_params(make_call(to=to), TWILIO))
    assert (params["ToCountry"], params["CalledCountry"]) == (country, country)


def test_no_parameter_is_sent_twice():
    for flavor in (TWILIO, SIGNALWIRE):
        call = make_call(parent_call_id=PARENT, answered_by="human", sip_result_code=200)
        params = status_callback_params(
            call, flavor, event="completed", sequence_number=3, timestamp=T0, recording=recording("u")
        )
        names = [k for k, _ in params]
        assert len(names) == len(set(names))


# -- voice URL -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("flavor", "base"), [(TWILIO, TW_BASE), (SIGNALWIRE, SW_BASE)])
def test_voice_params(flavor, base):
    assert voice_params(make_call(), flavor) == base
    assert voice_params(make_call(answered_by="machine_start"), flavor) == [
        *base,
        ("AnsweredBy", "machine_start"),
    ]


# -- status callbacks ------------------------------------------------------------------------------------

PROGRESS = [("Timestamp", T0_RFC2822), ("CallbackSource", "call-progress-events")]


@pytest.mark.parametrize(
    ("event", "call_status", "reported"),
    [
        ("initiated", CallStatus.QUEUED, "initiated"),
        ("ringing", CallStatus.RINGING, "ringing"),
        ("answered", CallStatus.IN_PROGRESS, "in-progress"),
    ],
)
@pytest.mark.parametrize(("flavor", "base"), [(TWILIO, TW_BASE), (SIGNALWIRE, SW_BASE)])
def test_progress_events(flavor, base, event, call_status, reported):
    call = make_call(status=call_status)
    params = status_callback_params(call, flavor, event=event, sequence_number=1, timestamp=T0)
    assert params == [*with_status(base, reported), *PROGRESS, ("SequenceNumber", "1")]


def test_twilio_completed_callback():
    call = make_call(status=CallStatus.COMPLETED, duration_s=49, sip_result_code=200, answered_by="human")
    params = status_callback_params(
        call, TWILIO, event="completed", sequence_number=3, timestamp=T0, recording=recording(TW_REC_URL)
    )
    assert params == [
        *with_status(TW_BASE, "completed"),
        ("AnsweredBy", "human"),
        *PROGRESS,
        ("SequenceNumber", "3"),
        ("CallDuration", "49"),
        ("Duration", "1"),
        ("SipResponseCode", "200"),
        ("RecordingUrl", TW_REC_URL),
        ("RecordingSid", RE),
        ("RecordingDuration", "12"),
    ]


@pytest.mark.parametrize(
    ("status", "sip_code", "tail"),
    [
        (CallStatus.BUSY, 486, [("CallDuration", "0"), ("Duration", "0"), ("SipResponseCode", "486")]),
        (CallStatus.NO_ANSWER, 487, [("CallDuration", "0"), ("Duration", "0"), ("SipResponseCode", "487")]),
        # Failed before any SIP answer (no route, bad number): no code to report.
        (CallStatus.FAILED, None, [("CallDuration", "0"), ("Duration", "0")]),
    ],
)
def test_twilio_unanswered_final_callbacks_report_zero_durations(status, sip_code, tail):
    call = make_call(status=status, sip_result_code=sip_code)
    params = status_callback_params(call, TWILIO, event="completed", sequence_number=2, timestamp=T0)
    assert params == [*with_status(TW_BASE, status.value), *PROGRESS, ("SequenceNumber", "2"), *tail]


@pytest.mark.parametrize(("seconds", "minutes"), [(1, "1"), (60, "1"), (61, "2"), (3600, "60")])
def test_twilio_duration_is_whole_minutes_rounded_up(seconds, minutes):
    call = make_call(status=CallStatus.COMPLETED, duration_s=seconds)
    params = dict(status_callback_params(call, TWILIO, event="completed", sequence_number=3, timestamp=T0))
    assert (params["CallDuration"], params["Duration"]) == (str(seconds), minutes)


def test_signalwire_completed_callback():
    call = make_call(
        status=CallStatus.COMPLETED, duration_s=49, sip_result_code=200, quality=CallQuality(audio_in_mos=4.3)
    )
    params = status_callback_params(
        call, SIGNALWIRE, event="completed", sequence_number=3, timestamp=T0, recording=recording(SW_REC_URL)
    )
    assert params == [
        *with_status(SW_BASE, "completed"),
        *PROGRESS,
        ("SequenceNumber", "3"),
        ("CallDuration", "49"),
        ("SipResultCode", "200"),
        ("AudioInMos", "4.3"),
        ("RecordingUrl", SW_REC_URL),
        ("RecordingSid", SW_RE),
        ("RecordingDuration", "12"),
    ]


@pytest.mark.parametrize(
    ("status", "sip_code", "tail"),
    [
        (CallStatus.BUSY, 486, [("SipResultCode", "486")]),
        (CallStatus.NO_ANSWER, 487, [("SipResultCode", "487")]),
        (CallStatus.FAILED, None, []),
    ],
)
def test_signalwire_unanswered_final_callbacks_have_no_call_duration(status, sip_code, tail):
    call = make_call(status=status, sip_result_code=sip_code)
    params = status_callback_params(call, SIGNALWIRE, event="completed", sequence_number=2, timestamp=T0)
    assert params == [*with_status(SW_BASE, status.value), *PROGRESS, ("SequenceNumber", "2"), *tail]


@pytest.mark.parametrize("event", ["ringing_forwarded", "ringing_queued"])
def test_signalwire_extra_ringing_events(event):
    params = status_callback_params(
        make_call(status=CallStatus.RINGING), SIGNALWIRE, event=event, sequence_number=1, timestamp=T0
    )
    assert dict(params)["CallStatus"] == "ringing"


def test_twilio_refuses_signalwire_only_events():
    with pytest.raises(ValueError, match="'ringing_forwarded' is not a twilio StatusCallbackEvent"):
        status_callback_params(
            make_call(), TWILIO, event="ringing_forwarded", sequence_number=1, timestamp=T0
        )


def test_timestamp_is_rendered_in_utc():
    local = datetime.fromisoformat("2026-03-02T10:30:05+01:00")
    params = status_callback_params(
        make_call(), SIGNALWIRE, event="answered", sequence_number=2, timestamp=local
    )
    assert dict(params)["Timestamp"] == T0_RFC2822


# -- Gather, Dial, Record actions ------------------------------------------------------------------------


def test_twilio_gather_action():
    assert gather_params(make_call(), TWILIO, digits="1234", finished_on_key="#") == [
        *TW_BASE,
        ("Digits", "1234"),
        ("FinishedOnKey", "#"),
        ("msg", "Gather End"),
    ]


def test_twilio_gather_ended_without_a_key_sends_it_empty():
    params = gather_params(make_call(), TWILIO, digits="12", finished_on_key=None)
    assert params[-2:] == [("FinishedOnKey", ""), ("msg", "Gather End")]


def test_signalwire_gather_action():
    assert gather_params(make_call(), SIGNALWIRE, digits="1234", finished_on_key="#") == [
        *SW_BASE,
        ("Digits", "1234"),
    ]


def test_twilio_dial_action_after_a_recorded_bridge():
    params = dial_action_params(
        make_call(),
        TWILIO,
        dial_call_status="completed",
        dial_call_sid=CHILD,
        dial_call_duration=37,
        recording=recording(TW_REC_URL),
        dial_bridged=True,
    )
    assert params == [
        *TW_BASE,
        ("DialCallStatus", "completed"),
        ("DialCallSid", CA_CHILD),
        ("DialCallDuration", "37"),
        ("DialBridged", "true"),
        ("RecordingUrl", TW_REC_URL),
    ]


def test_twilio_dial_action_when_nobody_answered():
    params = dial_action_params(
        make_call(),
        TWILIO,
        dial_call_status="no-answer",
        dial_call_sid=CHILD,
        dial_call_duration=None,
        recording=None,
        dial_bridged=False,
    )
    assert params == [
        *TW_BASE,
        ("DialCallStatus", "no-answer"),
        ("DialCallSid", CA_CHILD),
        ("DialBridged", "false"),
    ]


def test_signalwire_dial_action_has_no_dial_bridged():
    params = dial_action_params(
        make_call(),
        SIGNALWIRE,
        dial_call_status="busy",
        dial_call_sid=CHILD,
        dial_call_duration=0,
        recording=None,
        dial_bridged=False,
    )
    assert params == [
        *SW_BASE,
        ("DialCallStatus", "busy"),
        ("DialCallSid", "0a1b2c3d-0000-4000-8000-0000000000cc"),
        ("DialCallDuration", "0"),
    ]


@pytest.mark.parametrize(
    ("flavor", "base", "url", "sid"),
    [(TWILIO, TW_BASE, TW_REC_URL, RE), (SIGNALWIRE, SW_BASE, SW_REC_URL, SW_RE)],
)
def test_record_action(flavor, base, url, sid):
    rec = recording(url)
    recorded = [("RecordingUrl", url), ("RecordingSid", sid), ("RecordingDuration", "12")]
    assert record_action_params(make_call(), flavor, recording=rec, digits="hangup") == [
        *base,
        *recorded,
        ("Digits", "hangup"),
    ]
    assert record_action_params(make_call(), flavor, recording=rec, digits=None) == [*base, *recorded]


# -- recording status callback ---------------------------------------------------------------------------


def test_twilio_recording_status_callback():
    rec = recording(TW_REC_URL, channels=2, start_time=T0, track="inbound")
    params = recording_status_params(
        make_call(), TWILIO, recording=rec, status="completed", source="OutboundAPI"
    )
    assert params == [
        ("AccountSid", AC),
        ("CallSid", CA),
        ("RecordingSid", RE),
        ("RecordingUrl", TW_REC_URL),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "12"),
        ("RecordingChannels", "2"),
        ("RecordingStartTime", T0_RFC2822),
        ("RecordingSource", "OutboundAPI"),
        ("RecordingTrack", "inbound"),
    ]


def test_twilio_recording_status_callback_with_an_error():
    rec = recording(TW_REC_URL, duration_s=0)
    params = recording_status_params(
        make_call(), TWILIO, recording=rec, status="absent", source="RecordVerb", error_code=13617
    )
    assert params[-3:] == [
        ("RecordingSource", "RecordVerb"),
        ("RecordingTrack", "both"),
        ("ErrorCode", "13617"),
    ]
    assert "RecordingStartTime" not in dict(params)


def test_signalwire_recording_status_callback():
    rec = recording(SW_REC_URL, channels=2, start_time=T0, track="inbound")
    params = recording_status_params(
        make_call(), SIGNALWIRE, recording=rec, status="completed", source="DialVerb", error_code=13617
    )
    assert params == [
        ("AccountSid", SW_AC),
        ("CallSid", SW_CA),
        ("RecordingSid", SW_RE),
        ("RecordingUrl", SW_REC_URL),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "12"),
        ("RecordingChannels", "2"),
        ("RecordingSource", "DialVerb"),
    ]


def test_recording_sids_and_urls():
    assert recording_sid(TWILIO, RECORDING) == RE
    assert recording_sid(SIGNALWIRE, RECORDING) == SW_RE
    assert recording_url(TWILIO, ACCOUNT, RECORDING, base_url="https://cg.example/") == TW_REC_URL
    assert recording_url(SIGNALWIRE, ACCOUNT, RECORDING, base_url="https://cg.example") == SW_REC_URL


# -- fallback and AMD ------------------------------------------------------------------------------------


def test_fallback_adds_the_error_to_what_the_failed_request_carried():
    base = voice_params(make_call(), TWILIO)
    params = fallback_params(base, error_code=11200, error_url="https://app.example/voice")
    assert params == [*TW_BASE, ("ErrorCode", "11200"), ("ErrorUrl", "https://app.example/voice")]
    assert base == TW_BASE


@pytest.mark.parametrize(
    ("flavor", "call_sid", "account_sid"), [(TWILIO, CA, AC), (SIGNALWIRE, SW_CA, SW_AC)]
)
def test_async_amd_callback(flavor, call_sid, account_sid):
    assert amd_params(make_call(), flavor, answered_by="machine_end_beep", detection_duration_ms=4210) == [
        ("CallSid", call_sid),
        ("AccountSid", account_sid),
        ("AnsweredBy", "machine_end_beep"),
        ("MachineDetectionDuration", "4210"),
    ]


def test_an_unknown_flavor_is_refused():
    with pytest.raises(ValueError, match="no webhook rules for the 'bandwidth' flavor"):
        call_params(make_call(), replace(TWILIO, name="bandwidth"))
