"""A human-in-the-loop annotation session (what ``activeloc annotate`` serves), without widgets.

The labelled set is the Selection split's initial set, drawn as the loop draws it
(:func:`~activeloc.data.splits.draw_subset` of ``initial_ratio``, seeded as
:class:`~activeloc.active.loop.ActiveLearningLoop` seeds it) and labelled with **the dataset's own
annotations** (a live session has no one to annotate it first), plus every Selection video in the
annotation queue (its latest record, as :class:`~activeloc.active.oracles.HumanOracle` reads it; a
queued seed video takes the person's annotation).

Everything is derived from the queue, so a restart resumes where people stopped: the queued
videos outside the seed set, in the order first submitted, fall into batches of ``batch_size``;
the current batch is the selector's choice on the pool after fitting the localizer on the seed
set and the complete batches, seeded by ``random_state`` and the number of complete batches as
the loop seeds its steps (with a person who answers as the dataset does, the batches are the
simulated loop's), and the videos of it not yet queued are the ones to annotate. Same queue,
same batch. A
re-submission of a video of a finished batch changes the annotations later fits read, not the
batches already chosen.

Annotator seconds (per submission, measured by the panel) go to a side file beside the queue
(``<queue>.seconds.jsonl``, one fsync'd line per submission), which the human oracle never reads.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.base import clone

from ..active.loop import ActiveLearningLoop
from ..active.oracles import AnnotationQueue, HumanOracle
from ..core.timing import timed
from ..data.annotations import INSTANCE_COLUMNS, GroundTruth
from ..data.splits import draw_subset
from ..experiments.bootstraps import bootstrapped_selector
from ..experiments.grid import make_cells
from ..experiments.inputs import load_study_data
from .annotation import DraftStore

SELECT_PURPOSE = 1  # the loop's seed purpose for a selection (ActiveLearningLoop._seed)


@dataclass(frozen=True)
class Progress:
    """Counts of one moment of a session: ``seed`` videos labelled from the dataset, ``annotated``
    by people in total and ``session_annotated`` since ``started_at``; ``pool`` Selection videos
    left unlabelled; ``batch`` and ``batch_done`` the current batch's size and how many of it are
    queued; ``seconds`` and ``session_seconds`` the annotator time recorded by the panel."""

    seed: int
    annotated: int
    session_annotated: int
    selection: int
    pool: int
    batch: int
    batch_done: int
    seconds: float
    session_seconds: float


class AnnotationSession:
    """The state of a human-in-the-loop session over ``dataset_dir`` (a folder 01-dataset wrote),
    whose people submit to ``queue`` (a path or an :class:`AnnotationQueue`).

    ``selector``: a registered name (a learned one is fitted on Knowledge-Source once and kept with
    the dataset, as the grid keeps it); ``drafts``: the panel's draft folder (default
    ``<queue>.drafts``); ``started_at``: the epoch seconds this session counts from (default now).
    :meth:`batch` fits and selects (seconds, on a big Selection): call it off the UI thread.
    """

    def __init__(self, dataset_dir, queue, *, selector: str = "uncertainty", batch_size: int = 8,
                 drafts=None, initial_ratio: float = 0.1, random_state: int = 0, started_at: float | None = None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.dataset_dir = dataset_dir
        self.queue = queue if isinstance(queue, AnnotationQueue) else AnnotationQueue(queue)
        self.selector = selector
        self.batch_size = int(batch_size)
        self.drafts = DraftStore(drafts if drafts is not None else f"{self.queue.path}.drafts")
        self.initial_ratio = initial_ratio
        self.random_state = int(random_state)
        self.started_at = time.time() if started_at is None else float(started_at)
        data = load_study_data(dataset_dir)
        self.selection = data.selection
        cell = make_cells(dataset_dir, [selector], [self.batch_size], [0.0], [self.random_state],
                          initial_ratio=initial_ratio)[0]
        self.selector_ = bootstrapped_selector(cell, data.knowledge)
        self.localizer_template_ = cell["localizer"]
        self.seed_ids_ = draw_subset(self.selection.video_ids, ratio=initial_ratio,
                                     random_state=ActiveLearningLoop._seed(self.random_state, 0, 0))
        self.durations_ = self.selection.durations()
        self.labels_ = self.selection.ground_truth.labels
        self.refit_seconds_: list[float] = []  # fit + select, per batch computed
        self._lock = threading.Lock()
        self._batches: dict[tuple, list[str]] = {}  # labelled set at a batch's start -> the batch

    @property
    def seconds_path(self) -> Path:
        return self.queue.path.with_name(self.queue.path.name + ".seconds.jsonl")

    # -- what the queue says ------------------------------------------------------------------

    def annotated(self) -> list[str]:
        """The Selection videos outside the seed set that people submitted, in the order first submitted."""
        allowed = set(self.selection.video_ids) - set(self.seed_ids_)
        order = dict.fromkeys(r["video_id"] for r in self.queue.records())
        return [v for v in order if v in allowed]

    def labelled_at_batch_start(self, annotated: list[str] | None = None) -> list[str]:
        """The seed set and every complete batch: what the current batch was chosen from."""
        annotated = self.annotated() if annotated is None else annotated
        done = len(annotated) // self.batch_size * self.batch_size
        return self.seed_ids_ + annotated[:done]

    def annotations(self, video_ids) -> pd.DataFrame:
        """Instances of ``video_ids``: people's (latest) where queued, else the dataset's (seed videos)."""
        video_ids = list(video_ids)
        queued = set(self.queue.latest(video_ids))
        people = HumanOracle(self.queue).annotate([v for v in video_ids if v in queued])
        own = self.selection.instances
        own = own.loc[own["video_id"].isin([v for v in video_ids if v not in queued]), INSTANCE_COLUMNS]
        return pd.concat([own, people], ignore_index=True)

    # -- choosing -----------------------------------------------------------------------------

    def batch(self) -> list[str]:
        """The current batch (queued videos of it included); [] once the pool is empty. Fits the
        localizer and runs the selector the first time a labelled set is seen."""
        labelled = self.labelled_at_batch_start()
        key = tuple(labelled)
        with self._lock:
            if key not in self._batches:
                with timed() as elapsed:
                    self._batches[key] = self._choose(labelled)
                self.refit_seconds_.append(elapsed.seconds)
            return list(self._batches[key])

    def _choose(self, labelled: list[str]) -> list[str]:
        taken = set(labelled)
        pool = [v for v in self.selection.video_ids if v not in taken]
        if not pool:
            return []
        durations = self.durations_.loc[labelled]
        truth = GroundTruth(durations.to_frame("duration").assign(subset="training"), self.annotations(labelled))
        train = self.selection.subset(labelled, ground_truth=truth)
        localizer = clone(self.selector_.warm_start_localizer(clone(self.localizer_template_)))
        localizer.set_params(random_state=self.random_state)
        if self.selector_.reads_localizer:
            localizer.fit(train)
        step = (len(labelled) - len(self.seed_ids_)) // self.batch_size + 1  # batch k is the loop's step k's choice
        seed = ActiveLearningLoop._seed(self.random_state, step, SELECT_PURPOSE)
        chosen = self.selector_.select(localizer, train, self.selection.without_labels().subset(pool),
                                       min(self.batch_size, len(pool)), random_state=seed)
        return chosen["video_id"].tolist()

    def pending(self, batch: list[str] | None = None) -> list[str]:
        """The current batch's videos not yet queued, in the selector's order."""
        batch = self.batch() if batch is None else batch
        queued = set(self.queue.latest(batch))
        return [v for v in batch if v not in queued]

    # -- time and progress --------------------------------------------------------------------

    def record_seconds(self, video_id: str, submission_id: str, seconds: float) -> None:
        """Keep a submission's annotator seconds (appended and fsync'd beside the queue)."""
        line = json.dumps({"submission_id": submission_id, "video_id": video_id, "seconds": float(seconds),
                           "at": time.time()}) + "\n"
        self.seconds_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.seconds_path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def _seconds(self) -> tuple[float, float]:
        """Annotator seconds recorded (in total, and since ``started_at``); a torn line is skipped."""
        total = session = 0.0
        try:
            lines = self.seconds_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return total, session
        for line in lines:
            try:
                item = json.loads(line)
                seconds, at = float(item["seconds"]), float(item["at"])
            except (ValueError, KeyError, TypeError):
                continue
            total += seconds
            session += seconds if at >= self.started_at else 0.0
        return total, session

    def progress(self, batch: list[str] | None = None) -> Progress:
        annotated = self.annotated()
        allowed = set(annotated)
        since = {r["video_id"] for r in self.queue.records() if r["video_id"] in allowed
                 and float(r.get("submitted_at", 0)) >= self.started_at}
        batch = self.batch() if batch is None else batch
        queued = set(self.queue.latest(batch))
        seconds, session_seconds = self._seconds()
        n = len(self.selection.video_ids)
        return Progress(seed=len(self.seed_ids_), annotated=len(annotated), session_annotated=len(since),
                        selection=n, pool=n - len(self.seed_ids_) - len(annotated), batch=len(batch),
                        batch_done=sum(v in queued for v in batch), seconds=seconds, session_seconds=session_seconds)
