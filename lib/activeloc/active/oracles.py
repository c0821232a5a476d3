"""Oracles (paper 3.3, 4.2): who answers "where are the actions in this video?".

* :class:`SimulatedOracle` returns the ground truth, or a noisy version of it: at noise level
  ``n`` each instance comes back with a tIoU to its truth drawn from a Gaussian with mean
  ``1 - n`` and standard deviation ``noise_std`` (the paper gives none; 0.05 by default),
  clipped to (0, 1]. The boundaries are moved so that the returned segment has exactly that tIoU
  and stays inside the video; the label is kept.
* :class:`HumanOracle` reads what people submitted to an :class:`AnnotationQueue`, an
  append-only JSON-lines file that the annotation widgets write; each submission is flushed and
  fsync'd before ``submit`` returns, and re-submitting the same annotation is a no-op.

Both answer ``annotate(video_ids, random_state) -> instances`` (``video_id, t_start, t_end, label``).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from ..data.annotations import INSTANCE_COLUMNS, AnnotationError, GroundTruth


def perturb_segment(t0: float, t1: float, duration: float, target: float, random_state=None) -> tuple[float, float]:
    """A segment inside ``[0, duration]`` whose tIoU with ``[t0, t1]`` is exactly ``target`` (in (0, 1]).

    Shifted by ``L (1 - u) / (1 + u)`` to a side where it fits (chosen at random), else shrunk to
    ``u L`` at a random place inside the truth, which always fits.
    """
    rng = check_random_state(random_state)
    length = t1 - t0
    if target >= 1 or length <= 0:
        return t0, t1
    shift = length * (1 - target) / (1 + target)
    sides = [s for s in (-1, 1) if (t0 - shift >= 0 if s < 0 else t1 + shift <= duration)]
    if sides and rng.random_sample() < 0.5:
        s = sides[rng.randint(len(sides))] * shift
        return t0 + s, t1 + s
    offset = rng.random_sample() * (1 - target) * length
    return t0 + offset, t0 + offset + target * length


class SimulatedOracle(BaseEstimator):
    """Answers from ``ground_truth``; ``noise`` in [0, 1) sets the mean tIoU ``1 - noise`` of answers."""

    def __init__(self, ground_truth: GroundTruth, noise: float = 0.0, noise_std: float = 0.05):
        self.ground_truth = ground_truth
        self.noise = noise
        self.noise_std = noise_std

    def annotate(self, video_ids, random_state=None) -> pd.DataFrame:
        video_ids = list(video_ids)
        unknown = pd.Index(video_ids).difference(self.ground_truth.videos.index)
        if len(unknown):
            raise AnnotationError(f"the oracle has no annotation for {list(unknown[:5])}", video=unknown[0])
        inst = self.ground_truth.instances
        inst = inst[inst["video_id"].isin(video_ids)].reset_index(drop=True)
        if self.noise <= 0 or inst.empty:
            return inst[INSTANCE_COLUMNS].copy()
        rng = check_random_state(random_state)
        targets = np.clip(rng.normal(1 - self.noise, self.noise_std, len(inst)), 1e-3, 1.0)
        durations = self.ground_truth.videos["duration"].loc[inst["video_id"]].to_numpy()
        moved = [perturb_segment(t0, t1, d, u, rng) for t0, t1, d, u in
                 zip(inst["t_start"].to_numpy(), inst["t_end"].to_numpy(), durations, targets)]
        out = inst[INSTANCE_COLUMNS].copy()
        out[["t_start", "t_end"]] = np.array(moved, dtype=float).reshape(-1, 2)
        return out


class PendingAnnotations(LookupError):
    """Some requested videos have no submitted annotation yet."""

    def __init__(self, missing):
        self.missing = list(missing)
        super().__init__(f"{len(self.missing)} videos await annotation, e.g. {self.missing[:5]}")


class SkippedLineWarning(UserWarning):
    """A line of the annotation queue could not be read; it was skipped and copied to the side file."""


class AnnotationQueue:
    """Append-only JSON-lines file of submitted annotations; the latest submission per video wins.

    Each line: ``{"submission_id", "video_id", "instances": [{"segment", "label"}], "annotator",
    "submitted_at"}``. ``submission_id`` defaults to a hash of the video and its instances, so
    submitting the same thing twice (a double click, a retried request, two processes at once)
    writes it once. No line is ever rewritten or removed:

    * writers hold an exclusive ``fcntl`` lock on the file, readers a shared one, so nobody sees
      half a line and de-duplication is exact across processes;
    * a last line without its newline is a write cut short by a crash, never acknowledged: the next
      ``submit`` fences it off with a newline before appending, so a record is never glued to it;
    * a line that cannot be read (a torn or fenced fragment, bytes that are not UTF-8 or not JSON,
      a record of the wrong shape) is skipped with a :class:`SkippedLineWarning` naming the file
      and the line, and copied once to the side file ``<queue>.rejected`` for a person to inspect.

    The object remembers how far it has read, so a ``submit`` or ``records()`` reads only what
    other processes appended since: O(1) amortised per call instead of a re-read of the file.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._forget()

    @property
    def rejected_path(self) -> Path:
        return self.path.with_name(self.path.name + ".rejected")

    def _forget(self) -> None:
        self._identity = None  # (device, inode) of the file read so far
        self._offset = 0  # bytes read so far (always at a line boundary)
        self._lines = 0  # lines read so far
        self._records: list[dict] = []
        self._ids: set[str] = set()

    def submit(self, video_id: str, instances: list[dict], *, annotator: str = "", submission_id: str | None = None) -> str:
        """Append one video's annotation (fsync'd before returning) and return its submission id."""
        if not isinstance(video_id, str) or not video_id:
            raise AnnotationError(f"expected a non-empty video id, got {video_id!r}", path=self.path, field="video_id")
        clean = []
        for i, inst in enumerate(instances):
            try:
                t0, t1 = (float(x) for x in inst["segment"])
                label = str(inst["label"])
            except (KeyError, TypeError, ValueError):
                raise AnnotationError(f"expected {{'segment': [t0, t1], 'label': name}}, got {inst!r}",
                                      path=self.path, video=video_id, field=f"instances[{i}]") from None
            if not (np.isfinite([t0, t1]).all() and t1 > t0 and label):
                raise AnnotationError(f"empty or invalid segment {[t0, t1]} / label {label!r}",
                                      path=self.path, video=video_id, field=f"instances[{i}]")
            clean.append({"segment": [t0, t1], "label": label})
        if submission_id is None:
            digest = hashlib.sha256(json.dumps([video_id, clean], sort_keys=True).encode()).hexdigest()
            submission_id = digest[:16]
        record = {"submission_id": submission_id, "video_id": video_id, "instances": clean,
                  "annotator": annotator, "submitted_at": time.time()}
        line = (json.dumps(record) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        with open(self.path, "ab+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed, or its process dies
            if self._catch_up(fh):
                fh.write(b"\n")  # fence off a torn last line so that the record below is not glued to it
                fh.flush()
                self._catch_up(fh)
            if submission_id not in self._ids:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
                self._take(record)
                self._offset += len(line)
                self._lines += 1
        if created:
            _fsync_directory(self.path.parent)
        return submission_id

    def records(self) -> list[dict]:
        """Every readable submission, in the order written (each submission id once)."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            self._forget()
            return []
        with fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            if self._catch_up(fh):
                warnings.warn(f"{self.path}: line {self._lines + 1}: a write cut short (never acknowledged) is "
                              "ignored; the next submit fences it off", SkippedLineWarning, stacklevel=2)
        return list(self._records)

    def latest(self) -> dict[str, list[dict]]:
        """Video id -> its latest submitted instances."""
        return {r["video_id"]: r["instances"] for r in self.records()}

    def _catch_up(self, fh) -> bool:
        """Read the lines appended since the last call (the caller holds a lock); True if the file
        ends in a torn line."""
        st = os.fstat(fh.fileno())
        if (st.st_dev, st.st_ino) != self._identity or st.st_size < self._offset:
            self._forget()  # another file now, or cut short by hand: read it from the start
            self._identity = (st.st_dev, st.st_ino)
        fh.seek(self._offset)
        new = fh.read(st.st_size - self._offset)
        complete = new.rfind(b"\n") + 1
        offset = self._offset
        for raw in new[:complete].split(b"\n")[:-1]:
            self._lines += 1
            self._read_line(raw, self._lines, offset)
            offset += len(raw) + 1
        self._offset += complete
        return complete < len(new)

    def _read_line(self, raw: bytes, number: int, offset: int) -> None:
        if not raw.strip():
            return  # a blank line carries nothing
        try:
            record = json.loads(raw.decode("utf-8"))
            problem = _record_problem(record)
        except (UnicodeDecodeError, ValueError) as exc:
            problem = f"not a JSON line ({exc})"
        if problem:
            self._reject(raw, number, offset, problem)
        else:
            self._take(record)

    def _take(self, record: dict) -> None:
        if record["submission_id"] not in self._ids:  # the first of equal submissions counts
            self._ids.add(record["submission_id"])
            self._records.append(record)

    def _reject(self, raw: bytes, number: int, offset: int, problem: str) -> None:
        warnings.warn(f"{self.path}: line {number}: skipped, {problem}; a copy is in {self.rejected_path}",
                      SkippedLineWarning, stacklevel=5)
        entry = {"line": number, "byte_offset": offset, "problem": problem,
                 "text": raw.decode("utf-8", errors="replace"), "base64": base64.b64encode(raw).decode()}
        with open(self.rejected_path, "a+", encoding="utf-8") as side:
            fcntl.flock(side, fcntl.LOCK_EX)
            side.seek(0)
            if offset in _copied_offsets(side):
                return  # copied by an earlier read
            side.write(json.dumps(entry) + "\n")
            side.flush()
            os.fsync(side.fileno())


def _record_problem(record) -> str | None:
    """What is wrong with a parsed queue line, or None if it is a well-formed submission."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    for key, kind in (("submission_id", str), ("video_id", str), ("instances", list)):
        if not isinstance(record.get(key), kind):
            return f"field {key!r} missing or not a {kind.__name__}"
    for i, inst in enumerate(record["instances"]):
        seg = inst.get("segment") if isinstance(inst, dict) else None
        if not (isinstance(seg, list) and len(seg) == 2 and isinstance(inst.get("label"), str)
                and all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in seg)):
            return f"field 'instances[{i}]' is not {{'segment': [t0, t1], 'label': name}}"
    return None


def _copied_offsets(side) -> set[int]:
    offsets = set()
    for line in side:
        try:
            offsets.add(json.loads(line)["byte_offset"])
        except (ValueError, KeyError, TypeError):
            pass  # the side file is for people; a line they edited is not ours to judge
    return offsets


def _fsync_directory(folder: Path) -> None:
    """Make a new file's directory entry durable (a file fsync'd in a directory that is not can vanish)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class HumanOracle(BaseEstimator):
    """Answers from an :class:`AnnotationQueue`; raises :class:`PendingAnnotations` for videos not yet done."""

    def __init__(self, queue: AnnotationQueue):
        self.queue = queue

    def annotate(self, video_ids, random_state=None) -> pd.DataFrame:
        done = self.queue.latest()
        missing = [v for v in video_ids if v not in done]
        if missing:
            raise PendingAnnotations(missing)
        rows = [(v, *inst["segment"], inst["label"]) for v in video_ids for inst in done[v]]
        return pd.DataFrame(rows, columns=INSTANCE_COLUMNS).astype({"t_start": float, "t_end": float})
