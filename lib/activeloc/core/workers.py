"""What a parallel worker process sets up before its first task (joblib's loky workers, Dask workers).

* tqdm's lock becomes a thread lock: its default is a process-shared semaphore, which a worker
  ended by Ctrl-C or SIGTERM never releases, so Python would report it leaked at exit.
* A watchdog thread ends the worker when its parent dies (the parent's SIGKILL leaves no one to
  end it otherwise, and it would compute on for nothing). Every write is atomic, so ending a
  worker at any moment leaves no half-written result; its temporaries are removed by the next run.
* joblib's loky workers get a larger allowance before they are taken for leaking memory: loky
  restarts a worker whose memory grew by 300 MB after its first task, and a worker keeps a study's
  candidate matrix (hundreds of MB at the paper's sizes, tens of seconds to rebuild) for its next runs.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

from tqdm import tqdm

from .timing import in_worker_process

_PREPARED = False
WATCH_SECONDS = 1.0
CACHE_ALLOWANCE = 4 * 2**30  # bytes a loky worker may grow by after its first task


def prepare_worker() -> None:
    """Set this process up as a worker (once); does nothing outside a worker process."""
    global _PREPARED
    if _PREPARED or not in_worker_process():
        return
    _PREPARED = True
    tqdm.set_lock(threading.RLock())
    _allow_cached_data()
    # The parent as multiprocessing knows it, not getppid(): that is already init if the parent died first.
    parent = multiprocessing.parent_process().pid
    threading.Thread(target=_exit_with_parent, args=(parent,), name="exit-with-parent", daemon=True).start()


def _allow_cached_data() -> None:
    # A module setting of loky's (no public option exists); read at each of its checks, in this process.
    from joblib.externals.loky import process_executor

    process_executor._MAX_MEMORY_LEAK_SIZE = max(process_executor._MAX_MEMORY_LEAK_SIZE, CACHE_ALLOWANCE)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)  # orphaned: the parent that would use the result is gone
