"""Every parameter of the vendors' own OpenAPI documents is accepted, and the documented ranges hold.

Reads Twilio's OpenAPI subset and SignalWire's Create Call page from ../shared (beside the checkout,
as CI has it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callgate.dialects.signalwire import SIGNALWIRE
from callgate.dialects.twilio import recordings_api, schemas
from callgate.dialects.twilio.face import TWILIO

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REFERENCE = SHARED / "reference" / "twilio_api_v2010_calls.json"
SIGNALWIRE_SEED = SHARED / "seeds" / "001_c81459d285dfd053.txt"

needs_shared = pytest.mark.skipif(
    not (REFERENCE.exists() and SIGNALWIRE_SEED.exists()), reason=f"{SHARED} is not beside the checkout"
)


@pytest.fixture(scope="module")
def twilio_spec():  # only requested by tests marked needs_shared
    return json.loads(REFERENCE.read_text())


def _body_params(spec, path, method):
    content = spec["paths"][path][method]["requestBody"]["content"]
    return set(next(iter(content.values()))["schema"]["properties"])


def _query_params(spec, path, method):
    return {p["name"] for p in spec["paths"][path][method].get("parameters", []) if p["in"] == "query"}


CALLS = "/2010-04-01/Accounts/{AccountSid}/Calls.json"
CALL = "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"
APPS = "/2010-04-01/Accounts/{AccountSid}/Applications.json"
APP = "/2010-04-01/Accounts/{AccountSid}/Applications/{Sid}.json"


def names(params):
    return {p.name for p in params}


@needs_shared
def test_create_call_takes_every_twilio_parameter(twilio_spec):
    assert _body_params(twilio_spec, CALLS, "post") <= names(schemas.create_call(TWILIO))


@needs_shared
def test_update_call_takes_every_twilio_parameter(twilio_spec):
    assert _body_params(twilio_spec, CALL, "post") <= names(schemas.update_call(TWILIO))


@needs_shared
def test_call_recordings_take_every_twilio_parameter(twilio_spec):
    call_recordings = "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings.json"
    call_recording = "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings/{Sid}.json"
    assert _body_params(twilio_spec, call_recordings, "post") == names(recordings_api.START_RECORDING)
    assert _body_params(twilio_spec, call_recording, "post") == names(recordings_api.CONTROL_RECORDING)


@needs_shared
def test_list_calls_takes_every_twilio_filter(twilio_spec):
    assert _query_params(twilio_spec, CALLS, "get") <= names(schemas.list_calls(TWILIO))


@needs_shared
def test_applications_take_every_twilio_parameter(twilio_spec):
    assert _body_params(twilio_spec, APPS, "post") <= names(schemas.APPLICATION_WRITE)
    assert _body_params(twilio_spec, APP, "post") <= names(schemas.APPLICATION_WRITE)
    assert _query_params(twilio_spec, APPS, "get") <= names(schemas.LIST_APPLICATIONS)


@needs_shared
def test_twilio_enums_are_ours(twilio_spec):
    statuses = set(twilio_spec["components"]["schemas"]["call_enum_status"]["enum"])
    assert statuses == set(schemas.CALL_STATUSES)
    update = set(twilio_spec["components"]["schemas"]["call_enum_update_status"]["enum"])
    status_param = next(p for p in schemas.update_call(TWILIO) if p.name == "Status")
    assert update == set(status_param.choices)


SEED_RANGES = {
    # SignalWire's Create Call page (the seed): name -> (minimum, maximum)
    "Timeout": (1, 600),
    "MachineDetectionTimeout": (1, 120),
    "MachineDetectionSpeechThreshold": (1000, 6000),
    "MachineDetectionSpeechEndThreshold": (500, 5000),
    "MachineDetectionSilenceTimeout": (2000, 10000),
    "MachineWordsThreshold": (1, 100),
}


@pytest.mark.parametrize("flavor", [TWILIO, SIGNALWIRE], ids=lambda f: f.name)
def test_documented_ranges(flavor):
    params = {p.name: p for p in schemas.create_call(flavor)}
    for name, (low, high) in SEED_RANGES.items():
        assert (params[name].minimum, params[name].maximum) == (low, high), name


@needs_shared
def test_create_call_takes_every_signalwire_seed_parameter():
    import re

    text = SIGNALWIRE_SEED.read_text()
    request = text[text.index("\nRequest\n") : text.index("\nResponse\n")]
    seed = set(
        re.findall(
            r"^([A-Z][A-Za-z]+?)(?:string|integer|enum|boolean|list of strings)(?:Required|Optional)",
            request,
            re.M,
        )
    )
    assert len(seed) > 30
    ours = names(schemas.create_call(SIGNALWIRE))
    assert seed <= ours
    required = {p.name for p in schemas.create_call(SIGNALWIRE) if p.required_code is not None}
    assert required == {"To", "From"}
