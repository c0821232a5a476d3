"""Oracles (paper 3.3, 4.2): who answers "where are the actions in this video?".

* :class:`SimulatedOracle` returns the ground truth, or a noisy version of it: at noise level
  ``n`` each instance comes back with a tIoU to its truth drawn from a Gaussian with mean
  ``1 - n`` and standard deviation ``noise_std`` (the paper gives none; 0.05 by default),
  clipped to (0, 1]. The boundaries are moved so that the returned segment has exactly that tIoU
  and stays inside the video; the label is kept.
* :class:`SimulatedAnnotator` is a simulated person annotating a campaign (paper 5.1): boundaries
  that disagree with the truth in proportion to the instance's length, short instances sometimes
  missed, and an :class:`AnnotationTimeModel` for the seconds each video costs.
* :class:`HumanOracle` reads what people submitted to an :class:`AnnotationQueue`, an
  append-only JSON-lines file that the annotation widgets write; each submission is flushed and
  fsync'd before ``submit`` returns, and re-submitting a video's latest annotation is a no-op.

Both answer ``annotate(video_ids, random_state) -> instances`` (``video_id, t_start, t_end, label``).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import math
import os
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from ..core.errors import one_line
from ..core.ids import video_id_problem
from ..core.io import WriteError, private_opener
from ..data.annotations import INSTANCE_COLUMNS, AnnotationError, GroundTruth, refuse_unsafe_id


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
        by_video = self._rows_by_video()
        rows = [by_video[v] for v in video_ids if v in by_video]
        inst = inst.iloc[np.sort(np.concatenate(rows)) if rows else []].reset_index(drop=True)
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


    def _rows_by_video(self) -> dict:
        """Row positions of each video's instances, found once: the loop asks at every step."""
        cached = self.__dict__.get("_rows")
        if cached is None or cached[0] is not self.ground_truth:
            videos = self.ground_truth.instances["video_id"]
            cached = (self.ground_truth, pd.Series(np.arange(len(videos))).groupby(videos.to_numpy(dtype=object)).indices)
            self._rows = cached
        return cached[1]


class AnnotationTimeModel(BaseEstimator):
    """A person's time to annotate one video: ``setup_seconds`` (open it, read the task) plus
    ``watch_factor`` times its duration (watching it through once at normal speed is 1.0) plus
    ``seconds_per_instance`` for each instance marked (two boundaries and a check). The paper gives
    no figures; these defaults are assumptions, stated wherever hours are reported."""

    def __init__(self, setup_seconds: float = 20.0, watch_factor: float = 1.0, seconds_per_instance: float = 10.0):
        self.setup_seconds = setup_seconds
        self.watch_factor = watch_factor
        self.seconds_per_instance = seconds_per_instance

    def seconds(self, durations: pd.Series, instances: pd.DataFrame) -> pd.Series:
        """Seconds per video of ``durations`` (index ``video_id``), given the ``instances`` returned for them."""
        marked = instances.groupby("video_id").size().reindex(durations.index, fill_value=0)
        return (self.setup_seconds + self.watch_factor * durations.astype(float)
                + self.seconds_per_instance * marked).rename("annotator_seconds")


class SimulatedAnnotator(BaseEstimator):
    """A simulated person who annotates each requested video from ``ground_truth``.

    The noise model, per true instance of length ``L`` (seconds) in a video of duration ``D``:

    * **missed**: an instance shorter than ``miss_below`` seconds is left out with probability
      ``miss_probability`` (longer ones never are); a video whose instances are all missed comes
      back with none, i.e. as all background;
    * **boundaries**: start and end each move by an independent Gaussian of standard deviation
      ``boundary_std * L``, then are clipped to ``[0, D]``; if the two cross or come closer than
      ``min_length`` seconds, the instance is returned as the truth (a person re-checks it);
    * the label is the video's class, as asked (the paper's interface asks for one action).

    ``time_model`` (default :class:`AnnotationTimeModel`) gives each video's annotation seconds from
    its duration and what was returned. Answers depend on ``random_state`` only.
    """

    def __init__(self, ground_truth: GroundTruth, boundary_std: float = 0.1, miss_below: float = 5.0,
                 miss_probability: float = 0.2, min_length: float = 0.5, time_model: AnnotationTimeModel | None = None):
        self.ground_truth = ground_truth
        self.boundary_std = boundary_std
        self.miss_below = miss_below
        self.miss_probability = miss_probability
        self.min_length = min_length
        self.time_model = AnnotationTimeModel() if time_model is None else time_model

    def model_params(self) -> dict:
        """The noise and time parameters (what a checkpoint's run identity records)."""
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in ("ground_truth", "time_model")}
        return {**params, "time_model": self.time_model.get_params()}

    def annotate(self, video_ids, random_state=None) -> pd.DataFrame:
        truth = self._truth().annotate(video_ids)
        if truth.empty:
            return truth
        rng = check_random_state(random_state)
        missed_draw = rng.random_sample(len(truth))
        shifts = rng.normal(0.0, 1.0, (len(truth), 2))
        t0, t1 = truth["t_start"].to_numpy(float), truth["t_end"].to_numpy(float)
        length = t1 - t0
        durations = self.ground_truth.videos["duration"].loc[truth["video_id"]].to_numpy(float)
        start = np.clip(t0 + shifts[:, 0] * self.boundary_std * length, 0.0, durations)
        end = np.clip(t1 + shifts[:, 1] * self.boundary_std * length, 0.0, durations)
        kept_truth = end - start < self.min_length
        out = truth.assign(t_start=np.where(kept_truth, t0, start), t_end=np.where(kept_truth, t1, end))
        missed = (length < self.miss_below) & (missed_draw < self.miss_probability)
        return out[~missed].reset_index(drop=True)

    def _truth(self) -> SimulatedOracle:
        """The noise-free oracle of ``ground_truth``, kept: it indexes the instances once."""
        cached = self.__dict__.get("_oracle")
        if cached is None or cached.ground_truth is not self.ground_truth:
            cached = self._oracle = SimulatedOracle(self.ground_truth)
        return cached


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
    "submitted_at"}``, and ``"seconds"`` (the person's time on the video) when the submitter gave it. Submitting what is already the video's latest annotation (a double click, a
    retried request, two processes at once) writes nothing and returns the id it has; anything else
    is a new submission, even a return to an earlier annotation. An explicit ``submission_id`` is an
    idempotency key: a second submit with it writes nothing. No line is ever rewritten or removed:

    * writers hold an exclusive ``fcntl`` lock on the file, readers a shared one (and threads of one
      process a mutex), so nobody sees half a line and de-duplication is exact;
    * a last line without its newline is a write cut short by a crash, never acknowledged: the next
      ``submit`` fences it off with a newline before appending, so a record is never glued to it;
    * a line that cannot be read (a torn or fenced fragment, bytes that are not UTF-8 or not JSON, a
      record that ``submit`` would have refused) is skipped with a :class:`SkippedLineWarning`
      naming the file and the line, and copied once to the side file ``<queue>.rejected`` for a
      person to inspect (if the side file cannot be written, the warning says so and reading goes on).

    The object remembers how far it has read, so a ``submit`` reads only what other processes
    appended since: O(1) amortised instead of a re-read of the file. ``records()`` and ``latest()``
    return copies (their cost grows with what they return), so a caller's edits never reach the queue.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._mutex = threading.RLock()
        self._forget()
        self._side_read = 0  # bytes of the side file read so far
        self._copied: set[tuple[int, str]] = set()  # (byte offset, SHA-256) of the lines in the side file

    def __getstate__(self):  # a copy re-reads the file: locks and caches stay with this process
        return {"path": self.path}

    def __setstate__(self, state):
        self.__init__(state["path"])

    @property
    def rejected_path(self) -> Path:
        return self.path.with_name(self.path.name + ".rejected")

    def _forget(self) -> None:
        self._identity = None  # (device, inode) of the file read so far
        self._offset = 0  # bytes read so far (always at a line boundary)
        self._lines = 0  # lines read so far
        self._records: list[dict] = []
        self._by_id: dict[str, dict] = {}
        self._latest: dict[str, dict] = {}  # video id -> its latest record
        self._last_line = b""  # the last line read, ending at ``_offset``
        self._torn_warned = None  # the offset of a torn tail already warned about

    def submit(self, video_id: str, instances: list[dict], *, annotator: str = "", submission_id: str | None = None,
               seconds: float | None = None) -> str:
        """Append one video's annotation (fsync'd before returning) and return its submission id.
        ``seconds``: the time the person spent on it, kept in the record (an annotation already the
        video's latest writes nothing, its time included)."""
        refuse_unsafe_id(video_id, path=self.path, field="video_id")
        if seconds is not None and not _valid_seconds(seconds):
            raise AnnotationError(f"expected a finite number of seconds >= 0, got {seconds!r}", path=self.path,
                                  video=video_id, field="seconds")
        if submission_id is not None and (not isinstance(submission_id, str) or not submission_id):
            raise AnnotationError(f"expected a non-empty string, got {submission_id!r}", path=self.path,
                                  video=video_id, field="submission_id")
        try:
            clean = clean_instances(instances)
        except ValueError as exc:
            raise AnnotationError(str(exc), path=self.path, video=video_id) from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._mutex, self._open_locked("ab+", fcntl.LOCK_EX) as fh:
            if self._catch_up(fh):
                self._append(fh, b"\n")  # fence off a torn last line so that the record below is not glued to it
                self._catch_up(fh)
            previous = self._latest.get(video_id)
            if submission_id is None:
                if previous is not None and previous["instances"] == clean:
                    return previous["submission_id"]
                seed = [video_id, clean, previous["submission_id"] if previous else ""]
                submission_id = hashlib.sha256(json.dumps(seed, sort_keys=True).encode()).hexdigest()[:16]
            if submission_id in self._by_id:
                known = self._by_id[submission_id]
                if (known["video_id"], known["instances"]) != (video_id, clean):
                    raise AnnotationError(f"submission id {submission_id!r} was used for another annotation "
                                          f"(of video {known['video_id']!r}); use a new id", path=self.path,
                                          video=video_id, field="submission_id")
                return submission_id
            record = {"submission_id": submission_id, "video_id": video_id, "instances": clean,
                      "annotator": str(annotator), "submitted_at": time.time(),
                      **({} if seconds is None else {"seconds": float(seconds)})}
            line = (json.dumps(record) + "\n").encode()
            self._append(fh, line)
            if self._offset == 0:  # the file is new: make its directory entry durable too
                _fsync_directory(self.path.parent)
            self._take(record)
            self._offset += len(line)
            self._lines += 1
            self._last_line = line
        return submission_id

    def _append(self, fh, data: bytes) -> None:
        """Append ``data`` to the locked file and fsync it; on a failure (a full disk) cut the file back
        to where it ended, so that nothing of ``data`` stays, and raise a :class:`WriteError` saying so.
        Written past ``fh``'s buffer: a buffer keeps what a failed write left and writes it on close."""
        fd = fh.fileno()
        end = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, end)
                kept = "nothing was written"
            except OSError:
                kept = "what was written of it stays (a cut line is fenced off by the next submit)"
            raise WriteError.of(exc, self.path, action="append the submission",
                                outcome=f"{kept}; free space and submit again") from exc
        fh.seek(0, os.SEEK_END)  # os.write moved the file's offset behind the buffer's back: resync its reads

    def _open_locked(self, mode: str, lock: int):
        """The queue file opened and locked (None if a reader finds no file). The lock is taken on
        what is at the path once locked: a file replaced meanwhile (a restore, an editor saving by
        rename) is opened again, so no record goes to a file nobody reads."""
        while True:
            try:
                fh = open(self.path, mode, opener=private_opener)
            except FileNotFoundError:
                return None
            fcntl.flock(fh, lock)  # released when the file is closed, or its process dies
            try:
                same = os.path.samestat(os.fstat(fh.fileno()), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                return fh
            fh.close()

    def records(self) -> list[dict]:
        """Every readable submission, in the order written (each submission id once)."""
        with self._mutex:
            self._refresh()
            return [{**r, "instances": _copied(r["instances"])} for r in self._records]

    def _refresh(self) -> None:
        """Read what was appended since the last call, under a shared lock (the caller holds the mutex)."""
        fh = self._open_locked("rb", fcntl.LOCK_SH)
        if fh is None:
            self._forget()
            return
        with fh:
            if self._catch_up(fh) and self._torn_warned != self._offset:
                self._torn_warned = self._offset
                warnings.warn(f"{self.path}: line {self._lines + 1}: a write cut short (never acknowledged) is "
                              "ignored; the next submit fences it off", SkippedLineWarning, stacklevel=3)

    def latest(self, video_ids=None) -> dict[str, list[dict]]:
        """Video id -> its latest submitted instances (of ``video_ids`` only, if given)."""
        with self._mutex:
            self._refresh()
            chosen = self._latest if video_ids is None else {v: self._latest[v] for v in video_ids if v in self._latest}
            return {video: _copied(record["instances"]) for video, record in chosen.items()}

    def _catch_up(self, fh) -> bool:
        """Read the lines appended since the last call (the caller holds the locks); True if the
        file ends in a torn line."""
        st = os.fstat(fh.fileno())
        if (st.st_dev, st.st_ino) != self._identity or st.st_size < self._offset or not self._same_last_line(fh):
            self._forget()  # another file now, or rewritten by hand: read it from the start
            self._identity = (st.st_dev, st.st_ino)
        fh.seek(self._offset)
        new = fh.read(st.st_size - self._offset)
        complete = new.rfind(b"\n") + 1
        offset, rejected = self._offset, []
        for raw in new[:complete].split(b"\n")[:-1]:
            self._lines += 1
            if raw.strip():  # a blank line carries nothing
                record, problem = _parse_line(raw)
                if problem:
                    rejected.append((self._lines, offset, raw, problem))
                else:
                    self._take(record)
            offset += len(raw) + 1
        self._offset += complete
        if complete:
            self._last_line = new[new.rfind(b"\n", 0, complete - 1) + 1:complete]
        if rejected:
            self._reject(rejected)
        return complete < len(new)

    def _same_last_line(self, fh) -> bool:
        """Whether the file still holds, where reading stopped, the line last read: a file rewritten
        in place, or deleted and created anew on the same inode, almost never does."""
        if not self._offset:
            return True
        fh.seek(self._offset - len(self._last_line))
        return fh.read(len(self._last_line)) == self._last_line

    def _take(self, record: dict) -> None:
        if record["submission_id"] not in self._by_id:  # the first of equal submissions counts
            self._by_id[record["submission_id"]] = record
            self._records.append(record)
            self._latest[record["video_id"]] = record

    def _reject(self, rejected: list[tuple]) -> None:
        """Warn once about the unreadable lines just read and copy the new ones to the side file."""
        shown = "; ".join(f"line {number}: {problem}" for number, _, _, problem in rejected[:3])
        more = f"; and {len(rejected) - 3} more lines" if len(rejected) > 3 else ""
        try:
            self._copy_rejected(rejected)
            where = f"copies are in {self.rejected_path}"
        except (OSError, ValueError) as exc:
            where = f"they could not be copied to {self.rejected_path} ({one_line(exc)})"
        warnings.warn(f"{self.path}: skipped {shown}{more}; {where}", SkippedLineWarning, stacklevel=5)

    def _copy_rejected(self, rejected: list[tuple]) -> None:
        # A line is known by its place and its bytes: a queue replaced by hand may hold other bytes there.
        with open(self.rejected_path, "ab+") as side:
            fcntl.flock(side, fcntl.LOCK_EX)
            side.seek(0, os.SEEK_END)
            if side.tell() < self._side_read:
                self._side_read, self._copied = 0, set()  # replaced or cut short by hand
            side.seek(self._side_read)
            for line in side:  # what other readers copied since
                try:
                    entry = json.loads(line)
                    self._copied.add((entry["byte_offset"], entry["sha256"]))
                except (ValueError, KeyError, TypeError):
                    pass  # the side file is for people; a line they edited is not ours to judge
            entries = [{"line": number, "byte_offset": offset, "sha256": hashlib.sha256(raw).hexdigest(),
                        "problem": problem, "text": raw.decode("utf-8", errors="replace"),
                        "base64": base64.b64encode(raw).decode()}
                       for number, offset, raw, problem in rejected]
            entries = [e for e in entries if (e["byte_offset"], e["sha256"]) not in self._copied]
            if entries:
                text = "".join(json.dumps(e) + "\n" for e in entries).encode()
                if side.seek(0, os.SEEK_END):
                    side.seek(-1, os.SEEK_END)
                    if side.read(1) != b"\n":
                        text = b"\n" + text  # a person's last line without its newline stays their own
                side.write(text)
                side.flush()
                os.fsync(side.fileno())
                self._copied.update((e["byte_offset"], e["sha256"]) for e in entries)
            self._side_read = side.tell()


def clean_instances(instances) -> list[dict]:
    """``[{"segment": [t0, t1], "label": name}]`` with float times, or a ValueError naming the field at
    fault: the one check of what may enter the queue, on submit and on read."""
    if not isinstance(instances, (list, tuple)):
        raise ValueError(f"field 'instances': expected a list of {{'segment': [t0, t1], 'label': name}}, "
                         f"got {type(instances).__name__}")
    clean = []
    for i, inst in enumerate(instances):
        seg = inst.get("segment") if isinstance(inst, dict) else None
        if not (isinstance(seg, (list, tuple)) and len(seg) == 2 and all(_is_number(t) for t in seg)):
            raise ValueError(f"field 'instances[{i}].segment': expected [t0, t1] (numbers), got {seg!r}")
        try:
            t0, t1 = float(seg[0]), float(seg[1])
        except OverflowError:  # an integer past float's range
            t0 = t1 = math.inf
        if not (math.isfinite(t0) and math.isfinite(t1) and t0 < t1):
            raise ValueError(f"field 'instances[{i}].segment': expected finite times with start < end, got {[t0, t1]}")
        label = inst.get("label")
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"field 'instances[{i}].label': expected a non-empty string, got {label!r}")
        clean.append({"segment": [t0, t1], "label": label})
    return clean


def _copied(instances: list[dict]) -> list[dict]:
    """A copy of checked instances that a caller may edit without changing what the queue holds
    (by hand: ``copy.deepcopy`` is ten times slower on a queue of 50,000 records)."""
    return [{"segment": list(inst["segment"]), "label": inst["label"]} for inst in instances]


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _parse_line(raw: bytes) -> tuple[dict | None, str | None]:
    """A queue line as a record, or the problem that makes it unreadable."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"not a JSON line ({one_line(exc)})"
    except RecursionError:
        return None, "not a JSON line (nested too deeply)"
    if not isinstance(record, dict):
        return None, f"expected a JSON object, got {type(record).__name__}"
    if not isinstance(record.get("submission_id"), str) or not record["submission_id"]:
        return None, "field 'submission_id' missing or not a non-empty string"
    problem = video_id_problem(record.get("video_id"))
    if problem:
        return None, f"field 'video_id': {problem}"
    try:
        record["instances"] = clean_instances(record.get("instances"))
    except ValueError as exc:
        return None, str(exc)
    if "seconds" in record and not _valid_seconds(record["seconds"]):
        return None, f"field 'seconds' is not a finite number >= 0: {record['seconds']!r}"
    return record, None


def _valid_seconds(value) -> bool:
    return _is_number(value) and math.isfinite(value) and value >= 0


def _fsync_directory(folder: Path) -> None:
    """Make a new file's directory entry durable (a file fsync'd in a directory that is not can vanish)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class HumanOracle(BaseEstimator):
    """Answers from an :class:`AnnotationQueue`; raises :class:`PendingAnnotations` for videos not yet done.

    ``time_model``: an :class:`AnnotationTimeModel` to estimate the people's hours (None: not counted)."""

    def __init__(self, queue: AnnotationQueue, time_model: AnnotationTimeModel | None = None):
        self.queue = queue
        self.time_model = time_model

    def annotate(self, video_ids, random_state=None) -> pd.DataFrame:
        video_ids = list(video_ids)
        done = self.queue.latest(video_ids)
        missing = [v for v in video_ids if v not in done]
        if missing:
            raise PendingAnnotations(missing)
        rows = [(v, *inst["segment"], inst["label"]) for v in video_ids for inst in done[v]]
        return pd.DataFrame(rows, columns=INSTANCE_COLUMNS).astype({"t_start": float, "t_end": float})
