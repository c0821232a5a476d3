"""The run inspector's data: any selection step of a finished grid run, replayed and explained.

A grid keeps each finished run's cell (``cells/<run>.joblib``) beside its tables. From the cell and
the run's selections table, :func:`inspect_step` rebuilds the state the run selected in (the
labelled videos with the annotations the oracle gave them, by the run's own seeds, and the
localizer fitted on them: :meth:`~activeloc.active.loop.ActiveLearningLoop.replay`) and asks the
selector to :meth:`~activeloc.active.base.Selector.explain` that step's batch: the same videos,
ranked with their utilities and the selector's evidence. Whether the replay chose what the run
recorded is checked and reported (``matches_record``), never assumed. A run is replayable while
its dataset folder holds the same content and the code is the one it ran with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.fingerprint import code_fingerprint
from ..data.dataset import dataset_fingerprint
from ..data.testbeds import TESTBEDS, testbed_dirs
from .grid import cell_loop, study_data

RUN_COLUMNS = ["run_id", "selector", "seed", "batch_size", "noise", "steps", "replayable", "why_not"]


class NotReplayable(InputError, ValueError):
    """A run that cannot be replayed here (unknown, its dataset changed, or other code)."""


def grid_folders(root: Path | None = None) -> dict[str, Path]:
    """Every grid folder of every testbed that kept its runs' cells, as ``{"<testbed>/<folder>": path}``
    (``simulated/selection-ablation``: 03's runs on the default testbed)."""
    found = {}
    for testbed in TESTBEDS:
        experiments = testbed_dirs(testbed, root)["experiments"]
        for folder in sorted(experiments.iterdir()) if experiments.is_dir() else []:
            if (folder / "cells").is_dir():
                found[f"{testbed}/{folder.name}"] = folder
    return found


def list_runs(out_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per finished run of the grid folder ``out_dir`` that kept its cell (:data:`RUN_COLUMNS`):
    its settings, ``steps`` (selections it made), ``replayable`` and, if not, ``why_not``."""
    out = Path(out_dir)
    rows, fingerprints = [], {}
    for path in sorted((out / "cells").glob("*.joblib")):
        run_id = path.stem
        if not (out / "selections" / f"{run_id}.parquet").exists():
            continue
        cell = joblib.load(path)
        folder = cell["dataset_dir"]
        if folder not in fingerprints:
            fingerprints[folder] = dataset_fingerprint(folder) if Path(folder).is_dir() else None
        why_not = _why_not(cell, fingerprints[folder])
        steps = pd.read_parquet(out / "selections" / f"{run_id}.parquet", columns=["step"])["step"].nunique()
        rows.append({"run_id": run_id, "selector": cell["selector"], "seed": cell["seed"],
                     "batch_size": cell["batch_size"], "noise": cell["noise"], "steps": steps,
                     "replayable": why_not is None, "why_not": why_not or ""})
    return pd.DataFrame(rows, columns=RUN_COLUMNS).astype({"replayable": bool}).sort_values(
        ["selector", "batch_size", "noise", "seed"], ignore_index=True)


def find_run(runs: pd.DataFrame, selector: str, seed: int, *, noise: float = 0.0, batch_size: int | None = None) -> str:
    """The replayable run of :func:`list_runs`'s ``runs`` with these settings (the smallest batch
    size if none is given); the error lists what there is."""
    match = runs[(runs["selector"] == selector) & (runs["seed"] == seed) & (runs["noise"] == noise)
                 & runs["replayable"] & ((runs["batch_size"] == batch_size) if batch_size is not None else True)]
    if match.empty:
        have = sorted({f"{r.selector} seed {r.seed}" for r in runs[runs["replayable"]].itertuples()})
        raise NotReplayable(f"no replayable {selector} run with seed {seed}, noise {noise:g}"
                            + (f", batch {batch_size}" if batch_size is not None else "")
                            + (f"; there are: {', '.join(have)}" if have else
                               "; the folder has none: run the grid (notebook 03) first"))
    return match.sort_values("batch_size")["run_id"].iloc[0]


def _why_not(cell: dict, fingerprint: str | None) -> str | None:
    if fingerprint is None:
        return f"its dataset folder {cell['dataset_dir']} is gone"
    if fingerprint != cell["dataset"]:
        return f"its dataset folder {cell['dataset_dir']} changed since the run"
    if cell["code"] != code_fingerprint():
        return f"it ran with other code ({cell['code']}; this is {code_fingerprint()}): run the grid again"
    return None


@dataclass
class StepInspection:
    """One step of one run, explained.

    ``table``: the batch the replay chose, best first (``rank, video_id, utility, duration``, the
    selector's evidence columns, and ``recorded_video_id``/``recorded_utility``: what the run
    itself chose); ``matches_record``: the replay chose the recorded videos in the recorded order
    with the same utilities; ``replay``: the :class:`~activeloc.active.loop.ReplayedStep`
    (labelled set, pool, fitted localizer); ``selector``: the run's (fitted) selector; ``dataset``:
    the run's Selection split (with its truth, for timelines).
    """

    run_id: str
    selector_name: str
    seed: int
    step: int
    table: pd.DataFrame
    matches_record: bool
    replay: object
    selector: object
    dataset: object

    @property
    def video_ids(self) -> list:
        return self.table["video_id"].tolist()


def run_cell_of(out_dir: str | os.PathLike, run_id: str) -> dict:
    path = Path(out_dir) / "cells" / f"{run_id}.joblib"
    if not path.is_file():
        raise NotReplayable(f"{path}: no such run in {out_dir} (list_runs shows the runs it holds)")
    return joblib.load(path)


def inspect_step(out_dir: str | os.PathLike, run_id: str, step: int) -> StepInspection:
    """Replay run ``run_id`` of the grid folder ``out_dir`` at its selection ``step`` and explain
    the batch (see the module docstring)."""
    cell = run_cell_of(out_dir, run_id)
    folder = Path(cell["dataset_dir"])
    why_not = _why_not(cell, dataset_fingerprint(folder) if folder.is_dir() else None)
    if why_not is not None:
        raise NotReplayable(f"run {run_id}: {why_not}")
    selections = pd.read_parquet(Path(out_dir) / "selections" / f"{run_id}.parquet")
    data = study_data(cell)
    loop = cell_loop(cell, data)
    replay = loop.replay(data.selection, selections, int(step))
    recorded = selections[selections["step"] == int(step)].sort_values("rank")
    if recorded.empty:
        raise NotReplayable(f"run {run_id} made no selection at step {step} (it selected at steps 0 to "
                            f"{selections['step'].max()})")
    table = loop.selector.explain(replay.localizer, replay.labelled, replay.pool, len(recorded),
                                  random_state=replay.random_state)
    table.insert(3, "duration", data.selection.durations().loc[table["video_id"]].to_numpy(dtype=float))
    table["recorded_video_id"] = recorded["video_id"].to_numpy()
    table["recorded_utility"] = recorded["utility"].to_numpy(dtype=float)
    matches = bool((table["video_id"] == table["recorded_video_id"]).all()
                   and np.allclose(table["utility"], table["recorded_utility"], rtol=1e-6, atol=1e-9))
    return StepInspection(run_id, cell["selector"], int(cell["seed"]), int(step), table, matches, replay,
                          loop.selector, data.selection)


def side_by_side(a: StepInspection, b: StepInspection) -> pd.DataFrame:
    """Two runs' batches at their steps, rank by rank: each one's video and utility, and whether the
    other chose that video too."""
    n = max(len(a.table), len(b.table))
    frame = pd.DataFrame({"rank": np.arange(n)})
    for inspection, other, tag in ((a, b, "a"), (b, a, "b")):
        ids = inspection.table["video_id"].reindex(range(n))
        frame[f"{tag}_video_id"] = ids
        frame[f"{tag}_utility"] = inspection.table["utility"].reindex(range(n))
        frame[f"{tag}_also_chosen_by_other"] = ids.isin(set(other.video_ids))
    frame.attrs.update(a=f"{a.selector_name} (seed {a.seed}, step {a.step})",
                       b=f"{b.selector_name} (seed {b.seed}, step {b.step})")
    return frame
