"""The active-learning loop (paper 3 and 4.1): train, evaluate, select, annotate, add, repeat.

It starts from a random ``initial_ratio`` (10 %) of the Selection videos, annotated by the oracle,
and runs until the pool is empty or a budget (videos, seconds of video annotated, or annotator hours
by the oracle's ``time_model``) is spent.
The selector sees the pool label-blind. After every step the whole state (labelled videos, their
annotations, the fitted localizer, the history) is checkpointed with an atomic write, so a run
killed at any moment, even by SIGKILL, resumes from its last finished step and ends with the same
history as an uninterrupted run (timing columns aside). Randomness comes from ``random_state``
and the step number only.

A checkpoint carries the identity of its run (selector and its parameters, seed, batch size, budgets,
oracle and noise, localizer template, the Selection and Testing videos, the code's fingerprint) and
the SHA-256 of its content:
a loop pointed at another run's checkpoint refuses it with a :class:`CheckpointError` listing
what differs. The previous checkpoint is kept beside it (``<checkpoint>.previous``); a checkpoint
that cannot be read is reported by path (a :class:`CheckpointWarning`), set aside as
``<checkpoint>.unreadable`` and replaced by the previous one, else the run restarts from its
beginning. Temporaries left by a killed writer are removed when a run starts.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from ..core.errors import InputError, one_line
from ..core.fingerprint import code_fingerprint, frame_digest
from ..core.io import atomic_path, remove_stale_temporaries, set_aside
from ..core.timing import timed
from ..data.annotations import GroundTruth
from ..data.dataset import Dataset
from ..data.splits import draw_subset
from ..evaluation.detection import ACTIVITYNET_TIOU, evaluate_localizer

TIMING_COLUMNS = ["fit_seconds", "select_seconds", "evaluate_seconds"]
SELECTION_TABLE_COLUMNS = ["run_id", "step", "video_id", "rank", "utility", "duration"]


class CheckpointError(InputError):
    """A checkpoint belongs to another run."""


class CheckpointWarning(UserWarning):
    """A checkpoint could not be read; the run goes on from the previous one, or from the start."""


@dataclass
class LoopResult:
    """``history``: one row per step; ``selections``: one row per chosen video (step, rank, utility);
    ``annotations``: what the oracle returned for every labelled video (``video_id, t_start, t_end,
    label``), the initial set's first: the labels the run collected; ``labelled``: the labelled videos
    in the order they were annotated (the initial set first), those returned without instances too."""

    history: pd.DataFrame
    selections: pd.DataFrame
    annotations: pd.DataFrame | None = None
    labelled: list | None = None


@dataclass
class ReplayedStep:
    """What :meth:`ActiveLearningLoop.replay` rebuilds: ``labelled`` (a Dataset of the labelled
    videos with the run's annotations), the label-blind ``pool``, the fitted ``localizer`` and the
    ``random_state`` the step's selection drew with."""

    step: int
    labelled: Dataset
    pool: object
    localizer: object
    random_state: int


@dataclass
class _State:
    seed: int
    step: int
    labelled: list
    annotations: pd.DataFrame
    localizer: object
    history: list = field(default_factory=list)
    selections: list = field(default_factory=list)
    identity: dict = field(default_factory=dict)
    evaluated_ratio: float = -np.inf  # the labelled ratio of the last evaluation
    pending: dict = field(default_factory=lambda: dict.fromkeys(TIMING_COLUMNS, 0.0))  # seconds since then


class ActiveLearningLoop:
    """One active-learning run.

    ``localizer`` is cloned (with ``random_state`` set to this run's seed; warm-started by the
    selector's :meth:`~activeloc.active.base.Selector.warm_start_localizer`) and refit at every step
    whose selection reads it (Random's does not) and before every evaluation; ``selector`` follows
    :mod:`activeloc.active.base`; ``oracle`` answers ``annotate(ids, random_state)``.
    ``evaluate_every``: the labelled ratio of Selection to add between two evaluations on Testing
    (None: after every step); the first and last steps are always evaluated. The history has one row
    per evaluation, whose timing columns sum the steps since the previous one. With the exact
    stages a refit's model does not depend on the refits before it, so skipping some changes no
    selection. ``checkpoint``: a file to save the state to after every step and to resume from.
    ``run_id`` and the oracle's ``noise`` are recorded in the tables. ``random_state``: an int for
    a reproducible run (None draws one, kept in the checkpoint). An oracle with a ``time_model``
    (``seconds(durations, instances)``: a person's seconds per video) adds ``annotator_hours`` (the
    labelled videos' annotation time so far) to the history, and ``budget_hours`` stops the run once
    that is spent (the last batch may pass it); without a time model ``budget_hours`` is an error.
    """

    def __init__(self, localizer, selector, oracle, *, batch_size: int = 64, initial_ratio: float = 0.1,
                 budget_videos: int | None = None, budget_seconds: float | None = None,
                 budget_hours: float | None = None, max_steps: int | None = None, evaluate_every: float | None = None,
                 checkpoint: str | os.PathLike | None = None, run_id: str = "run", random_state=0,
                 tiou_thresholds=ACTIVITYNET_TIOU):
        self.localizer = localizer
        self.selector = selector
        self.oracle = oracle
        self.batch_size = batch_size
        self.initial_ratio = initial_ratio
        self.budget_videos = budget_videos
        self.budget_seconds = budget_seconds
        self.budget_hours = budget_hours
        self.max_steps = max_steps
        self.evaluate_every = evaluate_every
        self.checkpoint = checkpoint
        self.run_id = run_id
        self.random_state = random_state
        self.tiou_thresholds = tiou_thresholds

    @staticmethod
    def _seed(state_seed: int, step: int, purpose: int) -> int:
        """The seed of one random decision: the run's seed, the step, and what it is for."""
        return int(np.random.SeedSequence([state_seed, step, purpose]).generate_state(1)[0])

    def _seeded(self) -> bool:
        return isinstance(self.random_state, (int, np.integer))

    def _identity(self, selection: Dataset, testing: Dataset) -> dict:
        """What decides this run's result, in comparable values (see the module docstring)."""
        def digest(obj) -> str:
            return joblib.hash(obj, hash_name="sha1")[:12]

        annotator = getattr(self.oracle, "model_params", None)  # an annotator model's noise and time parameters
        return {
            "selector": getattr(self.selector, "name", type(self.selector).__name__),
            # Parameters, not fitted state: a bootstrap's timings differ between two fits of one selector.
            "selector parameters": digest(self.selector.get_params(deep=True)),
            "seed": int(self.random_state) if self._seeded() else None,
            "batch size": int(self.batch_size), "initial ratio": float(self.initial_ratio),
            "budget (videos)": self.budget_videos, "budget (seconds)": self.budget_seconds,
            "budget (annotator hours)": self.budget_hours,
            "annotator model": None if annotator is None else digest(annotator()),
            "max steps": self.max_steps, "evaluate every": self.evaluate_every, "oracle": type(self.oracle).__name__,
            "noise": None if getattr(self.oracle, "noise", None) is None else float(self.oracle.noise),
            "noise std": None if getattr(self.oracle, "noise_std", None) is None else float(self.oracle.noise_std),
            "localizer": digest(clone(self.localizer)),
            "Selection videos": frame_digest(selection.durations().to_frame()),
            "Testing videos": frame_digest(testing.durations().to_frame()), "Testing truth": frame_digest(testing.instances),
            "tIoU thresholds": digest([float(t) for t in self.tiou_thresholds]),
            "code": code_fingerprint(),
        }

    def _start(self, selection: Dataset, identity: dict) -> _State:
        state = self._resume(identity) if self.checkpoint is not None else None
        if state is not None:
            return state
        seed = (int(self.random_state) if self._seeded()
                else int(check_random_state(self.random_state).randint(2**31 - 1)))
        return _State(seed, 0, *self._initial(selection, seed), identity=identity)

    def initial_videos(self, selection: Dataset, seed: int | None = None) -> list:
        """The videos a run with ``seed`` (default: this loop's integer ``random_state``) labels first."""
        seed = int(self.random_state) if seed is None else seed
        return draw_subset(selection.video_ids, ratio=self.initial_ratio, random_state=self._seed(seed, 0, 0))

    def _initial(self, selection: Dataset, seed: int) -> tuple[list, pd.DataFrame, object]:
        """The initial labelled videos, their annotations and the (unfitted) localizer of a run."""
        labelled = self.initial_videos(selection, seed)
        annotations = self.oracle.annotate(labelled, random_state=self._seed(seed, 0, 2))
        localizer = clone(self.selector.warm_start_localizer(clone(self.localizer))).set_params(random_state=seed)
        return labelled, annotations, localizer

    @staticmethod
    def _training_set(selection: Dataset, durations: pd.Series, labelled: list, annotations: pd.DataFrame) -> Dataset:
        """The labelled videos with the annotations the run collected (not Selection's own truth)."""
        truth = GroundTruth(durations.loc[labelled].to_frame("duration").assign(subset="training"), annotations)
        return selection.subset(labelled, ground_truth=truth)

    def replay(self, selection: Dataset, selections: pd.DataFrame, step: int) -> ReplayedStep:
        """The state this run was in when it selected at ``step`` (0: the first selection, after the
        initial set; ``len`` of the recorded steps: the next one), rebuilt from its ``selections``
        table (:attr:`LoopResult.selections`: ``step, rank, video_id``) with the run's own seeds:
        the labelled videos and the annotations the oracle gave them (the same draws), the
        localizer fitted on them (with the exact stages, the model the run selected with), the
        label-blind pool, and the seed of that step's selection. Needs the run's integer
        ``random_state``."""
        if not self._seeded():
            raise ValueError(f"replay needs the run's integer random_state, got {self.random_state!r}")
        steps = sorted(set(selections["step"]))
        if steps != list(range(len(steps))):
            raise ValueError(f"the recorded steps {steps} are not 0, 1, 2, ...")
        if not 0 <= step <= len(steps):
            raise ValueError(f"the run selected at steps 0 to {len(steps) - 1}, not at step {step}")
        seed = int(self.random_state)
        labelled, annotations, localizer = self._initial(selection, seed)
        for earlier in steps[:step]:
            ids = selections.loc[selections["step"] == earlier].sort_values("rank")["video_id"].tolist()
            answers = self.oracle.annotate(ids, random_state=self._seed(seed, earlier + 1, 2))
            labelled, annotations = labelled + ids, pd.concat([annotations, answers], ignore_index=True)
        train = self._training_set(selection, selection.durations(), labelled, annotations)
        known = set(labelled)
        pool = selection.without_labels().subset([v for v in selection.video_ids if v not in known])
        return ReplayedStep(step, train, pool, localizer.fit(train), self._seed(seed, step + 1, 1))

    def _previous(self) -> Path:
        return Path(f"{self.checkpoint}.previous")

    def _resume(self, identity: dict) -> _State | None:
        """The state of the checkpoint (or of the previous one, if it is unreadable), or None to start afresh."""
        path = Path(self.checkpoint)
        remove_stale_temporaries(path.parent, path.name)
        remove_stale_temporaries(path.parent, self._previous().name)
        unreadable = []
        for candidate in (path, self._previous()):
            if not candidate.exists():
                continue
            try:
                state = read_checkpoint(candidate)
            except CheckpointDamaged as exc:
                unreadable.append(f"{candidate} ({exc}; set aside as {set_aside(candidate).name})")
                continue
            _check_identity(candidate, state.identity, identity, compare_seed=self._seeded())
            if unreadable:
                warnings.warn(f"unreadable checkpoint {unreadable[0]}; resuming from "
                              f"{candidate} ({state.step} steps done)", CheckpointWarning, stacklevel=4)
                os.replace(candidate, path)
            return state
        if unreadable:
            warnings.warn(f"unreadable checkpoint {'; '.join(unreadable)}; the run "
                          "restarts from its first step", CheckpointWarning, stacklevel=4)
        return None

    def _save(self, state: _State) -> None:
        if self.checkpoint is not None:
            write_checkpoint(state, self.checkpoint, keep_previous=self._previous())

    def _spent(self, labelled: int, seconds: float, hours: float) -> bool:
        return ((self.budget_videos is not None and labelled >= self.budget_videos)
                or (self.budget_seconds is not None and seconds >= self.budget_seconds)
                or (self.budget_hours is not None and hours >= self.budget_hours))

    def _annotator_hours(self, durations: pd.Series, state: _State) -> float:
        """The labelled videos' annotation time by the oracle's time model (NaN without one)."""
        model = getattr(self.oracle, "time_model", None)
        if model is None:
            return np.nan
        return float(model.seconds(durations.loc[state.labelled], state.annotations).sum()) / 3600

    def run(self, selection: Dataset, testing: Dataset, *, progress: bool = True) -> LoopResult:
        """Run (or resume) until the pool is empty, the budget is spent or ``max_steps`` steps are done."""
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        timing = getattr(self.oracle, "time_model", None) is not None
        if self.budget_hours is not None and not timing:
            raise ValueError("budget_hours needs an oracle with a time_model (annotation seconds per video)")
        state = self._start(selection, self._identity(selection, testing) if self.checkpoint is not None else {})
        durations = selection.durations()
        unlabelled = selection.without_labels()  # what every step's pool is cut from
        total = len(selection.video_ids)
        total_seconds = float(durations.sum())
        noise = getattr(self.oracle, "noise", np.nan)
        selector_name = getattr(self.selector, "name", type(self.selector).__name__)
        bar = tqdm(total=total, initial=len(state.labelled), desc=f"{self.run_id}", unit="video",
                   disable=not progress, leave=False)
        while not (state.history and state.history[-1]["final"]):
            labelled_set = set(state.labelled)
            train = self._training_set(selection, durations, state.labelled, state.annotations)
            pool_ids = [v for v in selection.video_ids if v not in labelled_set]
            seconds = float(durations.loc[state.labelled].sum())
            ratio = len(state.labelled) / total
            hours = self._annotator_hours(durations, state)
            final = (not pool_ids or self._spent(len(state.labelled), seconds, hours)
                     or (self.max_steps is not None and state.step + 1 >= self.max_steps))
            evaluate = (final or self.evaluate_every is None
                        or ratio >= state.evaluated_ratio + float(self.evaluate_every) - 1e-12)
            if evaluate or self.selector.reads_localizer:
                with timed() as fit:
                    state.localizer.fit(train)
                state.pending["fit_seconds"] += fit.seconds
            row = None
            if evaluate:
                with timed() as evaluation:
                    result = evaluate_localizer(state.localizer, testing, self.tiou_thresholds)
                state.pending["evaluate_seconds"] += evaluation.seconds
                row = {
                    "run_id": self.run_id, "selector": selector_name, "seed": state.seed,
                    "batch_size": self.batch_size, "noise": noise, "step": state.step,
                    "labelled_videos": len(state.labelled), "labelled_ratio": ratio,
                    "seconds_labelled": seconds, "seconds_ratio": seconds / total_seconds,
                    **({"annotator_hours": hours} if timing else {}),
                    **{f"mAP@{t:.2f}": m for t, m in zip(result.tiou_thresholds, result.mAP)},
                    "average_mAP": result.average_mAP,
                    "convergence_warnings": getattr(state.localizer, "convergence_warnings_", 0), "final": final,
                }
                state.evaluated_ratio = ratio
            if not final:
                batch = self.batch_size
                if self.budget_videos is not None:
                    batch = min(batch, self.budget_videos - len(state.labelled))
                with timed() as selecting:
                    chosen = self.selector.select(state.localizer, train, unlabelled.subset(pool_ids), batch,
                                                  random_state=self._seed(state.seed, state.step + 1, 1))
                state.pending["select_seconds"] += selecting.seconds
                new_ids = chosen["video_id"].tolist()
                answers = self.oracle.annotate(new_ids, random_state=self._seed(state.seed, state.step + 1, 2))
                state.selections.extend(
                    chosen.assign(run_id=self.run_id, step=state.step,
                                  duration=durations.loc[new_ids].to_numpy()).to_dict("records"))
                state.labelled = state.labelled + new_ids
                state.annotations = pd.concat([state.annotations, answers], ignore_index=True)
                bar.update(len(new_ids))
            if row is not None:
                state.history.append({**row, **state.pending})
                state.pending = dict.fromkeys(TIMING_COLUMNS, 0.0)
            state.step += 1
            self._save(state)
        bar.close()
        history = pd.DataFrame(state.history).drop(columns="final")
        selections = pd.DataFrame(state.selections, columns=SELECTION_TABLE_COLUMNS)
        return LoopResult(history, selections[SELECTION_TABLE_COLUMNS], state.annotations.reset_index(drop=True),
                          list(state.labelled))


CHECKPOINT_MAGIC = b"activeloc checkpoint 1\n"


class CheckpointDamaged(Exception):
    """A checkpoint file whose bytes are not what was written (cut short, garbled, not a checkpoint)."""


def write_checkpoint(state: _State, path, *, keep_previous=None) -> None:
    """The state pickled behind a header and the payload's SHA-256, atomically: any damage to the
    file is then found before unpickling, never resumed from as if it were the run's state."""
    payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    with atomic_path(path, keep_previous=keep_previous) as tmp:
        tmp.write_bytes(CHECKPOINT_MAGIC + hashlib.sha256(payload).digest() + payload)


def read_checkpoint(path) -> _State:
    """The state in a checkpoint; :class:`CheckpointDamaged` if its bytes are not what was written,
    :class:`CheckpointError` if they are but hold classes this code does not have."""
    data = Path(path).read_bytes()
    header, digest, payload = data[:len(CHECKPOINT_MAGIC)], data[len(CHECKPOINT_MAGIC):len(CHECKPOINT_MAGIC) + 32], \
        data[len(CHECKPOINT_MAGIC) + 32:]
    if header != CHECKPOINT_MAGIC:
        raise CheckpointDamaged("not an activeloc checkpoint" if data else "empty")
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointDamaged("its checksum does not match: cut short or garbled")
    try:
        state = pickle.loads(payload)
    except (ImportError, AttributeError) as exc:  # intact, but pickled classes this code does not have
        raise CheckpointError(f"{path}: written by another version of the code ({one_line(exc)}); "
                              f"delete it and {Path(path).name}.previous to start this run afresh") from None
    if not isinstance(state, _State):
        raise CheckpointDamaged(f"holds a {type(state).__name__}, not a loop state")
    return state


def _check_identity(path: Path, theirs: dict, ours: dict, *, compare_seed: bool) -> None:
    """Refuse a checkpoint written by another run, naming what differs."""
    differences = [f"{key}: {theirs.get(key, 'unrecorded')!r} there, {value!r} here" for key, value in ours.items()
                   if (key != "seed" or compare_seed) and theirs.get(key, "unrecorded") != value]
    if differences:
        raise CheckpointError(f"{path}: the checkpoint belongs to another run ({'; '.join(differences)}); "
                              "delete it (and its .previous), or give this run another checkpoint")
