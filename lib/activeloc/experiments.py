"""Experiments that the notebooks and the CLI run: the localizer's learning curve on random
subsets, and the grid of active-learning runs (selector x batch size x noise x seed), locally
with joblib or on a Dask cluster, each finished run written once as Parquet and never recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import joblib
from joblib import Parallel, delayed
from sklearn.base import clone
from tqdm.auto import tqdm

from .dataset import Dataset, load_dataset
from .io_utils import atomic_path, dump_atomic
from .localizer import StageWiseLocalizer
from .loop import ActiveLearningLoop
from .metrics import ACTIVITYNET_TIOU, evaluate_detections
from .oracles import SimulatedOracle
from .selectors import PerSecondSelector, make_selector, split_selector_name


def evaluate_localizer(localizer, test: Dataset, tiou_thresholds=ACTIVITYNET_TIOU) -> dict:
    """Predict on ``test`` and score: ``average_mAP``, ``mAP@0.5`` and predict seconds. Detections of
    classes absent from ``test`` (possible when it is subsampled) are dropped, as they cannot be scored."""
    start = time.perf_counter()
    detections = localizer.predict(test)
    seconds = time.perf_counter() - start
    result = evaluate_detections(test.instances, detections, tiou_thresholds, ignore_unknown_labels=True)
    at = dict(zip(np.round(result.tiou_thresholds, 2), result.mAP))
    return {"average_mAP": result.average_mAP, "mAP@0.5": at.get(0.5, np.nan), "predict_seconds": seconds}


def random_subset(video_ids, ratio: float, seed: int) -> list:
    """A random ``ratio`` of ``video_ids`` (at least one), drawn by ``seed``."""
    return list(np.random.default_rng(seed).permutation(video_ids)[: max(1, round(ratio * len(video_ids)))])


def random_subset_curve(localizer, train: Dataset, test: Dataset, ratios, seeds) -> pd.DataFrame:
    """Fit a clone of ``localizer`` on random fractions of ``train``; one row per (ratio, seed).

    Columns: ``ratio, seed, videos, average_mAP, mAP@0.5, fit_seconds, predict_seconds`` and
    ``fraction_of_full``: average mAP over the mean average mAP at the largest ratio.
    """
    rows = []
    grid = [(r, s) for r in ratios for s in seeds]
    for ratio, seed in tqdm(grid, desc="learning curve", unit="fit"):
        ids = random_subset(train.video_ids, ratio, seed)
        model = clone(localizer).set_params(random_state=seed)
        start = time.perf_counter()
        model.fit(train.subset(ids))
        fit_seconds = time.perf_counter() - start
        rows.append({"ratio": ratio, "seed": seed, "videos": len(ids), "fit_seconds": fit_seconds,
                     **evaluate_localizer(model, test)})
    curve = pd.DataFrame(rows)
    full = curve.loc[curve["ratio"] == curve["ratio"].max(), "average_mAP"].mean()
    curve["fraction_of_full"] = curve["average_mAP"] / full
    return curve


# -- the experiment grid: (selector x batch size x noise x seed) loop runs ----------------------

_LOOP_DATA: dict = {}
_SELECTORS: dict = {}


def load_loop_data(dataset_dir: str, selection_videos: int | None = None,
                   testing_videos: int | None = None) -> tuple[Dataset, Dataset, Dataset]:
    """Selection, Testing and Knowledge-Source of the dataset ``01-dataset`` wrote, optionally
    subsampled (seed 0, the same for every run; Knowledge-Source to at most ``selection_videos``),
    cached per process so that a worker builds candidates once."""
    key = (str(Path(dataset_dir).resolve()), selection_videos, testing_videos)
    if key not in _LOOP_DATA:
        data = load_dataset(dataset_dir)
        rng = np.random.default_rng(0)
        chosen = []
        for name, n in (("selection", selection_videos), ("testing", testing_videos),
                        ("knowledge_source", selection_videos)):
            ids = data.split(name).video_ids
            chosen.append(sorted(rng.choice(ids, n, replace=False)) if n and n < len(ids) else ids)
        data = Dataset(data.ground_truth, data.features, chosen[0] + chosen[1] + chosen[2], data.splits)
        _LOOP_DATA[key] = tuple(data.subset(ids) for ids in chosen)
    return _LOOP_DATA[key]


def bootstrapped_selector(cell: dict, knowledge_source: Dataset, *, n_jobs: int = 1, scheduler: str | None = None):
    """The cell's selector, fitted on ``knowledge_source`` if it learns from it.

    The fitted selector is cached per process and kept in :func:`selector_artefact`: loaded if
    that file exists, else fitted and written atomically, so that workers reuse one bootstrap. A
    cost-aware variant (``<name>-per-second``) wraps the same bootstrap as its plain selector.
    The fit's joblib work (LAL's Monte-Carlo subsets) runs on ``n_jobs`` local processes, or on the
    Dask cluster at ``scheduler``.
    """
    base, per_second = split_selector_name(cell["selector"])
    artefact = selector_artefact(cell)
    key = (id(knowledge_source), str(artefact))
    if key not in _SELECTORS:
        selector = make_selector(base, **cell["selector_params"])
        if hasattr(selector, "fit"):
            if artefact.exists():
                selector = joblib.load(artefact)
            else:
                start = time.perf_counter()
                with _parallel(n_jobs, scheduler):
                    selector.fit(knowledge_source)
                selector.bootstrap_seconds_ = time.perf_counter() - start
                dump_atomic(selector, artefact)
        _SELECTORS[key] = selector
    return PerSecondSelector(_SELECTORS[key]) if per_second else _SELECTORS[key]


@contextmanager
def _parallel(n_jobs: int, scheduler: str | None):
    """joblib's default backend within: ``n_jobs`` local processes, or every worker of a Dask cluster."""
    if scheduler:
        from dask.distributed import Client

        with Client(scheduler), joblib.parallel_config(backend="dask", n_jobs=-1):
            yield
    else:
        with joblib.parallel_config(n_jobs=n_jobs):
            yield


def selector_artefact(cell: dict) -> Path:
    """Where the cell's learned selector is kept, per dataset, Knowledge-Source sample and parameters
    (one file for a selector and its cost-aware variant)."""
    params = hashlib.sha1(json.dumps(cell["selector_params"], sort_keys=True).encode()).hexdigest()[:8]
    base = split_selector_name(cell["selector"])[0]
    return (Path(cell["dataset_dir"]) / "selectors"
            / f"{base}-{cell['dataset']}-ks{cell['selection_videos'] or 'all'}-{params}.joblib")


def make_cells(dataset_dir, selectors, batch_sizes, noises, seeds, *, selection_videos=None,
               testing_videos=None, initial_ratio: float = 0.1, selector_params: dict | None = None) -> list[dict]:
    """The grid as a list of cells, each a plain dict that fully describes one run (the dataset by
    its folder and a fingerprint of its contents, so that remaking the data invalidates old runs)."""
    fingerprint = dataset_fingerprint(dataset_dir)
    return [
        {"dataset_dir": str(dataset_dir), "dataset": fingerprint, "selection_videos": selection_videos,
         "testing_videos": testing_videos,
         "initial_ratio": initial_ratio, "selector": s, "selector_params": _params_of(s, selector_params or {}),
         "batch_size": int(b), "noise": float(n), "seed": int(r)}
        for s in selectors for b in batch_sizes for n in noises for r in seeds
    ]


def _params_of(selector: str, selector_params: dict) -> dict:
    """A selector's parameters; a cost-aware variant without its own takes its plain selector's."""
    return selector_params.get(selector, selector_params.get(split_selector_name(selector)[0], {}))


def dataset_fingerprint(dataset_dir) -> str:
    """A hash of the dataset's splits and parameters (absent files hash as empty)."""
    digest = hashlib.sha1()
    for name in ("parameters.json", "splits.csv"):
        path = Path(dataset_dir) / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:16]


def cell_id(cell: dict) -> str:
    return hashlib.sha1(json.dumps(cell, sort_keys=True).encode()).hexdigest()[:16]


def run_cell(cell: dict, out_dir: str) -> str:
    """Run one cell (resuming its checkpoint if any) and write its tables; skip it if already done."""
    out = Path(out_dir)
    cid = cell_id(cell)
    history_path = out / "history" / f"{cid}.parquet"
    if history_path.exists():
        return cid
    selection, testing, knowledge = load_loop_data(cell["dataset_dir"], cell["selection_videos"],
                                                   cell["testing_videos"])
    loop = ActiveLearningLoop(
        StageWiseLocalizer(warm_start=True),
        bootstrapped_selector(cell, knowledge),
        SimulatedOracle(selection.ground_truth, noise=cell["noise"]), batch_size=cell["batch_size"],
        initial_ratio=cell["initial_ratio"], checkpoint=out / "checkpoints" / f"{cid}.joblib",
        run_id=cid, random_state=cell["seed"],
    )
    result = loop.run(selection, testing, progress=False)
    extra = {k: cell[k] for k in ("selection_videos", "testing_videos")}
    save_parquet(result.selections, out / "selections" / f"{cid}.parquet")
    save_parquet(result.history.assign(**extra), history_path)  # written last: marks the cell done
    (out / "checkpoints" / f"{cid}.joblib").unlink(missing_ok=True)
    return cid


def run_grid(cells: list[dict], out_dir: str | os.PathLike, *, n_jobs: int = 1,
             scheduler: str | None = None) -> pd.DataFrame:
    """Run the cells not done yet (locally with joblib, or on the Dask cluster at ``scheduler``)
    and return the history of every cell of ``cells``. Workers must see ``out_dir`` and the dataset."""
    out_dir = str(Path(out_dir).resolve())
    todo = [c for c in cells if not (Path(out_dir) / "history" / f"{cell_id(c)}.parquet").exists()]
    if todo and scheduler:
        from dask.distributed import Client, progress

        with Client(scheduler) as client:
            futures = client.map(run_cell, todo, out_dir=out_dir, pure=False)
            progress(futures)
            client.gather(futures)
    elif todo:
        Parallel(n_jobs=n_jobs)(delayed(run_cell)(c, out_dir) for c in tqdm(todo, desc="grid", unit="run"))
    wanted = {cell_id(c) for c in cells}
    history = read_table(Path(out_dir) / "history")
    return history[history["run_id"].isin(wanted)].reset_index(drop=True)


def read_table(folder: str | os.PathLike) -> pd.DataFrame:
    """All the Parquet parts of a folder as one table (empty if none)."""
    parts = sorted(Path(folder).glob("*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else pd.DataFrame()


def save_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def full_data_reference(dataset_dir, seeds, *, selection_videos=None, testing_videos=None) -> pd.DataFrame:
    """Average mAP of the localizer trained on all of (the subsampled) Selection with true labels,
    one row per seed: the "full mAP" that learning curves are a fraction of."""
    selection, testing, _ = load_loop_data(str(dataset_dir), selection_videos, testing_videos)
    rows = []
    for seed in seeds:
        model = StageWiseLocalizer(random_state=seed).fit(selection)
        rows.append({"seed": seed, **evaluate_localizer(model, testing)})
    return pd.DataFrame(rows)


def attention_transfer(prior, selection: Dataset, testing: Dataset, ratios=(0.1, 1.0), seed: int = 0) -> pd.DataFrame:
    """How well a Knowledge-Source prior's attention module (MCLE's warm start) finds actions of
    the unseen Selection classes: its class-agnostic attention mAP on ``testing`` beside that of
    attention modules trained on random fractions ``ratios`` of ``selection``."""
    from .lal import attention_map

    rows = [{"model": "Knowledge-Source prior", "selection_ratio": 0.0, "attention_mAP": attention_map(prior, testing)}]
    for ratio in ratios:
        ids = random_subset(selection.video_ids, ratio, seed)
        model = StageWiseLocalizer(random_state=seed).fit_attention(selection.subset(ids))
        rows.append({"model": f"{ratio:.0%} of Selection", "selection_ratio": ratio,
                     "attention_mAP": attention_map(model, testing)})
    return pd.DataFrame(rows)


def bootstrap_report(cells: list[dict]) -> pd.DataFrame:
    """One row per learned selector of ``cells``: bootstrap seconds, artefact size and, for LAL, the
    regressor's held-out R2."""
    rows = []
    for name, cell in {split_selector_name(c["selector"])[0]: c for c in cells}.items():
        path = selector_artefact(cell)
        if path.exists():
            selector = joblib.load(path)
            rows.append({"selector": name,
                         "bootstrap_seconds": getattr(selector, "bootstrap_seconds_", np.nan),
                         "artefact_bytes": path.stat().st_size, "regressor_r2": getattr(selector, "r2_", np.nan)})
    return pd.DataFrame(rows, columns=["selector", "bootstrap_seconds", "artefact_bytes", "regressor_r2"])


def selection_study(dataset_dir, out_dir, selectors, batch_sizes, noises, seeds, *, selection_videos=None,
                    testing_videos=None, n_jobs: int = 1, scheduler: str | None = None,
                    selector_params: dict | None = None):
    """Run a grid and summarise it: returns ``(curves, per_run, full_map, bootstrap)`` where
    ``curves`` is the history with ``fraction_of_full``, ``per_run`` one row per run (AULC, ratio to
    80 %), ``full_map`` the mean average mAP of full-data training over ``seeds`` and ``bootstrap``
    the learned selectors' :func:`bootstrap_report`."""
    from .statistics import summarize_runs, with_fraction_of_full

    cells = make_cells(dataset_dir, selectors, batch_sizes, noises, seeds, selection_videos=selection_videos,
                       testing_videos=testing_videos, selector_params=selector_params)
    # Learned selectors are bootstrapped once, here, and their artefacts shared with the workers.
    knowledge = load_loop_data(str(dataset_dir), selection_videos, testing_videos)[2]
    for cell in {c["selector"]: c for c in cells}.values():
        bootstrapped_selector(cell, knowledge, n_jobs=n_jobs, scheduler=scheduler)
    history = run_grid(cells, out_dir, n_jobs=n_jobs, scheduler=scheduler)
    reference = full_data_reference(dataset_dir, seeds, selection_videos=selection_videos,
                                    testing_videos=testing_videos)
    full_map = float(reference["average_mAP"].mean())
    return (with_fraction_of_full(history, full_map), summarize_runs(history, full_map), full_map,
            bootstrap_report(cells))
