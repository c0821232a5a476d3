"""The active-learning loop (paper 3 and 4.1): train, evaluate, select, annotate, add, repeat.

It starts from a random ``initial_ratio`` (10 %) of the Selection videos, annotated by the oracle,
and runs until the pool is empty or a budget (videos, or seconds of video annotated) is spent.
After every step the whole state (labelled videos, their annotations, the fitted localizer, the
history) is checkpointed with an atomic write, so a run killed at any moment, even by SIGKILL,
resumes from its last finished step and ends with the same history as an uninterrupted run
(timing columns aside). Randomness comes from ``random_state`` and the step number only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from tqdm.auto import tqdm

from .annotations import GroundTruth
from .dataset import Dataset
from .io_utils import dump_atomic
from .metrics import ACTIVITYNET_TIOU, evaluate_detections

TIMING_COLUMNS = ["fit_seconds", "select_seconds", "evaluate_seconds"]


@dataclass
class LoopResult:
    """``history``: one row per step; ``selections``: one row per chosen video (step, rank, utility)."""

    history: pd.DataFrame
    selections: pd.DataFrame


@dataclass
class _State:
    step: int
    labelled: list
    annotations: pd.DataFrame
    localizer: object
    history: list = field(default_factory=list)
    selections: list = field(default_factory=list)


class ActiveLearningLoop:
    """One active-learning run.

    ``localizer`` is cloned (with ``random_state`` set to this run's) and refit at every step;
    ``selector`` follows :mod:`activeloc.selectors`; ``oracle`` answers ``annotate(ids, random_state)``.
    ``checkpoint``: a file to save the state to after every step and to resume from.
    ``run_id`` and ``noise`` are recorded in the tables.
    """

    def __init__(self, localizer, selector, oracle, *, batch_size: int = 64, initial_ratio: float = 0.1,
                 budget_videos: int | None = None, budget_seconds: float | None = None,
                 max_steps: int | None = None, checkpoint: str | os.PathLike | None = None,
                 run_id: str = "run", random_state: int = 0, tiou_thresholds=ACTIVITYNET_TIOU):
        self.localizer = localizer
        self.selector = selector
        self.oracle = oracle
        self.batch_size = batch_size
        self.initial_ratio = initial_ratio
        self.budget_videos = budget_videos
        self.budget_seconds = budget_seconds
        self.max_steps = max_steps
        self.checkpoint = checkpoint
        self.run_id = run_id
        self.random_state = random_state
        self.tiou_thresholds = tiou_thresholds

    def _rng(self, step: int, purpose: int) -> np.random.Generator:
        return np.random.default_rng([self.random_state, step, purpose])

    def _start(self, selection: Dataset) -> _State:
        if self.checkpoint is not None and Path(self.checkpoint).exists():
            return joblib.load(self.checkpoint)
        ids = list(selection.video_ids)
        n0 = max(1, round(self.initial_ratio * len(ids)))
        labelled = list(self._rng(0, 0).permutation(ids)[:n0])
        annotations = self.oracle.annotate(labelled, random_state=self._rng(0, 2))
        localizer = clone(self.localizer).set_params(random_state=self.random_state)
        return _State(0, labelled, annotations, localizer)

    def _save(self, state: _State) -> None:
        if self.checkpoint is not None:
            dump_atomic(state, self.checkpoint)

    def _spent(self, labelled: int, seconds: float) -> bool:
        return ((self.budget_videos is not None and labelled >= self.budget_videos)
                or (self.budget_seconds is not None and seconds >= self.budget_seconds))

    def run(self, selection: Dataset, testing: Dataset, *, progress: bool = True) -> LoopResult:
        """Run (or resume) until the pool is empty, the budget is spent or ``max_steps`` steps are done."""
        state = self._start(selection)
        durations = selection.ground_truth.videos["duration"]
        total = len(selection.video_ids)
        total_seconds = float(durations.loc[list(selection.video_ids)].sum())
        noise = getattr(self.oracle, "noise", np.nan)
        selector_name = getattr(self.selector, "name", type(self.selector).__name__)
        bar = tqdm(total=total, initial=len(state.labelled), desc=f"{self.run_id}", unit="video",
                   disable=not progress, leave=False)
        while True:
            if state.history and state.history[-1]["final"]:
                break
            labelled_set = set(state.labelled)
            train_gt = GroundTruth(durations.loc[state.labelled].to_frame().assign(subset="training"),
                                   state.annotations)
            train = selection.subset(state.labelled, ground_truth=train_gt)
            start = time.perf_counter()
            state.localizer.fit(train)
            fit_seconds = time.perf_counter() - start

            start = time.perf_counter()
            # A subsampled Testing split may miss a class: its detections cannot be scored, so drop them.
            result = evaluate_detections(testing.instances, state.localizer.predict(testing), self.tiou_thresholds,
                                         ignore_unknown_labels=True)
            evaluate_seconds = time.perf_counter() - start

            pool_ids = [v for v in selection.video_ids if v not in labelled_set]
            seconds = float(durations.loc[state.labelled].sum())
            final = (not pool_ids or self._spent(len(state.labelled), seconds)
                     or (self.max_steps is not None and state.step + 1 >= self.max_steps))
            row = {
                "run_id": self.run_id, "selector": selector_name, "seed": self.random_state,
                "batch_size": self.batch_size, "noise": noise, "step": state.step,
                "labelled_videos": len(state.labelled), "labelled_ratio": len(state.labelled) / total,
                "seconds_labelled": seconds, "seconds_ratio": seconds / total_seconds,
                **{f"mAP@{t:.2f}": m for t, m in zip(result.tiou_thresholds, result.mAP)},
                "average_mAP": result.average_mAP, "fit_seconds": fit_seconds, "select_seconds": 0.0,
                "evaluate_seconds": evaluate_seconds, "final": final,
            }
            if not final:
                batch = self.batch_size
                if self.budget_videos is not None:
                    batch = min(batch, self.budget_videos - len(state.labelled))
                start = time.perf_counter()
                chosen = self.selector.select(state.localizer, train, selection.subset(pool_ids), batch,
                                              random_state=self._rng(state.step + 1, 1))
                row["select_seconds"] = time.perf_counter() - start
                new_ids = chosen["video_id"].tolist()
                answers = self.oracle.annotate(new_ids, random_state=self._rng(state.step + 1, 2))
                state.selections.extend(
                    chosen.assign(run_id=self.run_id, step=state.step,
                                  duration=durations.loc[new_ids].to_numpy()).to_dict("records"))
                state.labelled = state.labelled + new_ids
                state.annotations = pd.concat([state.annotations, answers], ignore_index=True)
                bar.update(len(new_ids))
            state.history.append(row)
            state.step += 1
            self._save(state)
        bar.close()
        history = pd.DataFrame(state.history).drop(columns="final")
        selections = pd.DataFrame(state.selections,
                                  columns=["run_id", "step", "video_id", "rank", "utility", "duration"])
        return LoopResult(history, selections[["run_id", "step", "video_id", "rank", "utility", "duration"]])
