"""A line at least every 30 s while a long step runs, so a log never goes quiet for minutes.

    with progress.heartbeat("Trainer: exporting the SavedModel"):
        export(...)

logs "Trainer: exporting the SavedModel", then "... still running, 30 s so far" every 30 s
from a background thread, and "... done in N s" when the block completes (a failure is
left to the exception).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator

from absl import logging

INTERVAL_S = 30.0


@contextlib.contextmanager
def heartbeat(step: str, interval_s: float = INTERVAL_S) -> Iterator[None]:
    started = time.monotonic()
    finished = threading.Event()

    def beat() -> None:
        while not finished.wait(interval_s):
            logging.info("%s: still running, %.0f s so far", step, time.monotonic() - started)

    logging.info("%s", step)
    thread = threading.Thread(target=beat, name=f"heartbeat: {step}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        finished.set()
        thread.join()
    logging.info("%s: done in %.0f s", step, time.monotonic() - started)
