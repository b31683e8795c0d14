"""Thread choice: the cores other processes leave free now, measured from /proc/stat."""

from __future__ import annotations

import os
import threading
import time

from pinscope_trainer.hardware import auto_threads, busy_cores


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
