import tomllib

import pytest

from callgate.sandbox.plan import (
    PERSON,
    PLAN,
    Answer,
    Hangup,
    PhoneBookError,
    Play,
    Press,
    Ring,
    Say,
    Wait,
    duration,
    load_phone_book,
    parse_phone_book,
    phone_for,
)


@pytest.mark.parametrize(
    ("number", "name"),
    [
        ("+14155550100", "person"),
        ("+12125550120", "busy"),
        ("+19175550130", "rings and never answers"),
        ("+13105550140", "declines"),
        ("+14155550150", "does not exist"),
        ("+14155550151", "network failure"),
        ("+14155550160", "answers and hangs up after 5 s"),
        ("+14155550199", "person"),  # a row the plan does not list
        ("+442071838750", "person"),  # any other number
        ("+11235550120", "person"),  # NPA cannot start with 1: not a sandbox number
    ],
)
def test_numbers(number, name):
    assert phone_for(number).name == name


def test_every_row_of_the_issue_is_in_the_plan():
    assert set(PLAN) == {"0100", "0101", "0110", "0111", "0112", "0120", "0130", "0140", "0150", "0151",
                         "0160", "0170", "0180", "0190"}  # fmt: skip
    assert PLAN["0120"].reject == (486, "Busy Here") and PLAN["0140"].reject == (603, "Decline")
    assert PLAN["0130"].ring_forever and PERSON.hangup_after_s == 120.0


def test_the_plan_times_its_calls_as_the_issue_says():
    assert PLAN["0160"].hangup_after_s == 5.0 and PLAN["0160"].ring_s == 1.0
    assert PLAN["0112"].hangup_after_s == 8.0  # the greeting, then BYE
    assert PLAN["0130"].ring_forever and PLAN["0130"].reject is None
    assert PLAN["0180"].ring_s == 0.0  # echo answers at once
    steps = PLAN["0101"].steps
    assert steps[4] == Press("1234#") and sum(duration(s) for s in steps[2:4]) == 3.0  # Hello? + 2 s


def test_a_scripted_phone_comes_before_the_plan():
    book = parse_phone_book(
        {"phones": [{"number": "+14155550120", "steps": ["answer", {"wait": 1}, "hangup"]}]}
    )
    assert phone_for("+14155550120", book).steps == (Answer(), Wait(1.0), Hangup())
    assert phone_for("+12125550120", book).name == "busy"


def test_a_phone_book_with_every_step():
    book = parse_phone_book(
        tomllib.loads(
            """
            [[phones]]
            number = "+15005550006"
            name = "front desk"
            steps = [
              { ring = 2.5 },
              "answer",
              { say = "Thanks for calling", voice = "woman", language = "en-GB" },
              { play = "https://example.com/hold.wav", seconds = 3 },
              { press = "1w2W#" },
              { wait = 5 },
              { hangup = true },
            ]

            [[phones]]
            number = "+15005550007"
            steps = [{ ring = 1 }, { reject = 480 }]

            [[phones]]
            number = "+15005550008"
            steps = [{ reject = 603, reason = "Not Today" }]

            [[phones]]
            number = "+15005550009"
            steps = [{ ring = "forever" }]
            """
        )
    )
    desk = book["+15005550006"]
    assert desk.name == "front desk"
    assert desk.steps == (
        Ring(2.5), Answer(), Say("Thanks for calling", "woman", "en-GB"),
        Play("https://example.com/hold.wav", 3.0), Press("1w2W#"), Wait(5.0), Hangup(),
    )  # fmt: skip
    assert desk.hangup_after_s == pytest.approx(Say("Thanks for calling").duration + 3 + 0.5 + 1 + 0.6 + 5)
    assert (
        book["+15005550007"].reject == (480, "Temporarily Unavailable")
        and book["+15005550007"].name == "+15005550007"
    )
    assert book["+15005550008"].reject == (603, "Not Today")
    assert book["+15005550009"].ring_forever


ACTIONS = "ring, answer, hangup, reject, say, play, press, wait"


@pytest.mark.parametrize(
    ("phones", "message"),
    [
        ([{"number": "4155550123", "steps": ["answer"]}],
         "phones[0].number: expected an E.164 number like +14155550123, got '4155550123'"),
        ([{"number": "+14155550123"}], "phones[0].steps: expected a non-empty list of steps"),
        ([{"number": "+14155550123", "steps": ["answer"]}, {"number": "+14155550123", "steps": ["answer"]}],
         "phones[1].number: +14155550123 is already in the phone book"),
        ([{"number": "+14155550123", "steps": [{"say": "hi"}]}], "phones[0].steps[0]: answer the call first"),
        ([{"number": "+14155550123", "steps": ["answer", {"ring": 1}]}],
         "phones[0].steps[1]: the call is already answered"),
        ([{"number": "+14155550123", "steps": ["answer", "hangup", {"wait": 1}]}],
         "phones[0].steps[2]: nothing can follow a reject or a hangup"),
        ([{"number": "+14155550123", "steps": [{"ring": "forever"}, "answer"]}],
         'phones[0].steps[0]: ring = "forever" must be the last step'),
        ([{"number": "+14155550123", "steps": [{"ring": -1}]}],
         'phones[0].steps[0].ring: expected a number of seconds (0 to 86400) or "forever", got -1'),
        ([{"number": "+14155550123", "steps": [{"reject": 200}]}],
         "phones[0].steps[0].reject: expected a SIP status from 400 to 699, got 200"),
        ([{"number": "+14155550123", "steps": ["answer", {"press": "12x"}]}],
         "phones[0].steps[1].press: expected keys from 0-9 * # A-D w W, got '12x'"),
        ([{"number": "+14155550123", "steps": [{"ring": 1, "answer": True}]}],
         f"phones[0].steps[0]: a step needs exactly one of {ACTIONS}; got ['answer', 'ring']"),
        ([{"number": "+14155550123", "steps": ["answer", {"say": "hi", "volume": 3}]}],
         "phones[0].steps[1]: say does not take volume"),
        ([{"number": "+14155550123", "steps": ["dance"]}],
         f"phones[0].steps[0]: a step needs exactly one of {ACTIONS}; got ['dance']"),
        ([{"number": "+14155550123", "steps": ["answer"], "colour": "red"}],
         "phones[0]: unknown keys ['colour'] (a phone has number, name, steps)"),
    ],
)  # fmt: skip
def test_bad_phone_books_say_where_and_why(phones, message):
    with pytest.raises(PhoneBookError) as info:
        parse_phone_book({"phones": phones})
    assert str(info.value) == message


def test_load_phone_book_names_the_file(tmp_path):
    path = tmp_path / "phones.toml"
    path.write_text("[[phones]]\nnumber = '+14155550123'\nsteps = [{ reject = 99 }]\n")
    with pytest.raises(
        PhoneBookError, match=r"phones.toml: phones\[0\].steps\[0\].reject: expected a SIP status"
    ):
        load_phone_book(str(path))
    path.write_text("[[phones]\n")
    with pytest.raises(PhoneBookError, match="phones.toml: not valid TOML"):
        load_phone_book(str(path))
    with pytest.raises(PhoneBookError, match="missing.toml: No such file or directory"):
        load_phone_book(str(tmp_path / "missing.toml"))
