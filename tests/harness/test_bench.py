"""The benchmark harness's own logic (ci/bench): the interleaving schedule and the goal
evaluation. No timing is asserted: the cases below report fixed "inner" times."""

from __future__ import annotations

import asyncio

import pytest

from ci.bench.results import Goal, Row
from ci.bench.timing import AsyncCase, Case, interleaved, interleaved_async


def _recording_case(log: list[str], name: str, seconds: list[float], n: int = 10) -> Case:
    """A case that logs each call and reports the next of `seconds` as its batch time."""
    it = iter(seconds)

    def run(count: int) -> float:
        assert count == n
        log.append(name)
        return next(it)

    return Case(run, n)


def test_interleaving_alternates_and_warmup_is_dropped():
    log: list[str] = []
    # Two warm-up batches that would dominate a mean, then 10, 30, 20 for a (median 20).
    a = _recording_case(log, "a", [99.0, 99.0, 10.0, 30.0, 20.0])
    b = _recording_case(log, "b", [99.0, 99.0, 1.0, 1.0, 1.0])
    figures = interleaved({"a": a, "b": b}, reps=3, warmup=2)
    assert log == ["a", "b", "b", "a", "a", "b", "b", "a", "a", "b"]
    assert figures == {"a": pytest.approx(2.0), "b": pytest.approx(0.1)}


def test_async_interleaving_gives_the_same_schedule():
    log: list[str] = []

    def case(name: str, seconds: float) -> AsyncCase:
        async def run(n: int) -> float:
            log.append(name)
            await asyncio.sleep(0)
            return seconds

        return AsyncCase(run, 4)

    figures = asyncio.run(
        interleaved_async({"x": case("x", 8.0), "y": case("y", 4.0)}, reps=2, warmup=1)
    )
    assert log == ["x", "y", "y", "x", "x", "y"]
    assert figures == {"x": pytest.approx(2.0), "y": pytest.approx(1.0)}


def test_ratios_pair_the_batches_of_each_repetition():
    log: list[str] = []
    # Repetition 2 is slowed down for both (a burst of load): the paired ratio stays 0.5,
    # while the ratio of the medians (2.0 / 3.0) does not.
    ours = _recording_case(log, "ours", [1.0, 2.0, 20.0, 3.0], n=1)
    peer = _recording_case(log, "peer", [2.0, 4.0, 40.0, 6.0], n=1)
    figures = interleaved({"ours": ours, "peer": peer}, reps=4, warmup=0)
    assert figures["ours"] / figures["peer"] == pytest.approx(0.5)
    assert figures.ratio("ours", "peer") == pytest.approx(0.5)
    skewed = _recording_case(log, "ours", [1.0, 2.0, 2.0, 3.0], n=1)
    peer2 = _recording_case(log, "peer", [2.0, 4.0, 40.0, 6.0], n=1)
    figures = interleaved({"ours": skewed, "peer": peer2}, reps=4, warmup=0)
    # pairs: 0.5, 0.5, 0.05, 0.5 -> median 0.5; medians: 2.0 / 5.0 = 0.4
    assert figures.ratio("ours", "peer") == pytest.approx(0.5)
    assert figures.ratios_to_ours() == {"peer": pytest.approx(0.5)}


def test_row_uses_the_paired_ratio_when_it_has_one():
    row = Row("r", "us", 2.0, {"p": 5.0}, Goal("ratio", "p", 0.45), paired={"p": 0.5})
    assert row.ratio("p") == pytest.approx(0.5)
    assert row.goal_met is False  # 0.5 > 0.45, although 2.0 / 5.0 = 0.4 would pass
    assert row.json_objects()[0]["ratio"] == pytest.approx(0.5)


def test_case_without_own_clock_is_timed_from_outside(monkeypatch):
    import ci.bench.timing as timing

    ticks = iter(range(0, 1000, 3))  # a clock that moves 3 s between two readings
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(ticks)))
    figures = interleaved({"plain": Case(lambda n: None, 2)}, reps=1, warmup=0)
    assert figures["plain"] == pytest.approx(1.5)  # 3 s over a batch of 2


@pytest.mark.parametrize(
    ("ours", "peer", "goal", "met", "status"),
    [
        (5.0, 10.0, Goal("ratio", "p", 0.6), True, "met"),
        (7.0, 10.0, Goal("ratio", "p", 0.6), False, "MISSED"),
        (10.0, 10.0, Goal("ratio", "p", 1.0), True, "met"),
        (3.9, 3.0, Goal("floor_plus", "p", 1.0, "us"), True, "met"),
        (4.1, 3.0, Goal("floor_plus", "p", 1.0, "us"), False, "MISSED"),
        (None, 3.0, Goal("ratio", "p", 1.0), False, "MISSING"),
        (3.0, None, Goal("ratio", "p", 1.0), False, "MISSED"),
        (3.0, None, Goal("record"), None, "recorded"),
    ],
)
def test_goal_evaluation(ours, peer, goal, met, status):
    row = Row("bench", "ns", ours, {"p": peer}, goal)
    assert row.goal_met is met
    assert row.status == status


def test_json_has_one_object_per_peer_with_the_issue_keys():
    row = Row(
        "C: round trip",
        "ns",
        9.0,
        {"fcontext": 10.0, "ucontext": 300.0},
        Goal("ratio", "fcontext", 1.0),
    )
    objs = row.json_objects()
    assert [o["peer"] for o in objs] == ["fcontext", "ucontext"]
    for key in ("benchmark", "unit", "ours", "peer", "peer_value", "ratio", "goal"):
        assert all(key in o for o in objs)
    assert objs[0]["ratio"] == pytest.approx(0.9)
    assert objs[1]["ratio"] == pytest.approx(0.03)
