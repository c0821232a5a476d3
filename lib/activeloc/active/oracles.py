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

import hashlib
import json
import os
import time
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


class AnnotationQueue:
    """Append-only JSON-lines file of submitted annotations; the latest submission per video wins.

    Each line: ``{"submission_id", "video_id", "instances": [{"segment", "label"}], "annotator",
    "submitted_at"}``. ``submission_id`` defaults to a hash of the video and its instances, so
    submitting the same thing twice (a double click, a retried request) writes it once. A line
    cut short by a crash is ignored when reading, and no earlier line is ever rewritten.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def submit(self, video_id: str, instances: list[dict], *, annotator: str = "", submission_id: str | None = None) -> str:
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
        if submission_id in {r["submission_id"] for r in self.records()}:
            return submission_id
        line = json.dumps({"submission_id": submission_id, "video_id": video_id, "instances": clean,
                           "annotator": annotator, "submitted_at": time.time()}) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        return submission_id

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # torn final write: never acknowledged to the submitter
                out.append(json.loads(line))
        return out

    def latest(self) -> dict[str, list[dict]]:
        """Video id -> its latest submitted instances."""
        return {r["video_id"]: r["instances"] for r in self.records()}


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
