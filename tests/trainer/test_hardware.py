"""Thread choice: the cores other processes leave free now, measured from /proc/stat."""

from __future__ import annotations

import os
import threading
import time

import pytest
from pinscope_trainer.hardware import auto_threads, busy_cores, busy_share


def test_busy_cores_sees_a_spinning_thread_and_auto_threads_stays_in_range():
    cores = len(os.sched_getaffinity(0))
    quiet = busy_cores(interval=0.3)
    assert quiet is not None and 0.0 <= quiet <= (os.cpu_count() or cores) + 1e-6
    stop = time.monotonic() + 1.0

    def spin():
        while time.monotonic() < stop:
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    loaded = busy_cores(interval=0.3)
    worker.join()
    assert loaded is not None and loaded >= 0.7  # one core spinning (plus whatever else runs)
    assert 1 <= auto_threads() <= cores


def test_niced_time_counts_as_free():
    """/proc/stat's cpu line: user nice system idle iowait irq softirq steal. A process at nice 19 gives
    way to the model's threads, so auto_threads treats its time as free."""
    before = [100, 100, 50, 1000, 10, 0, 0, 0, 0, 0]
    busy_user = [200, 100, 50, 1100, 10, 0, 0, 0, 0, 0]  # 100 ticks user, 100 idle
    busy_niced = [100, 200, 50, 1100, 10, 0, 0, 0, 0, 0]  # 100 ticks niced, 100 idle
    assert busy_share(before, busy_user) == 0.5
    assert busy_share(before, busy_niced) == 0.0
    with pytest.raises(ValueError):
        busy_share(before, before)
