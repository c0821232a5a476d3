"""Where parallel work runs: local processes (joblib) or an existing Dask cluster, one switch for all.

Both the grid of loop runs and LAL's Monte-Carlo bootstrap go through joblib; inside
:func:`parallel_backend` joblib's default backend is either ``n_jobs`` local processes or every
worker of the Dask cluster at ``scheduler`` (joblib's Dask backend), so nothing else needs to know.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import joblib
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from ..core.errors import InputError, one_line


@contextmanager
def parallel_backend(n_jobs: int | None = 1, scheduler: str | None = None):
    """joblib's default backend within: ``n_jobs`` local processes, or the Dask cluster at ``scheduler``."""
    if scheduler:
        with _connected(scheduler), joblib.parallel_config(backend="dask", n_jobs=-1):
            yield
    else:
        with joblib.parallel_config(n_jobs=n_jobs):
            yield


class SchedulerUnreachable(InputError):
    """The Dask scheduler address is malformed, or nothing answers there."""


def _connected(scheduler: str, seconds: float = 20.0):
    """A Dask client of ``scheduler``; a bad or silent address is one clear error, not a hang."""
    from dask.distributed import Client

    outcome = {}

    def connect():
        try:
            outcome["client"] = Client(scheduler, timeout=f"{seconds}s")
        except Exception as exc:  # malformed, refused, timed out, or not a Dask scheduler at all
            outcome["error"] = f"{type(exc).__name__}: {one_line(exc)}"

    # Dask's own timeout does not cover a server that accepts the connection and never answers
    # (an HTTP port, say), so the deadline is kept here.
    attempt = threading.Thread(target=connect, name="dask-connect", daemon=True)
    attempt.start()
    attempt.join(seconds + 5)
    if "client" in outcome:
        client = outcome["client"]
        if "dashboard" in client.scheduler_info().get("services", {}):  # served when bokeh is installed
            tqdm.write(f"Dask dashboard: {client.dashboard_link}")
        return client
    reason = outcome.get("error", f"no answer within {seconds + 5:.0f} s")
    raise SchedulerUnreachable(f"Dask scheduler {scheduler!r}: cannot connect ({reason})")


def run_each(function, items, *, n_jobs: int | None = 1, scheduler: str | None = None, desc: str = "",
             unit: str = "item", **kwargs) -> list:
    """``function(item, **kwargs)`` for every item, in parallel, with a progress bar that counts
    finished items; results in completion order."""
    items = list(items)
    with parallel_backend(n_jobs, scheduler):
        results = Parallel(return_as="generator_unordered")(delayed(function)(item, **kwargs) for item in items)
        return list(tqdm(results, total=len(items), desc=desc, unit=unit))
