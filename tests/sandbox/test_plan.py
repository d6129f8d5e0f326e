import pytest

from callgate.sandbox.plan import PERSON, PLAN, behaviour_for


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
    assert behaviour_for(number).name == name


def test_every_row_of_the_issue_is_in_the_plan():
    assert set(PLAN) == {"0100", "0101", "0110", "0111", "0112", "0120", "0130", "0140", "0150", "0151",
                         "0160", "0170", "0180", "0190"}  # fmt: skip
    assert PLAN["0120"].reject == (486, "Busy Here") and PLAN["0140"].reject == (603, "Decline")
    assert PLAN["0130"].ring_forever and PERSON.hangup_after_s == 120.0
