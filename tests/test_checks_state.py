"""The per-real-server health state machine (rise / fall / initial state) and slow start."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring.checks import HealthState, Transition, slow_start_weight


def feed(state: HealthState, results: str) -> list[Transition]:
    """Feed '+' (success) and '-' (failure) results; return the transitions."""
    flips = [state.record(mark == "+", "HTTP 200" if mark == "+" else "HTTP 503") for mark in results]
    return [flip for flip in flips if flip is not None]


def test_it_starts_up_by_default_and_needs_fall_failures_in_a_row_to_go_down() -> None:
    state = HealthState(rise=2, fall=3)
    assert feed(state, "--") == []
    assert state.state == "up"
    assert feed(state, "-") == [Transition("up", "down", "3 failures in a row: HTTP 503")]
    assert state.state == "down"


def test_a_success_between_failures_resets_the_fall_count() -> None:
    state = HealthState(rise=2, fall=3)
    assert feed(state, "--+--+--") == []
    assert state.state == "up"


def test_it_needs_rise_successes_in_a_row_to_come_back() -> None:
    state = HealthState(rise=2, fall=1, state="down")
    assert feed(state, "+-+") == []
    assert feed(state, "+") == [Transition("down", "up", "2 successes in a row: HTTP 200")]


def test_a_fall_of_one_takes_a_server_out_on_the_first_failure_like_nanny() -> None:
    state = HealthState(rise=1, fall=1)
    assert feed(state, "-") == [Transition("up", "down", "1 failure in a row: HTTP 503")]
    assert feed(state, "+") == [Transition("down", "up", "1 success in a row: HTTP 200")]


@pytest.mark.parametrize(("result", "new"), [("+", "up"), ("-", "down")])
def test_an_unknown_server_takes_the_state_of_its_first_result(result: str, new: str) -> None:
    state = HealthState(rise=5, fall=5, state="unknown")
    reason = "HTTP 200" if result == "+" else "HTTP 503"
    assert feed(state, result) == [Transition("unknown", new, f"first check: {reason}")]


def test_an_initially_down_server_stays_down_until_it_rises() -> None:
    state = HealthState(rise=3, fall=2, state="down")
    assert feed(state, "++") == []
    assert state.state == "down"
    assert [t.new for t in feed(state, "+")] == ["up"]


def test_it_gives_no_reason_suffix_when_none_is_given() -> None:
    state = HealthState(rise=1, fall=1)
    assert state.record(False) == Transition("up", "down", "1 failure in a row")


@pytest.mark.parametrize("kwargs", [{"rise": 0}, {"fall": 0}, {"state": "maybe"}])
def test_it_rejects_impossible_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        HealthState(**kwargs)


@given(
    rise=st.integers(1, 5),
    fall=st.integers(1, 5),
    initial=st.sampled_from(["up", "down"]),
    results=st.lists(st.booleans(), max_size=60),
)
def test_it_flips_exactly_when_the_last_run_of_results_is_long_enough(rise, fall, initial, results) -> None:
    """Model check: after each result the state equals what a direct reading of the
    history says, and a transition is reported exactly when the state changes."""
    state = HealthState(rise=rise, fall=fall, state=initial)
    expected = initial
    run_length, run_value = 0, None
    for ok in results:
        run_length = run_length + 1 if ok == run_value else 1
        run_value = ok
        before = expected
        if expected == "up" and not ok and run_length >= fall:
            expected, run_length = "down", 0
        elif expected == "down" and ok and run_length >= rise:
            expected, run_length = "up", 0
        flip = state.record(ok)
        assert state.state == expected
        assert (flip is not None) == (before != expected)


@pytest.mark.parametrize(
    ("weight", "seconds_up", "slow_start", "expected"),
    [
        (100, 0, 60, 1),  # just up: the least traffic IPVS can give
        (100, 15, 60, 25),
        (100, 30, 60, 50),
        (100, 59.9, 60, 100),
        (100, 60, 60, 100),
        (100, 600, 60, 100),
        (3, 1, 60, 1),
        (3, 40, 60, 2),
        (100, 10, 0, 100),  # no slow start
        (0, 10, 60, 0),  # weight 0 (quiesced) stays 0
        (100, -5, 60, 1),  # clock skew: treat as just up
    ],
)
def test_slow_start_ramps_the_weight_linearly(weight: int, seconds_up: float, slow_start: float, expected: int) -> None:
    assert slow_start_weight(weight, seconds_up, slow_start) == expected


@given(weight=st.integers(0, 65535), slow_start=st.floats(0.1, 3600), t1=st.floats(0, 7200), t2=st.floats(0, 7200))
def test_slow_start_never_decreases_and_stays_within_the_weight(weight, slow_start, t1, t2) -> None:
    early, late = sorted((t1, t2))
    w_early = slow_start_weight(weight, early, slow_start)
    w_late = slow_start_weight(weight, late, slow_start)
    assert 0 <= w_early <= w_late <= weight
    assert (w_early >= 1) == (weight >= 1)
