"""From parsed parameters to commands: the options a create call carries."""

from __future__ import annotations

from callgate.dialects.params import Form, parse_form
from callgate.dialects.signalwire import SIGNALWIRE
from callgate.dialects.twilio import commands, schemas
from callgate.dialects.twilio.face import TWILIO
from callgate.dialects.twilio.flavor import Flavor


def create(pairs: list[tuple[str, str]], flavor: Flavor = TWILIO) -> commands.CreateCall:
    base = [("To", "+14155550100"), ("From", "+14155550199")]
    return commands.create_call(
        parse_form(Form.from_pairs(base + pairs), schemas.create_call(flavor)), flavor
    )


def test_the_same_options_give_one_instance_and_other_options_their_own():
    a = create([("Url", "https://example.com/a"), ("Timeout", "20")])
    again = create([("Url", "https://example.com/a"), ("Timeout", "20")])
    assert again.options is a.options
    other = create([("Url", "https://example.com/a"), ("Timeout", "21")])
    assert (other.options.timeout_s, a.options.timeout_s) == (21, 20)
    reordered = create([("Timeout", "20"), ("Url", "https://example.com/a")])
    assert reordered.options == a.options
    laml = create([("Url", "https://example.com/a"), ("Timeout", "20")], SIGNALWIRE)
    assert (laml.options.dialect, a.options.dialect) == ("signalwire", "twilio")


def test_the_instances_remembered_stay_bounded():
    for n in range(commands._OPTIONS_MAX + 5):
        assert create([("Url", f"https://example.com/{n}")]).options.url == f"https://example.com/{n}"
    assert 0 < len(commands._OPTIONS) <= commands._OPTIONS_MAX


def test_long_values_and_sip_passwords_are_not_remembered():
    long_url = "https://example.com/" + "a" * 300
    assert create([("Url", long_url)]).options is not create([("Url", long_url)]).options
    with_password = [("Url", "https://example.com/a"), ("SipAuthUsername", "u"), ("SipAuthPassword", "p")]
    options = create(with_password).options
    assert options.sip_auth_password == "p"
    assert create(with_password).options is not options


def test_machine_words_and_partial_results_are_signalwires_own():
    url = ("Url", "https://example.com/a")
    laml = create([url, ("MachineDetection", "Enable")], SIGNALWIRE).options
    assert (laml.machine_words_threshold, laml.async_amd_partial_results) == (6, False)  # its defaults
    given = [url, ("MachineWordsThreshold", "3"), ("AsyncAmdPartialResults", "true")]
    laml = create(given, SIGNALWIRE).options
    assert (laml.machine_words_threshold, laml.async_amd_partial_results) == (3, True)
    # Twilio has neither: accepted (and checked), then left unused, so its rules stay its own.
    twiml = create(given).options
    assert (twiml.machine_words_threshold, twiml.async_amd_partial_results) == (None, False)
