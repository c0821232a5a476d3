"""Worlds: the simulator's heterogeneity knobs (:data:`~activeloc.data.simulator.WORLDS`) moved one
at a time, each world a dataset of its own.

:func:`build_world` writes one world's dataset folder (reused while its parameters are unchanged);
:func:`world_checks` measures what a world does to the data and the localizer, selector-neutral
(temporal calibration against real annotations, the localizer's full-data mAP and the fraction of
it a random 10 % reaches); :func:`worlds_study` runs the paired selector grid in every world and
returns each selector's AULC difference to the baseline, paired by seed, per (knob, level).
The default level is one world shared by every knob: it is built and run once.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..data.dataset import check_dataset_folder, load_dataset, save_dataset
from ..data.simulator import WORLD_LEVELS, WORLDS, compare_temporal, simulate_features, world_params
from ..data.splits import make_splits
from ..data.testbeds import get_testbed
from ..localization.localizer import StageWiseLocalizer
from .studies import full_data_reference, learning_curve, selection_study

DEFAULT_LEVELS = ("low", "default", "high")
WORLD_TABLE_COLUMNS = ["knob", "level", "selector", "aulc_diff_vs_random_mean", "aulc_diff_vs_random_ci_low",
                       "aulc_diff_vs_random_ci_high"]


def world_grid(knobs=None, levels=DEFAULT_LEVELS) -> list[tuple[str, str]]:
    """The ``(knob, level)`` pairs of a study, knob by knob (``knobs`` None: every knob of WORLDS; a
    single name stands for a list of one, as a notebook parameter given as text would be)."""
    knobs = list(WORLDS) if knobs is None else [knobs] if isinstance(knobs, str) else list(knobs)
    levels = [levels] if isinstance(levels, str) else list(levels)
    for knob in knobs:
        if knob not in WORLDS:
            raise ValueError(f"unknown world knob {knob!r}; known: {sorted(WORLDS)}")
    for level in levels:
        if level not in WORLD_LEVELS:
            raise ValueError(f"unknown world level {level!r}; known: {list(WORLD_LEVELS)}")
    return [(knob, level) for knob in dict.fromkeys(knobs) for level in dict.fromkeys(levels)]


def world_name(knob: str, level: str) -> str:
    """The world's folder name: ``default`` for every knob's default level, else ``<knob>-<level>``."""
    return "default" if level == "default" else f"{knob}-{level}"


def build_world(folder, knob: str, level: str, *, testbed: str = "simulated", n_videos: int = 19500,
                n_classes: int = 200, feature_dim: int = 64, random_state: int = 0,
                simulator_params: dict | None = None) -> Path:
    """Write the dataset of the world with ``knob`` at ``level`` (annotations of ``testbed``, simulated
    features, the paper's splits) to ``folder``, unless it already holds one with the same
    parameters; returns the folder. ``simulator_params``: other :func:`simulate_features` parameters
    (e.g. ``class_signal``), never a world knob's."""
    simulator_params = dict(simulator_params or {})
    world = world_params(knob, level)
    if clash := sorted(set(simulator_params) & set(world)):
        raise ValueError(f"simulator_params sets the world knobs' parameters {clash}; choose the world by knob and level")
    # Every simulator parameter, defaults included, so that a world built under other defaults is built again.
    defaults = {name: p.default for name, p in inspect.signature(simulate_features).parameters.items()
                if p.default is not inspect.Parameter.empty and name != "random_state"}
    feature_params = {**defaults, "feature_dim": feature_dim, **simulator_params, **world}
    parameters = {"testbed": testbed, "n_videos": n_videos, "n_classes": n_classes, "random_state": random_state,
                  "world": {"knob": knob, "level": level}, **feature_params}
    folder = Path(folder)
    written = folder / "parameters.json"
    if written.is_file() and json.loads(written.read_text()) == json.loads(json.dumps(parameters)):
        try:
            return check_dataset_folder(folder)
        except FileNotFoundError:
            pass  # parameters.json is written last: an incomplete folder is built again
    gt, features, _ = get_testbed(testbed).build(n_videos=n_videos, n_classes=n_classes, random_state=random_state,
                                                 **feature_params)
    return save_dataset(folder, gt, features, make_splits(gt, random_state=random_state), parameters)


def world_checks(folders: dict, *, real=None, seeds=(0, 1, 2)) -> pd.DataFrame:
    """Selector-neutral measures of each world (``folders``: ``(knob, level) -> dataset folder``), one
    row per pair: ``ks_<attribute>`` (Kolmogorov-Smirnov distance of the annotations' temporal
    statistics to ``real``, when given), the localizer's ``average_mAP`` and ``mAP@0.5`` on Testing
    trained on all of Selection, and ``fraction_of_full_at_10pct``: the mean average mAP of localizers
    trained on random 10 % subsets (one per seed of ``seeds``) over the full one's (the bands of
    :mod:`activeloc.data.simulator`). A world shared by several pairs is measured once."""
    measured = {}
    for folder in dict.fromkeys(str(f) for f in folders.values()):
        data = load_dataset(folder)
        row = {}
        if real is not None:
            ks = compare_temporal(data.ground_truth, real)
            row.update({f"ks_{a}": k for a, k in zip(ks["attribute"], ks["ks"])})
        selection, testing = data.split("selection"), data.split("testing")
        full = full_data_reference(StageWiseLocalizer(), selection, testing, seeds[:1])  # the exact stages: no seed
        tenth = learning_curve(StageWiseLocalizer(), selection, testing, [0.1], seeds)
        row.update({"average_mAP": full["average_mAP"].mean(), "mAP@0.5": full["mAP@0.5"].mean(),
                    "fraction_of_full_at_10pct": tenth["average_mAP"].mean() / full["average_mAP"].mean()})
        measured[folder] = row
    return pd.DataFrame([{"knob": knob, "level": level, **measured[str(f)]} for (knob, level), f in folders.items()])


@dataclass
class WorldsStudy:
    """What :func:`worlds_study` returns: ``table`` (one row per knob, level and selector: the columns
    of :data:`WORLD_TABLE_COLUMNS`, then the world, the runs, the AULC and the ratio to 80 % differences),
    ``per_run`` (one row per run, with its knob and level; the default world's runs under every
    knob), ``references`` (per world, the full-data average mAP the curves are fractions of) and
    ``folders`` (``(knob, level) -> dataset folder``)."""

    table: pd.DataFrame
    per_run: pd.DataFrame
    references: pd.DataFrame
    folders: dict


def worlds_study(out_dir, selectors, seeds, *, knobs=None, levels=DEFAULT_LEVELS, testbed: str = "simulated",
                 n_videos: int = 19500, n_classes: int = 200, feature_dim: int = 64, random_state: int = 0,
                 simulator_params: dict | None = None, batch_size: int = 64, selection_videos=None,
                 testing_videos=None, knowledge_videos=None, n_jobs: int = 1, scheduler: str | None = None,
                 selector_params: dict | None = None, evaluate_every: float | None = None) -> WorldsStudy:
    """Every world of :func:`world_grid` (``knobs`` x ``levels``): its dataset in
    ``out_dir/<world>/dataset`` (:func:`build_world`), then the grid of ``selectors`` x ``seeds`` at
    ``batch_size`` with a noiseless oracle in ``out_dir/<world>/runs``
    (:func:`~activeloc.experiments.studies.selection_study`; finished runs are read back), summarised as
    each selector's AULC minus Random's, paired by seed, with its 95 % Student-t interval."""
    if "random" not in selectors:
        raise ValueError(f"the selectors {list(selectors)} must include 'random', the baseline every difference is to")
    pairs = world_grid(knobs, levels)
    out_dir = Path(out_dir)
    build = {"testbed": testbed, "n_videos": n_videos, "n_classes": n_classes, "feature_dim": feature_dim,
             "random_state": random_state, "simulator_params": simulator_params}
    folders, studies = {}, {}
    for knob, level in pairs:
        name = world_name(knob, level)
        folders[knob, level] = build_world(out_dir / name / "dataset", knob, level, **build)
        if name not in studies:
            studies[name] = selection_study(
                folders[knob, level], out_dir / name / "runs", selectors, [batch_size], [0.0], seeds,
                selection_videos=selection_videos, testing_videos=testing_videos, knowledge_videos=knowledge_videos,
                n_jobs=n_jobs, scheduler=scheduler, selector_params=selector_params, evaluate_every=evaluate_every)
    tables, runs, references = [], [], []
    for knob, level in pairs:
        study = studies[world_name(knob, level)]
        where = {"knob": knob, "level": level, "world": world_name(knob, level)}
        tables.append(study.table(columns=["aulc"]).assign(**where))
        runs.append(study.per_run.assign(**where))
        references.append({**where, "full_average_mAP": study.full_map,
                           "full_mAP@0.5": float(study.reference["mAP@0.5"].mean())})
    table = pd.concat(tables, ignore_index=True)
    first = WORLD_TABLE_COLUMNS + ["world", "runs"]
    table = table[first + [c for c in table if c not in first]]
    return WorldsStudy(table, pd.concat(runs, ignore_index=True), pd.DataFrame(references), folders)
