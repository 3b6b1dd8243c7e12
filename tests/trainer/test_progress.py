"""The heartbeat: a line at the start, one per interval while the step runs, one at the end."""

import time

import pytest
from absl import logging

from trainer import progress


@pytest.fixture
def lines(monkeypatch):
    logged = []
    monkeypatch.setattr(logging, "info", lambda message, *args: logged.append(message % args))
    return logged


def test_a_long_step_logs_while_it_runs(lines):
    with progress.heartbeat("Exporting", interval_s=0.05):
        time.sleep(0.28)
    assert lines[0] == "Exporting"
    beats = [line for line in lines if "still running" in line]
    assert 3 <= len(beats) <= 6, lines
    assert lines[-1].startswith("Exporting: done in ")


def test_a_short_step_logs_start_and_end_only(lines):
    with progress.heartbeat("Converting", interval_s=30):
        pass
    assert lines == ["Converting", "Converting: done in 0 s"]


def test_a_failed_step_stops_beating_and_does_not_say_done(lines):
    with pytest.raises(RuntimeError), progress.heartbeat("Evaluating", interval_s=0.02):
        raise RuntimeError("broken")
    time.sleep(0.1)
    assert lines == ["Evaluating"]
