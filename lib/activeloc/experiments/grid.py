"""The experiment grid: active-learning runs (selector x batch size x noise x seed) as plain cells,
run locally with joblib or on a Dask cluster, each finished run written once as Parquet and never
recomputed.

A cell fully describes one run: the dataset (its folder and the fingerprint of its content), the
code (the fingerprint of the code that planned it, which must be the code that runs it), the
localizer template, the subsample sizes and the run's own settings. Its id is a digest of all of
that but the folder, so results computed from other data, other code or another localizer are
never read back as this run's.
"""

from __future__ import annotations

import os
from pathlib import Path

import joblib
import pandas as pd
from sklearn.base import clone

from ..active.base import LearnedSelector
from ..active.loop import ActiveLearningLoop
from ..active.oracles import SimulatedOracle
from ..active.registry import SELECTORS, base_selector_name
from ..core.fingerprint import check_code, code_fingerprint
from ..core.io import dump_atomic, remove_stale_temporaries
from ..core.workers import prepare_worker
from ..data.dataset import check_dataset_folder, dataset_fingerprint
from ..localization.localizer import StageWiseLocalizer
from .bootstraps import bootstrapped_selector, selector_artefact
from .inputs import load_study_data
from .parallel import run_each
from .storage import read_table, readable_part, save_parquet

SIZE_KEYS = ("selection_videos", "testing_videos", "knowledge_videos")


def default_localizer() -> StageWiseLocalizer:
    """The grid's localizer template when none is given: the exact stages, whose refits after a
    step cost the new videos only."""
    return StageWiseLocalizer()


def make_cells(dataset_dir, selectors, batch_sizes, noises, seeds, *, localizer=None, selection_videos=None,
               testing_videos=None, knowledge_videos=None, initial_ratio: float = 0.1,
               evaluate_every: float | None = None, selector_params: dict | None = None) -> list[dict]:
    """The grid as a list of cells (see the module docstring). ``localizer``: the template every
    run clones and every learned selector learns with (None: :func:`default_localizer`).
    ``selector_params``: per selector name, its parameters (a ``-per-second`` variant without its
    own takes its plain selector's)."""
    common = {"dataset_dir": str(check_dataset_folder(dataset_dir)), "dataset": dataset_fingerprint(dataset_dir),
              "code": code_fingerprint(), "localizer": localizer if localizer is not None else default_localizer(),
              "selection_videos": selection_videos or None, "testing_videos": testing_videos or None,
              "knowledge_videos": knowledge_videos or None, "initial_ratio": initial_ratio,
              "evaluate_every": evaluate_every or None}
    selector_params = selector_params or {}
    selectors, batch_sizes, noises, seeds = (list(dict.fromkeys(values)) for values in  # each once
                                             (selectors, batch_sizes, noises, seeds))
    return [{**common, "selector": s, "selector_params": selector_params_of(s, selector_params), "batch_size": int(b),
             "noise": float(n), "seed": int(r)}
            for s in selectors for b in batch_sizes for n in noises for r in seeds]


def selector_params_of(selector: str, selector_params: dict) -> dict:
    """A selector's parameters in a per-name table: its own, else its base selector's (for a variant:
    ``-per-second``, ``-diverse``)."""
    return selector_params.get(selector, selector_params.get(base_selector_name(selector), {}))


def cell_id(cell: dict) -> str:
    """A digest of everything that decides a run's result (all of the cell but its folder)."""
    return joblib.hash({k: v for k, v in cell.items() if k != "dataset_dir"}, hash_name="sha1")[:16]


def study_data(cell: dict):
    """The cell's Selection, Testing and Knowledge-Source (the folder must still hold its dataset)."""
    return load_study_data(cell["dataset_dir"], fingerprint=cell["dataset"], **{k: cell[k] for k in SIZE_KEYS})


def finished(out: Path, cid: str) -> bool:
    """Whether run ``cid`` has both its tables, readable (an unreadable one is set aside, and the run
    is then computed again)."""
    return all([readable_part(out / table / f"{cid}.parquet") for table in ("selections", "history")])


def cell_loop(cell: dict, data, checkpoint=None) -> ActiveLearningLoop:
    """The loop of a cell's run on its ``data`` (:func:`study_data`): its selector bootstrapped, the
    simulated oracle at its noise."""
    return ActiveLearningLoop(
        clone(cell["localizer"]), bootstrapped_selector(cell, data.knowledge),
        SimulatedOracle(data.selection.ground_truth, noise=cell["noise"]), batch_size=cell["batch_size"],
        initial_ratio=cell["initial_ratio"], evaluate_every=cell["evaluate_every"], checkpoint=checkpoint,
        run_id=cell_id(cell), random_state=cell["seed"])


def run_cell(cell: dict, out_dir: str) -> str:
    """Run one cell (resuming its checkpoint if any) and write its tables; skip it if already done."""
    prepare_worker()
    out = Path(out_dir)
    cid = cell_id(cell)
    history_path = out / "history" / f"{cid}.parquet"
    if finished(out, cid):
        return cid
    check_code(cell["code"])
    data = study_data(cell)
    loop = cell_loop(cell, data, checkpoint=out / "checkpoints" / f"{cid}.joblib")
    result = loop.run(data.selection, data.testing, progress=False)
    dump_atomic(cell, out / "cells" / f"{cid}.joblib")  # what the run inspector replays a step from
    save_parquet(result.selections, out / "selections" / f"{cid}.parquet")
    save_parquet(result.history.assign(**{k: cell[k] for k in SIZE_KEYS}), history_path)  # last: marks it done
    for checkpoint in (out / "checkpoints").glob(f"{cid}.joblib*"):  # with its .previous and set-aside copies
        checkpoint.unlink(missing_ok=True)  # another grid sharing the folder may have finished it too
    return cid


def run_grid(cells: list[dict], out_dir: str | os.PathLike, *, n_jobs: int = 1,
             scheduler: str | None = None) -> pd.DataFrame:
    """Run the cells not done yet (on ``n_jobs`` local processes, or on the Dask cluster at
    ``scheduler``) and return the history of every cell of ``cells``. Learned selectors are
    bootstrapped first, once each, so that the workers load one artefact instead of each fitting
    its own. Workers must see ``out_dir`` and the dataset folder."""
    out_dir = str(Path(out_dir).resolve())
    for folder in ("history", "selections", "checkpoints", "cells"):  # what killed writers left behind
        remove_stale_temporaries(Path(out_dir) / folder)
    todo = [c for c in cells if not finished(Path(out_dir), cell_id(c))]
    learned = [c for c in todo if issubclass(SELECTORS[base_selector_name(c["selector"])], LearnedSelector)]
    for cell in {selector_artefact(c): c for c in learned}.values():
        bootstrapped_selector(cell, study_data(cell).knowledge, n_jobs=n_jobs, scheduler=scheduler)
    if todo:
        run_each(run_cell, todo, n_jobs=n_jobs, scheduler=scheduler, desc="grid", unit="run", out_dir=out_dir)
    return read_table(Path(out_dir) / "history", names=sorted({cell_id(c) for c in cells}))
