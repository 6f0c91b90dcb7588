"""Heartbeats on one shared thread: a long work is beaten every interval, a short one never, and a
work whose beat says it is no longer ours is marked lost."""

import threading
import time

from opinara.heartbeat import Heartbeats


def test_long_works_are_beaten_and_short_ones_cost_nothing():
    beats = Heartbeats(0.05)
    counts = {"long": 0, "short": 0}
    lock = threading.Lock()

    def beat(name):
        def call():
            with lock:
                counts[name] += 1
            return True

        return call

    with beats.hold(beat("short")) as lost:
        pass
    assert not lost.is_set()
    with beats.hold(beat("long")) as lost:
        time.sleep(0.4)
    assert not lost.is_set()
    assert counts["short"] == 0
    assert 3 <= counts["long"] <= 9
    settled = counts["long"]
    time.sleep(0.2)
    assert counts["long"] == settled, "no beats once the work ended"


def test_a_lost_work_is_marked_and_no_longer_beaten():
    beats = Heartbeats(0.03)
    calls = []
    with beats.hold(lambda: calls.append(1) or False) as lost:
        assert lost.wait(2), "the beat that said 'not ours' marks the work lost"
        time.sleep(0.2)
    assert len(calls) == 1


def test_a_failing_beat_is_retried():
    beats = Heartbeats(0.03)
    answers = iter([RuntimeError("database away"), True, True, True, True, True, True, True, True])

    calls = []

    def beat():
        calls.append(1)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with beats.hold(beat) as lost:
        time.sleep(0.2)
    assert not lost.is_set() and len(calls) >= 3, "beats went on after the failure"
