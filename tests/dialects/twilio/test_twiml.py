"""TwiML/LaML documents, written the way users write them (the twilio helper library) where it can;
whole documents in fixtures/good (the verbs each gives named in its first comment) and fixtures/bad
(the error each is refused with, code and message, in NAME.error beside it)."""

import re
from pathlib import Path

import pytest
from twilio.twiml.voice_response import VoiceResponse

from callgate.core.verbs import (
    Dial,
    DialTarget,
    DocumentError,
    Echo,
    Gather,
    Hangup,
    Notice,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    Say,
    StartRecording,
    StopRecording,
)
from callgate.dialects.twilio.twiml import parse_document


def parse(response: VoiceResponse, **kwargs):
    return parse_document(str(response), **kwargs)


def codes(doc) -> list[int]:
    return [n.code for n in doc.notices]


def refused(text, **kwargs) -> DocumentError:
    with pytest.raises(DocumentError) as info:
        parse_document(text, **kwargs)
    return info.value


FIXTURES = Path(__file__).parent / "fixtures"


def fixtures(folder: str) -> list:
    files = sorted((FIXTURES / folder).glob("*.xml"))
    assert files, f"no documents in {FIXTURES / folder}"
    return [pytest.param(path, id=path.stem) for path in files]


@pytest.mark.parametrize("path", fixtures("good"))
def test_good_documents_give_their_verbs_and_no_notice(path):
    data = path.read_bytes()
    named = re.search(r"<!-- verbs:(.*?)-->", data.decode())
    assert named, f"{path.name} does not name its verbs"
    for document in (data, data.decode()):  # as received, and as a string
        doc = parse_document(document)
        assert [type(verb).__name__ for verb in doc.verbs] == named.group(1).split()
        assert doc.notices == ()


@pytest.mark.parametrize("path", fixtures("bad"))
def test_bad_documents_are_refused_with_their_error(path):
    code, message = path.with_suffix(".error").read_text().rstrip("\n").split(" ", 1)
    data = path.read_bytes()
    for document in (data, data.decode()):
        error = refused(document)
        assert (error.code, error.message) == (int(code), message)


# ---- Say, Play, Pause --------------------------------------------------------------------------------


def test_say_with_its_attributes():
    r = VoiceResponse()
    r.say("Hello!", voice="Polly.Amy", language="en-GB", loop=3)
    r.say("Twice <and> & more")
    doc = parse(r)
    assert doc.verbs == (
        Say(text="Hello!", voice="Polly.Amy", language="en-GB", loop=3),
        Say(text="Twice <and> & more"),
    )
    assert doc.notices == ()


def test_say_ssml_is_reduced_to_what_is_heard():
    r = VoiceResponse()
    say = r.say("Hello")
    say.emphasis("world", level="strong")
    say.break_(time="1s")
    say.say_as("12", interpret_as="cardinal")
    say.sub("W3C", alias="World Wide Web Consortium")
    say.prosody(rate="slow").w("slowly", role="amazon:VB")
    assert parse(r).verbs == (Say(text="Hello world 12 World Wide Web Consortium slowly"),)


def test_text_after_an_ssml_element_is_a_separate_word():
    # the helper library cannot write text after a nested element; raw TwiML can
    doc = parse_document("<Response><Say><emphasis>Hello</emphasis>world<break/>again</Say></Response>")
    assert doc.verbs == (Say(text="Hello world again"),)


def test_unknown_markup_inside_say_is_spoken_and_reported():
    doc = parse_document("<Response><Say>Press <b>one</b> now</Say></Response>")
    assert doc.verbs == (Say(text="Press one now"),)
    assert doc.notices == (Notice(12200, "<b> is not an SSML element of <Say>; its text is spoken as is"),)


def test_deeply_nested_ssml_neither_recurses_nor_crashes():
    depth = 5000
    text = "<Response><Say>" + "<s>" * depth + "deep" + "</s>" * depth + "</Say></Response>"
    assert parse_document(text).verbs == (Say(text="deep"),)


def test_an_empty_say_is_dropped_with_13520():
    r = VoiceResponse()
    r.say("")
    r.say("   ")
    r.hangup()
    doc = parse(r)
    assert doc.verbs == (Hangup(),)
    assert codes(doc) == [13520, 13520]
    assert doc.notices[0].message == "<Say> has no text to say; skipped"


@pytest.mark.parametrize("loop", ["-1", "two", "1.5", "+2", " 2", "\u0662"])
def test_an_invalid_say_loop_warns_13510_and_keeps_one(loop):
    r = VoiceResponse()
    r.say("hi", loop=loop)
    doc = parse(r)
    assert doc.verbs == (Say(text="hi", loop=1),)
    assert doc.notices == (Notice(13510, f"<Say> loop={loop!r}: must be an integer >= 0; using 1"),)


def test_a_huge_integer_is_out_of_range_not_a_crash():
    r = VoiceResponse()
    r.say("hi", loop="9" * 5000)  # int() refuses strings of 4300+ digits
    doc = parse(r)
    assert doc.verbs == (Say(text="hi"),)
    assert codes(doc) == [13510]


def test_loop_zero_means_repeat_and_is_kept():
    r = VoiceResponse()
    r.say("hold on", loop=0)
    r.play("https://example.com/music.mp3", loop=0)
    assert parse(r).verbs == (Say(text="hold on", loop=0), Play(url="https://example.com/music.mp3", loop=0))


def test_say_beyond_the_voice_limit_warns_13521_and_is_cut_to_the_limit():
    r = VoiceResponse()
    r.say("a" * 3001, voice="Polly.Joanna")
    r.say("a" * 3001)  # a basic voice takes 4096
    r.say("word " * 11_000)  # 55 KB, under the document's 64 KB
    doc = parse(r)
    assert [len(v.text) for v in doc.verbs] == [3000, 3001, 4094]  # the last one cut at a word's end
    assert doc.verbs[2].text.endswith(" word")
    assert [n.message for n in doc.notices] == [
        "<Say> text is 3001 characters; the limit for this voice is 3000: the first 3000 are spoken",
        "<Say> text is 54999 characters; the limit for this voice is 4096: the first 4094 are spoken",
    ]
    assert {n.code for n in doc.notices} == {13521}


def test_play_url_loop_and_digits():
    r = VoiceResponse()
    r.play("https://example.com/a.wav", loop=2)
    r.play(digits="ww1234#")
    assert parse(r).verbs == (
        Play(url="https://example.com/a.wav", loop=2),
        Play(digits="ww1234#"),
    )


def test_play_with_invalid_values():
    r = VoiceResponse()
    r.play("https://example.com/a.wav", loop="many")
    r.play(digits="12x")
    r.play()
    doc = parse(r)
    assert doc.verbs == (Play(url="https://example.com/a.wav"),)
    assert doc.notices == (
        Notice(13410, "<Play> loop='many': must be an integer >= 0; using 1"),
        Notice(13430, "<Play> digits='12x': DTMF digits are 0-9, A-D, #, * and w; ignored"),
        Notice(12200, "<Play> has neither a URL nor digits; skipped"),
    )


def test_pause_length_defaults_to_one_second_and_must_be_positive():
    r = VoiceResponse()
    r.pause()
    r.pause(length=7)
    r.pause(length=0)
    doc = parse(r)
    assert doc.verbs == (Pause(length_s=1.0), Pause(length_s=7.0), Pause(length_s=1.0))
    assert doc.notices == (Notice(13910, "<Pause> length='0': must be an integer >= 1; using 1"),)


# ---- Gather --------------------------------------------------------------------------------------------


def test_gather_defaults_are_twilio_defaults():
    r = VoiceResponse()
    r.gather()
    doc = parse(r)
    assert doc.verbs == (Gather(),)
    gather = doc.verbs[0]
    assert (gather.timeout_s, gather.finish_on_key, gather.method, gather.input) == (
        5.0,
        "#",
        "POST",
        ("dtmf",),
    )


def test_gather_with_every_attribute_and_nested_prompts():
    r = VoiceResponse()
    g = r.gather(
        input="speech dtmf",
        action="/menu",
        method="GET",
        timeout=10,
        finish_on_key="*",
        num_digits=4,
        action_on_empty_result=True,
        speech_timeout="auto",
        language="fr-FR",
        hints="sales, support",
        partial_result_callback="/partial",
        partial_result_callback_method="GET",
    )
    g.say("Press one", loop=2)
    g.play("https://example.com/beep.wav")
    g.pause(length=2)
    doc = parse(r)
    assert doc.notices == ()
    assert doc.verbs == (
        Gather(
            input=("dtmf", "speech"),
            action="/menu",
            method="GET",
            timeout_s=10.0,
            finish_on_key="*",
            num_digits=4,
            action_on_empty_result=True,
            speech_timeout="auto",
            language="fr-FR",
            hints="sales, support",
            partial_result_callback="/partial",
            partial_result_callback_method="GET",
            children=(
                Say(text="Press one", loop=2),
                Play(url="https://example.com/beep.wav"),
                Pause(length_s=2.0),
            ),
        ),
    )


def test_gather_finish_on_key_may_be_empty():
    r = VoiceResponse()
    r.gather(finish_on_key="")
    assert parse(r).verbs == (Gather(finish_on_key=""),)


def test_gather_invalid_values_warn_with_their_codes_and_keep_defaults():
    r = VoiceResponse()
    r.gather(
        input="keys",
        method="PUT",
        timeout="0",
        finish_on_key="#*",
        num_digits=0,
        action_on_empty_result="yes",
        speech_timeout="-1",
        language="english please",
        partial_result_callback_method="get",
    )
    doc = parse(r)
    assert doc.verbs == (Gather(),)
    assert sorted(codes(doc)) == [13310, 13312, 13313, 13314, 13326, 13327, 13329, 13331, 13338]
    by_code = {n.code: n for n in doc.notices}
    assert by_code[13312].message == "<Gather> method='PUT': must be GET or POST; using 'POST'"
    assert (
        by_code[13310].message
        == "<Gather> finishOnKey='#*': must be one key of 0-9, # or *, or empty; using '#'"
    )
    assert by_code[13338].level == "error"  # Twilio logs 13338 as an error
    assert by_code[13312].level == "warning"


def test_gather_keeps_only_say_play_and_pause():
    r = VoiceResponse()
    g = r.gather(num_digits=1)
    g.say("Menu")
    g.append(VoiceResponse().dial("+14155550100"))  # <Dial> nested in <Gather>
    g.say("")
    g.say("Again", loop=-1)
    doc = parse_document(
        str(r).replace("<Response><Dial>", "<Dial>").replace("</Dial></Response>", "</Dial>")
    )
    assert doc.verbs == (Gather(num_digits=1, children=(Say(text="Menu"), Say(text="Again"))),)
    assert doc.notices == (
        Notice(13320, "<Dial> is not allowed in <Gather> (only Say, Play and Pause); skipped"),
        Notice(13520, "<Say> has no text to say; skipped"),
        Notice(13322, "<Say> loop='-1': must be an integer >= 0; using 1"),
    )


def test_notices_follow_the_document_order():
    r = VoiceResponse()
    g = r.gather(method="PUT")
    g.say("hi", loop="x")
    r.dial(timeout="x").number("+14155550101", method="x")
    doc = parse(r)
    assert codes(doc) == [13312, 13322, 13212, 13221]


def test_dial_text_beside_nouns_is_ignored_with_12200():
    r = VoiceResponse()
    r.dial("+14155550100").number("+14155550101")
    doc = parse(r)
    assert doc.verbs == (Dial(targets=(DialTarget(kind="number", address="+14155550101"),)),)
    assert doc.notices == (Notice(12200, "text '+14155550100' is not allowed in <Dial>; ignored"),)


def test_gather_inside_gather_is_13320():
    doc = parse_document("<Response><Gather><Gather/><Say>x</Say></Gather></Response>")
    assert doc.verbs == (Gather(children=(Say(text="x"),)),)
    assert codes(doc) == [13320]


# ---- Record ----------------------------------------------------------------------------------------------


def test_record_defaults_are_twilio_defaults():
    r = VoiceResponse()
    r.record()
    (record,) = parse(r).verbs
    assert record == Record()
    assert (record.trim, record.max_length_s, record.timeout_s, record.play_beep) == (
        "trim-silence",
        3600,
        5,
        True,
    )
    assert record.finish_on_key == "1234567890*#"


def test_record_with_every_attribute():
    r = VoiceResponse()
    r.record(
        action="/done",
        method="GET",
        timeout=0,
        finish_on_key="#",
        max_length=20,
        play_beep=False,
        trim="do-not-trim",
        recording_status_callback="/rec",
        recording_status_callback_method="GET",
        recording_status_callback_event="in-progress completed",
        transcribe=True,
        transcribe_callback="/tx",
    )
    doc = parse(r)
    assert doc.notices == ()
    assert doc.verbs == (
        Record(
            action="/done",
            method="GET",
            timeout_s=0,
            finish_on_key="#",
            max_length_s=20,
            play_beep=False,
            trim="do-not-trim",
            recording_status_callback="/rec",
            recording_status_callback_method="GET",
            recording_status_callback_events=("in-progress", "completed"),
            transcribe=True,
            transcribe_callback="/tx",
        ),
    )


def test_record_status_events_may_be_comma_separated():
    r = VoiceResponse()
    r.record(recording_status_callback_event="completed,absent, completed")
    assert parse(r).verbs == (Record(recording_status_callback_events=("completed", "absent")),)


def test_record_invalid_values():
    r = VoiceResponse()
    r.record(
        method="post",
        timeout=-1,
        finish_on_key="x",
        max_length=86401,
        play_beep="True",
        trim="silence",
        transcribe=1,
        recording_status_callback_event="started",
    )
    doc = parse(r)
    # Twilio 13699: an invalid trim means no trimming, not the default
    assert doc.verbs == (Record(trim="do-not-trim"),)
    assert sorted(codes(doc)) == [13610, 13611, 13612, 13613, 13614, 13616, 13621, 13699]
    by_code = {n.code: n for n in doc.notices}
    assert (
        by_code[13612].message == "<Record> maxLength='86401': must be an integer from 1 to 86400; using 3600"
    )
    assert by_code[13616].message == "<Record> playBeep='True': must be true or false; using 'true'"
    assert by_code[13621].level == "error"


# ---- Dial ------------------------------------------------------------------------------------------------


def test_dial_a_number_in_its_text():
    r = VoiceResponse()
    r.dial("415-123-4567")
    assert parse(r).verbs == (Dial(targets=(DialTarget(kind="number", address="415-123-4567"),)),)


def test_dial_defaults():
    r = VoiceResponse()
    r.dial("+14155550100")
    (dial,) = parse(r).verbs
    assert (dial.timeout_s, dial.time_limit_s, dial.record, dial.method) == (
        30,
        14400,
        "do-not-record",
        "POST",
    )


def test_dial_with_every_attribute_and_nouns():
    r = VoiceResponse()
    d = r.dial(
        action="/after",
        method="GET",
        caller_id="+14155550199",
        timeout=20,
        time_limit=600,
        record="record-from-ringing-dual",
        recording_status_callback="/rec",
        recording_status_callback_method="GET",
        recording_status_callback_event="absent",
        hangup_on_star=True,
        answer_on_bridge=True,
        ring_tone="uk",
    )
    d.number(
        "+14155550100",
        send_digits="wwww1928",
        url="/whisper",
        method="GET",
        status_callback="/status",
        status_callback_method="GET",
        status_callback_event="initiated ringing answered completed",
    )
    d.sip("sip:alice@example.com;transport=tcp", username="alice", password="secret", url="/screen")
    doc = parse(r)
    assert doc.notices == ()
    assert doc.verbs == (
        Dial(
            targets=(
                DialTarget(
                    kind="number",
                    address="+14155550100",
                    send_digits="wwww1928",
                    url="/whisper",
                    method="GET",
                    status_callback="/status",
                    status_callback_method="GET",
                    status_callback_events=("initiated", "ringing", "answered", "completed"),
                ),
                DialTarget(
                    kind="sip",
                    address="sip:alice@example.com;transport=tcp",
                    url="/screen",
                    username="alice",
                    password="secret",
                ),
            ),
            action="/after",
            method="GET",
            caller_id="+14155550199",
            timeout_s=20,
            time_limit_s=600,
            record="record-from-ringing-dual",
            recording_status_callback="/rec",
            recording_status_callback_method="GET",
            recording_status_callback_events=("absent",),
            hangup_on_star=True,
            answer_on_bridge=True,
            ring_tone="uk",
        ),
    )


def test_dial_record_keeps_its_original_boolean_form():
    r = VoiceResponse()
    r.dial("+14155550100", record=True)
    r.dial("+14155550100", record=False)
    assert [d.record for d in parse(r).verbs] == ["record-from-answer", "do-not-record"]


def test_dial_invalid_values():
    r = VoiceResponse()
    r.dial(
        "+14155550100",
        method="DELETE",
        timeout=601,
        time_limit=0,
        record="always",
        hangup_on_star="1",
        answer_on_bridge="no",
        ring_tone="xx",
    )
    doc = parse(r)
    assert doc.verbs == (Dial(targets=(DialTarget(kind="number", address="+14155550100"),)),)
    assert sorted(codes(doc)) == [13210, 13212, 13213, 13216, 13217, 13219, 13220]
    by_code = {n.code: n for n in doc.notices}
    assert by_code[13212].message == "<Dial> timeout='601': must be an integer from 1 to 600; using 30"


def test_dial_noun_invalid_values():
    r = VoiceResponse()
    d = r.dial()
    d.number("+14155550100", send_digits="12-34", method="PUT", status_callback_event="hungup")
    d.sip("sip:bob@example.com", method="PUT", username="bob")
    doc = parse(r)
    assert doc.verbs == (
        Dial(
            targets=(
                DialTarget(kind="number", address="+14155550100"),
                DialTarget(kind="sip", address="sip:bob@example.com"),
            )
        ),
    )
    assert codes(doc) == [13222, 13221, 12200, 13241, 13249]


def test_dial_targets_that_cannot_be_dialled_are_reported():
    r = VoiceResponse()
    d = r.dial()
    d.number("call me maybe")
    d.sip("bob@example.com")
    d.sip("sip:")
    doc = parse(r)
    assert doc.verbs == (Dial(targets=()),)  # kept: the engine reports the failed dial to its action
    assert doc.notices == (
        Notice(13223, "<Number> 'call me maybe' is not a phone number; skipped"),
        Notice(13243, "<Sip> 'bob@example.com' is not a sip: or sips: URI; skipped"),
        Notice(13243, "<Sip> 'sip:' is not a sip: or sips: URI; skipped"),
        Notice(13223, "<Dial> has no valid number or SIP address to dial"),
    )


def test_an_empty_dial_warns_13223():
    r = VoiceResponse()
    r.dial()
    doc = parse(r)
    assert doc.verbs == (Dial(targets=()),)
    assert codes(doc) == [13223]


def test_dial_rings_at_most_ten_numbers():
    r = VoiceResponse()
    d = r.dial()
    for i in range(12):
        d.number(f"+1415555010{i % 10}")
    doc = parse(r)
    (dial,) = doc.verbs
    assert [t.address for t in dial.targets] == [f"+1415555010{i}" for i in range(10)]
    assert doc.notices == (Notice(12200, "<Dial> has 12 number targets; only the first 10 ring"),)


def test_an_unsupported_dial_noun_ends_the_document_with_13750():
    r = VoiceResponse()
    r.dial().conference("room")
    error = refused(str(r))
    assert (error.code, error.message) == (13750, "<Dial><Conference> is not supported by Callgate")


def test_an_unknown_element_in_dial_is_13215():
    doc = parse_document("<Response><Dial><Number>+14155550100</Number><Say>hi</Say></Dial></Response>")
    assert doc.verbs == (Dial(targets=(DialTarget(kind="number", address="+14155550100"),)),)
    assert doc.notices == (Notice(13215, "<Say> is not allowed in <Dial>; skipped"),)


# ---- Hangup, Redirect, Reject, Echo --------------------------------------------------------------------


def test_hangup_redirect_reject():
    r = VoiceResponse()
    r.redirect("https://example.com/next", method="GET")
    r.redirect("/again")
    r.reject()
    r.reject(reason="busy")
    r.hangup()
    doc = parse(r)
    assert doc.verbs == (
        Redirect(url="https://example.com/next", method="GET"),
        Redirect(url="/again"),
        Reject(),
        Reject(reason="busy"),
        Hangup(),
    )
    assert doc.notices == ()


def test_invalid_redirect_method_and_reject_reason():
    r = VoiceResponse()
    r.redirect("/next", method="PATCH")
    r.reject(reason="declined")
    doc = parse(r)
    assert doc.verbs == (Redirect(url="/next"), Reject(reason="rejected"))
    assert doc.notices == (
        Notice(13710, "<Redirect> method='PATCH': must be GET or POST; using 'POST'"),
        Notice(13810, "<Reject> reason='declined': must be one of busy, rejected; using 'rejected'"),
    )


def test_verbs_after_a_terminal_verb_are_kept():
    r = VoiceResponse()
    r.hangup()
    r.say("never heard")
    assert parse(r).verbs == (Hangup(), Say(text="never heard"))


def test_echo_in_both_dialects():
    r = VoiceResponse()
    r.echo()
    assert parse(r).verbs == (Echo(timeout_s=None),)
    assert parse(r, dialect="signalwire").verbs == (Echo(timeout_s=60),)
    timed = "<Response><Echo timeout='120'/></Response>"
    assert parse_document(timed, dialect="signalwire").verbs == (Echo(timeout_s=120),)
    doc = parse_document(timed)  # Twilio's <Echo> takes no attribute
    assert doc.verbs == (Echo(),)
    assert doc.notices == (Notice(12200, "<Echo> has no attribute 'timeout'; ignored"),)


def test_signalwire_echo_timeout_bounds():
    doc = parse_document("<Response><Echo timeout='4'/></Response>", dialect="signalwire")
    assert doc.verbs == (Echo(timeout_s=60),)
    assert codes(doc) == [12200]


# ---- what Twilio warns about, what it refuses ------------------------------------------------------


def test_an_unknown_verb_is_skipped_with_12200():
    doc = parse_document("<Response><say>lowercase</say><Wait/><Say>ok</Say></Response>")
    assert doc.verbs == (Say(text="ok"),)
    assert doc.notices == (
        Notice(12200, "<say> is not a TwiML verb; skipped"),
        Notice(12200, "<Wait> is not a TwiML verb; skipped"),
    )


def test_a_noun_under_response_is_skipped_with_12200():
    doc = parse_document("<Response><Number>+14155550100</Number><Hangup/></Response>")
    assert doc.verbs == (Hangup(),)
    assert doc.notices == (Notice(12200, "<Number> is not allowed directly under <Response>; skipped"),)


def test_an_unsupported_twiml_verb_ends_the_document_with_13750():
    r = VoiceResponse()
    r.say("queued")
    r.enqueue("support")
    error = refused(str(r))
    assert (error.code, error.message) == (13750, "<Enqueue> is not supported by Callgate")


def test_unknown_and_unsupported_attributes_warn_12200():
    r = VoiceResponse()
    r.say("hi", colour="blue")
    r.gather(barge_in=False)
    doc = parse(r)
    assert doc.verbs == (Say(text="hi"), Gather())
    assert doc.notices == (
        Notice(12200, "<Say> has no attribute 'colour'; ignored"),
        Notice(12200, "<Gather> attribute 'bargeIn' is not supported by Callgate; ignored"),
    )


def test_stray_text_and_children_are_reported():
    doc = parse_document("<Response>oops<Hangup>now<x/></Hangup></Response>")
    assert doc.verbs == (Hangup(),)
    assert codes(doc) == [12200, 12200, 12200]


def test_an_empty_response_has_no_verbs():
    assert parse(VoiceResponse()).verbs == ()


def test_the_size_limit_counts_bytes():
    body = "<Response><Say>" + "é" * 40 + "</Say></Response>"  # 80 bytes of text
    size = len(body.encode())
    assert parse_document(body, max_bytes=size).verbs == (Say(text="é" * 40),)
    error = refused(body, max_bytes=size - 1)
    assert (error.code, error.message) == (11750, f"the document is {size} bytes; the limit is {size - 1}")
    assert refused(body.encode(), max_bytes=size - 1).code == 11750


def test_the_default_limit_is_64_kib():
    r = VoiceResponse()
    for _ in range(3000):
        r.say("twenty two characters")
    assert len(str(r)) > 64 * 1024
    assert refused(str(r)).code == 11750


def test_bytes_follow_their_encoding_declaration():
    text = '<?xml version="1.0" encoding="ISO-8859-1"?><Response><Say>caf\xe9</Say></Response>'
    assert parse_document(text.encode("latin-1")).verbs == (Say(text="café"),)


def test_an_unknown_dialect_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown dialect 'bandwidth'"):
        parse_document("<Response/>", dialect="bandwidth")


# ---- Start and Stop: a recording of the call ---------------------------------------------------------


def test_start_recording_with_twilios_defaults_and_every_attribute():
    r = VoiceResponse()
    r.start().recording()
    r.start().recording(
        recording_status_callback="/rec", recording_status_callback_method="GET",
        recording_status_callback_event="in-progress completed", trim="do-not-trim", track="inbound",
        channels="mono", name="first",
    )  # fmt: skip
    r.say("recorded")
    doc = parse(r)
    assert doc.verbs == (
        StartRecording(),
        StartRecording(
            recording_status_callback="/rec", recording_status_callback_method="GET",
            recording_status_callback_events=("in-progress", "completed"), trim="do-not-trim",
            track="inbound", channels="mono", name="first",
        ),
        Say(text="recorded"),
    )  # fmt: skip
    assert doc.notices == ()


def test_stop_recording_by_name_and_bad_values_fall_back_with_12200():
    doc = parse_document(
        '<Response><Start><Recording track="sideways" channels="3"/></Start>'
        '<Stop><Recording name="first"/></Stop><Stop><Recording/></Stop></Response>'
    )
    assert doc.verbs == (StartRecording(), StopRecording(name="first"), StopRecording())
    assert codes(doc) == [12200, 12200]


def test_start_with_another_noun_is_13750_and_an_empty_start_is_skipped():
    r = VoiceResponse()
    r.start().stream(url="wss://example.com/audio")
    error = refused(str(r))
    assert (error.code, error.message) == (13750, "<Start><Stream> is not supported by Callgate")
    doc = parse_document("<Response><Start/><Say>hi</Say></Response>")
    assert doc.verbs == (Say(text="hi"),)
    assert codes(doc) == [12200]
    # LaML has no <Start><Recording>: the verb is not run there.
    laml = refused("<Response><Start><Recording/></Start></Response>", dialect="signalwire")
    assert laml.code == 13750
