import uuid

from callgate.core.call import CallOptions


def test_options_round_trip_through_json():
    options = CallOptions(
        url="https://example.com/a",
        application_id=uuid.uuid4(),
        status_callback_events=("initiated", "completed"),
        timeout_s=15,
        record=True,
        sip_auth_password="s3cret",
    )
    assert CallOptions.from_json(options.to_json()) == options


def test_options_ignore_keys_from_a_newer_version():
    data = CallOptions(url="https://example.com").to_json() | {"some_future_option": 1}
    assert CallOptions.from_json(data).url == "https://example.com"


def test_defaults_are_the_vendor_defaults():
    options = CallOptions()
    assert (options.method, options.timeout_s, options.machine_detection_timeout_s) == ("POST", 60, 30)
    assert options.machine_detection_speech_threshold_ms == 2400
    assert options.machine_detection_speech_end_threshold_ms == 1200
    assert options.machine_detection_silence_timeout_ms == 5000
    assert options.machine_words_threshold is None  # SignalWire's: its face fills in its default, 6
    assert options.trim == "trim-silence"
    assert options.recording_channels == "mono"
    assert options.recording_track == "both"
    assert options.recording_status_callback_events == ("completed",)


def test_options_json_holds_every_option_and_fills_in_missing_ones():
    assert set(CallOptions().to_json()) == set(CallOptions.__dataclass_fields__)
    assert CallOptions.from_json({}) == CallOptions()
    assert CallOptions.from_json({"timeout_s": 30}).timeout_s == 30


def test_secrets_stay_out_of_reprs():
    assert "s3cret" not in repr(CallOptions(sip_auth_password="s3cret"))
