"""One run at a time per output folder: `<output_dir>/run.lock`, held with flock.

Two runs writing one ML Metadata database and one serving folder race each other (both
push, the summary of one reports the other's model). The lock is an advisory `flock` on
the file, which the kernel releases when its process dies however it dies, so a lock left
by a killed run is never in the way; the file's text (PID, host, start time, command) is
what the refusal shows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from typing import Iterator

LOCK_FILE = "run.lock"


class LockedError(RuntimeError):
    """Another run holds the output folder."""


@contextlib.contextmanager
def holding(output_dir: str) -> Iterator[str]:
    """Holds `<output_dir>/run.lock` for the duration, or raises LockedError at once."""
    path = os.path.join(output_dir, LOCK_FILE)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a process that has not written its name yet"
            raise LockedError(
                f"{output_dir}: another run is using this output folder ({holder}); wait for "
                f"it to finish or stop it, or give this run another output_dir (the lock is "
                f"{path}, released when that process ends)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            f"PID {os.getpid()} on {socket.gethostname()}, started "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(sys.argv)}\n"
        )
        handle.flush()
        yield path
