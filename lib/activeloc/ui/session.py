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

Annotator seconds (per submission, measured by the panel) are part of each queue record
(``seconds``), so progress in time resumes from the queue too.

Several people, pages and servers on one queue share a
:class:`~activeloc.ui.coordination.Coordination`: each person is given a video of the current
batch nobody else holds (:meth:`AnnotationSession.assign`), a batch is complete once each of its
videos is queued, and every server on the queue must be started with the same settings.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.base import clone

from ..active.loop import ActiveLearningLoop
from ..active.oracles import AnnotationQueue, HumanOracle
from ..core.timing import timed
from ..data.annotations import INSTANCE_COLUMNS
from ..experiments.bootstraps import bootstrapped_selector
from ..experiments.grid import make_cells
from ..experiments.inputs import load_study_data
from .annotation import DraftStore
from .coordination import LEASE_SECONDS, Coordination


INITIAL_RATIO = 0.1  # the loop's default initial set


def coordination_for(queue: AnnotationQueue, dataset_dir, *, selector: str, batch_size: int, random_state: int,
                     initial_ratio: float = INITIAL_RATIO, lease_seconds: float = LEASE_SECONDS) -> Coordination:
    """The coordination of ``queue`` joined with these settings (refused, naming the difference,
    if the queue is served with others)."""
    coordination = Coordination(queue.path, {
        "dataset": str(Path(dataset_dir).resolve()), "selector": selector, "batch_size": int(batch_size),
        "random_state": int(random_state), "initial_ratio": initial_ratio}, lease_seconds=lease_seconds)
    coordination.join(queued=bool(queue.records()))
    return coordination


class _QueueOracle:
    """The session's answers as an oracle: people's from the queue, the dataset's for seed videos."""

    def __init__(self, session):
        self.session = session

    def annotate(self, video_ids, random_state=None) -> pd.DataFrame:
        return self.session.annotations(video_ids)


@dataclass(frozen=True)
class Progress:
    """Counts of one moment of a queue, the same for every page on it: ``seed`` videos labelled
    from the dataset, ``annotated`` by people in total and ``person_annotated`` by one person;
    ``pool`` Selection videos left unlabelled; ``batch`` and ``batch_done`` the current batch's
    size and how many of it are queued, ``held`` how many of the rest people hold now;
    ``seconds`` and ``person_seconds`` the annotator time the panel recorded."""

    seed: int
    annotated: int
    person_annotated: int
    selection: int
    pool: int
    batch: int
    batch_done: int
    held: int
    seconds: float
    person_seconds: float


class AnnotationSession:
    """The state of a human-in-the-loop session over ``dataset_dir`` (a folder 01-dataset wrote),
    whose people submit to ``queue`` (a path or an :class:`AnnotationQueue`).

    ``selector``: a registered name (a learned one is fitted on Knowledge-Source once and kept with
    the dataset, as the grid keeps it); ``drafts``: the panel's draft folder (default
    ``<queue>.drafts``, a subfolder per person); ``lease_seconds``: how long a video stays with a
    person whose page shows no sign of life. A queue served with other settings is refused
    (:class:`~activeloc.ui.coordination.CoordinationError`).
    :meth:`batch` fits and selects (seconds, on a big Selection): call it off the UI thread.
    """

    def __init__(self, dataset_dir, queue, *, selector: str = "uncertainty", batch_size: int = 8,
                 drafts=None, initial_ratio: float = INITIAL_RATIO, random_state: int = 0,
                 lease_seconds: float = LEASE_SECONDS):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.dataset_dir = dataset_dir
        self.queue = queue if isinstance(queue, AnnotationQueue) else AnnotationQueue(queue)
        self.selector = selector
        self.batch_size = int(batch_size)
        self.drafts = DraftStore(drafts if drafts is not None else f"{self.queue.path}.drafts")
        self.initial_ratio = initial_ratio
        self.random_state = int(random_state)
        self.coordination = coordination_for(self.queue, dataset_dir, selector=selector, batch_size=self.batch_size,
                                             random_state=self.random_state, initial_ratio=initial_ratio,
                                             lease_seconds=lease_seconds)
        data = load_study_data(dataset_dir)
        self.selection = data.selection
        cell = make_cells(dataset_dir, [selector], [self.batch_size], [0.0], [self.random_state],
                          initial_ratio=initial_ratio)[0]
        self.selector_ = bootstrapped_selector(cell, data.knowledge)
        # The loop that people stand in for: its seeds, its initial set, its fits (replayed).
        self._loop = ActiveLearningLoop(clone(cell["localizer"]), self.selector_, _QueueOracle(self),
                                        batch_size=self.batch_size, initial_ratio=initial_ratio,
                                        random_state=self.random_state)
        self.seed_ids_ = self._loop.initial_videos(self.selection)
        self.durations_ = self.selection.durations()
        self.labels_ = self.selection.ground_truth.labels
        self.refit_seconds_: list[float] = []  # fit + select, per batch computed
        self._lock = threading.Lock()
        self._batches: dict[tuple, list[str]] = {}  # labelled set at a batch's start -> the batch

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
        """The loop's choice after the seed set and the complete batches (its steps so far),
        replayed by the loop itself with the queue as the oracle."""
        batches = labelled[len(self.seed_ids_):]
        if len(batches) == len(self.selection.video_ids) - len(self.seed_ids_):
            return []
        steps = pd.DataFrame({"step": [i // self.batch_size for i in range(len(batches))],
                              "rank": [i % self.batch_size for i in range(len(batches))], "video_id": batches})
        state = self._loop.replay(self.selection, steps, len(batches) // self.batch_size)
        return self.selector_.select(state.localizer, state.labelled, state.pool, self.batch_size,
                                     random_state=state.random_state)["video_id"].tolist()

    def needs_refit(self) -> bool:
        """Whether :meth:`batch` would fit and select (the queue completed a batch since the last)."""
        with self._lock:
            return tuple(self.labelled_at_batch_start()) not in self._batches

    def pending(self, batch: list[str] | None = None) -> list[str]:
        """The current batch's videos not yet queued, in the selector's order."""
        batch = self.batch() if batch is None else batch
        queued = set(self.queue.latest(batch))
        return [v for v in batch if v not in queued]

    # -- people -------------------------------------------------------------------------------

    def assign(self, holder: str, batch: list[str], skip: str | None = None) -> str | None:
        """The video the page ``holder`` annotates now: one of ``batch``'s (the current batch's)
        pending videos that no other page holds (the one it holds, if any), leased to it. With
        ``skip``, the video it moves away from: another free one, else None (``skip`` stays its).
        None when others hold every pending video. Never fits: ``batch`` is given."""
        return self.coordination.claim(holder, self.pending(batch), skip=skip)

    def submitting(self, holder: str, person: str, video_id: str):
        """The context a submission of the page ``holder`` for ``person`` is written in: refused if
        another page holds ``video_id``, or another person took it over and submitted it (see
        :meth:`~activeloc.ui.coordination.Coordination.submitting`)."""
        return self.coordination.submitting(holder, person, video_id, lambda: self.latest_annotator(video_id))

    def latest_annotator(self, video_id: str) -> str | None:
        """Who submitted ``video_id`` last (None if nobody)."""
        latest = [r for r in self.queue.records() if r["video_id"] == video_id]
        return latest[-1].get("annotator", "") if latest else None

    # -- time and progress --------------------------------------------------------------------

    def progress(self, person: str | None = None, batch: list[str] | None = None) -> Progress:
        """The queue's counts (``person``'s own among them, by the annotator of their records)."""
        annotated = self.annotated()
        allowed = set(annotated)
        records = self.queue.records()
        mine = {r["video_id"] for r in records if r["video_id"] in allowed and r.get("annotator", "") == person}
        seconds = sum(float(r.get("seconds", 0.0)) for r in records)
        person_seconds = sum(float(r.get("seconds", 0.0)) for r in records if r.get("annotator", "") == person)
        batch = self.batch() if batch is None else batch
        queued = set(self.queue.latest(batch))
        held = set(self.coordination.holders()) & (set(batch) - queued)
        n = len(self.selection.video_ids)
        return Progress(seed=len(self.seed_ids_), annotated=len(annotated), person_annotated=len(mine),
                        selection=n, pool=n - len(self.seed_ids_) - len(annotated), batch=len(batch),
                        batch_done=sum(v in queued for v in batch), held=len(held), seconds=seconds,
                        person_seconds=person_seconds)
