import uuid

import pytest

from callgate.engine.limiter import CpsLimiter

A, B = uuid.uuid4(), uuid.uuid4()


def test_a_second_holds_rate_calls_and_the_rest_wait():
    limiter = CpsLimiter(2)
    assert [limiter.take(A, 0.0) for _ in range(3)] == [True, True, False]
    assert limiter.wait_s(A, 0.0) == pytest.approx(0.5)
    assert limiter.take(B, 0.0), "accounts have buckets of their own"
    assert not limiter.take(A, 0.4)
    assert limiter.take(A, 0.5 + 1e-9)


def test_idle_time_does_not_bank_more_than_the_burst():
    limiter = CpsLimiter(1)
    assert limiter.take(A, 0.0)
    assert limiter.take(A, 100.0)
    assert not limiter.take(A, 100.0)


def test_a_rate_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        CpsLimiter(0)


def test_the_accounts_waiting_for_a_token():
    limiter = CpsLimiter(2)
    limiter.take(A, 0.0)
    limiter.take(A, 0.0)
    limiter.take(B, 0.0)
    assert limiter.waiting(0.0) == {A: pytest.approx(0.5)}
    assert limiter.waiting(0.5) == {}
