"""Several annotators on one queue: who holds which video, and the settings every server shares.

Every server (``activeloc annotate``) and every page on one queue share one file beside it,
``<queue>.coordination.json``: the settings the queue is served with (selector, batch size, seed,
initial ratio, dataset) and the leases, ``video id -> holder and expiry``. A person is given a
video of the current batch that nobody else holds; the lease lapses ``lease_seconds`` after the
page last showed signs of life (its heartbeat), and the video is then offered again. A lease is
held by one page (a person's name and browser tab), so two pages under one name never share a
video; submissions are recorded under the person's name. A submission is refused while another
page holds the video, and a lapsed holder's stale work never replaces what another person who
took the video over submitted.

Changes are read-modify-write under an exclusive ``flock`` on ``<queue>.lock`` (the file itself
is replaced atomically, so a crash leaves the old or the new state, never half of one). Holders
are names people declare (or a browser tab's random id): coordination, not authentication.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import InputError, one_line
from ..core.io import private_opener, write_json_atomic

LEASE_SECONDS = 30 * 60
SETTINGS = ("dataset", "selector", "batch_size", "random_state", "initial_ratio")


class CoordinationError(InputError):
    """A server whose settings differ from the queue's, or an unreadable coordination file."""


class HeldElsewhere(InputError):
    """A video someone else holds (or took over and submitted)."""


class Coordination:
    """The leases and settings of the queue at ``queue_path``; ``clock`` gives epoch seconds."""

    def __init__(self, queue_path: str | os.PathLike, settings: dict, *, lease_seconds: float = LEASE_SECONDS,
                 clock=time.time):
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds!r}")
        queue_path = Path(queue_path)
        self.path = queue_path.with_name(queue_path.name + ".coordination.json")
        self.lock_path = queue_path.with_name(queue_path.name + ".lock")
        self.settings = {k: settings[k] for k in SETTINGS}
        self.lease_seconds = float(lease_seconds)
        self.clock = clock

    # -- the file -----------------------------------------------------------------------------

    @contextmanager
    def _locked(self, must_write: bool = True):
        """The state under the exclusive lock; what the block leaves in it is written back if changed
        (a write that fails raises, unless not ``must_write``: the old state then stays)."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a", opener=private_opener) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed, or when its process dies
            state = self._read()
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                try:
                    write_json_atomic(state, self.path, indent=1)
                except OSError as exc:
                    if not must_write:
                        return
                    raise OSError(exc.errno, f"{self.path}: cannot write the annotators' leases "
                                             f"({exc.strerror or one_line(exc)}); free space and try again") from None

    def _read(self) -> dict:
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"settings": None, "leases": {}}
        except (OSError, ValueError) as exc:
            raise CoordinationError(f"{self.path}: unreadable ({one_line(exc)}); if no server runs on this queue, "
                                    "delete it and start again") from None
        if not isinstance(state, dict) or not isinstance(state.get("leases"), dict):
            raise CoordinationError(f"{self.path}: not a coordination file; if no server runs on this queue, "
                                    "delete it and start again")
        return state

    def _live(self, state: dict) -> dict:
        """The leases not yet lapsed (lapsed ones are dropped from ``state``)."""
        now = self.clock()
        state["leases"] = {v: lease for v, lease in state["leases"].items()
                           if isinstance(lease, dict) and isinstance(lease.get("expires"), (int, float))
                           and lease["expires"] > now and isinstance(lease.get("holder"), str)}
        return state["leases"]

    # -- settings -----------------------------------------------------------------------------

    def join(self, queued: bool) -> None:
        """Serve the queue with this server's settings: the first server records them; a later
        one with other settings is refused (naming the difference) while the queue has
        submissions (``queued``) or anyone holds a lease, since the queue's batches mean what
        its settings chose."""
        with self._locked() as state:
            known = state.get("settings") or {}
            differ = [k for k in SETTINGS if known and known.get(k) != self.settings[k]]
            leases = self._live(state) if differ else {}
            if differ and (queued or leases):
                name = differ[0]
                why = "it has submissions" if queued else "people hold leases on it until " + time.strftime(
                    "%H:%M", time.localtime(max(lease["expires"] for lease in leases.values())))
                raise CoordinationError(
                    f"{self.path.with_name(self.path.name[:-len('.coordination.json')])}: served with {name} "
                    f"{known.get(name)!r} (see {self.path.name}; {why}); this server has {name} "
                    f"{self.settings[name]!r}: start it with the queue's settings, or give another --queue")
            state["settings"] = self.settings

    # -- leases -------------------------------------------------------------------------------

    def claim(self, holder: str, pending: list[str], *, skip: str | None = None) -> str | None:
        """A video of ``pending`` (in its order) for ``holder``: the one it holds already, else
        the first nobody holds, now leased to it; None when others hold them all. ``skip``: the
        video the holder moves away from: another free one if there is one (``skip`` then
        released), else None (``skip`` kept), in one step under the lock."""
        with self._locked() as state:
            leases = self._live(state)
            if skip is not None:
                video = next((v for v in pending if v != skip and v not in leases), None)
                if video is not None and leases.get(skip, {}).get("holder") == holder:
                    del leases[skip]
            else:
                mine = [v for v in pending if leases.get(v, {}).get("holder") == holder]
                video = (mine or [v for v in pending if v not in leases] or [None])[0]
            if video is not None:
                leases[video] = self._lease(holder)
            return video

    def renew(self, holder: str, video_id: str) -> bool:
        """Extend ``holder``'s lease of ``video_id`` (taking it again if it lapsed and nobody took
        it); False if someone else holds it."""
        with self._locked() as state:
            lease = self._live(state).get(video_id)
            if lease is not None and lease["holder"] != holder:
                return False
            state["leases"][video_id] = self._lease(holder)
            return True

    def transfer(self, old: str | None, new: str, video_id: str) -> bool:
        """``video_id``'s lease passes from ``old`` (or from nobody) to ``new``, in one step; False
        if someone else holds it."""
        with self._locked() as state:
            lease = self._live(state).get(video_id)
            if lease is not None and lease["holder"] not in (old, new):
                return False
            state["leases"][video_id] = self._lease(new)
            return True

    def release(self, holder: str, video_id: str) -> None:
        with self._locked() as state:
            if state["leases"].get(video_id, {}).get("holder") == holder:
                del state["leases"][video_id]

    @contextmanager
    def submitting(self, holder: str, person: str, video_id: str, latest_by):
        """Hold the lock while the page ``holder`` submits ``video_id`` for ``person``;
        ``latest_by()`` names whoever submitted the video last (None if nobody), read under the
        lock. Refused if another page holds the video, or if another person submitted it since
        this page's lease lapsed; the lease is released after the block (if that cannot be
        written, the submission stands and the lease lapses in time)."""
        with self._locked(must_write=False) as state:
            lease = self._live(state).get(video_id)
            other = lease["holder"] if lease is not None and lease["holder"] != holder else None
            if other is None and lease is None and latest_by() not in (None, person):
                other = latest_by()
            if other is not None:
                raise HeldElsewhere(f"video {video_id!r}: {other!r} took it over after your lease lapsed; "
                                    "your segments are kept in your draft: open another video with Next video")
            yield
            state["leases"].pop(video_id, None)

    def holders(self) -> dict[str, str]:
        """Video id -> holder, of the live leases."""
        with self._locked() as state:
            return {v: lease["holder"] for v, lease in self._live(state).items()}

    def _lease(self, holder: str) -> dict:
        return {"holder": holder, "expires": self.clock() + self.lease_seconds}
