"""Studies the notebooks run: the localizer's learning curve on random subsets, the full-data
reference, the transfer of MCLE's prior, and a selection study (a grid with its summaries)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from tqdm.auto import tqdm

from ..core.timing import timed
from ..data.splits import draw_subset
from ..evaluation.curves import aggregate, paired_against, paired_differences, summarize_runs, with_fraction_of_full
from ..evaluation.detection import attention_map, evaluate_detections, evaluate_localizer
from .bootstraps import bootstrap_report
from .grid import make_cells, run_grid, study_data


def scored(localizer, testing) -> dict:
    """``average_mAP``, ``mAP@0.5`` and ``predict_seconds`` of a fitted localizer on ``testing``."""
    with timed() as elapsed:
        result = evaluate_localizer(localizer, testing)
    at = dict(zip(np.round(result.tiou_thresholds, 2), result.mAP))
    return {"average_mAP": result.average_mAP, "mAP@0.5": at.get(0.5, np.nan), "predict_seconds": elapsed.seconds}


def learning_curve(localizer, train, test, ratios, seeds) -> pd.DataFrame:
    """Fit a clone of ``localizer`` on random fractions of ``train``; one row per (ratio, seed).

    Columns: ``ratio, seed, videos, average_mAP, mAP@0.5, fit_seconds, predict_seconds,
    convergence_warnings`` and ``fraction_of_full``: average mAP over the mean average mAP at the
    largest ratio.
    """
    rows = []
    grid = [(r, s) for r in ratios for s in seeds]
    for ratio, seed in tqdm(grid, desc="learning curve", unit="fit"):
        ids = draw_subset(train.video_ids, ratio=ratio, random_state=seed)
        model = clone(localizer).set_params(random_state=seed)
        with timed() as fit:
            model.fit(train.subset(ids))
        rows.append({"ratio": ratio, "seed": seed, "videos": len(ids), "fit_seconds": fit.seconds,
                     **scored(model, test), "convergence_warnings": model.convergence_warnings_})
    curve = pd.DataFrame(rows)
    full = curve.loc[curve["ratio"] == curve["ratio"].max(), "average_mAP"].mean()
    curve["fraction_of_full"] = curve["average_mAP"] / full
    return curve


def stage_ablation(variants: dict, selection, testing, tiou_thresholds) -> pd.DataFrame:
    """Each localizer of ``variants`` (name -> unfitted localizer) fitted on all of ``selection``:
    one row per variant with ``fit_seconds``, ``average_mAP`` (ActivityNet's 0.5:0.95), mAP at each
    of ``tiou_thresholds``, ``convergence_warnings``, and ``relative_to_first``: its average mAP
    over the first variant's."""
    rows = []
    for name, localizer in tqdm(variants.items(), desc="stages", unit="fit"):
        model = clone(localizer)
        with timed() as fit:
            model.fit(selection)
        detections = model.predict(testing)
        at = evaluate_detections(testing.instances, detections, tiou_thresholds)
        rows.append({"stages": name, "fit_seconds": fit.seconds,
                     "average_mAP": evaluate_detections(testing.instances, detections).average_mAP,
                     **{f"mAP@{t:.2f}": m for t, m in zip(at.tiou_thresholds, at.mAP)},
                     "convergence_warnings": model.convergence_warnings_})
    table = pd.DataFrame(rows)
    table["relative_to_first"] = table["average_mAP"] / table["average_mAP"].iloc[0]
    return table


def full_data_reference(localizer, selection, testing, seeds) -> pd.DataFrame:
    """Average mAP of ``localizer`` (cloned) trained on all of ``selection`` with true labels, one
    row per seed: the "full mAP" that learning curves are a fraction of."""
    rows = []
    for seed in seeds:
        model = clone(localizer).set_params(random_state=seed).fit(selection)
        rows.append({"seed": seed, **scored(model, testing), "convergence_warnings": model.convergence_warnings_})
    return pd.DataFrame(rows)


def attention_transfer(prior, selection, testing, ratios=(0.1, 1.0), seed: int = 0, localizer=None) -> pd.DataFrame:
    """How well a Knowledge-Source prior's attention module (MCLE's warm start) finds actions of
    the unseen Selection classes: its class-agnostic attention mAP on ``testing`` beside that of
    attention modules (clones of ``localizer``, by default of the prior) trained on random
    fractions ``ratios`` of ``selection``."""
    template = prior if localizer is None else localizer
    rows = [{"model": "Knowledge-Source prior", "selection_ratio": 0.0, "attention_mAP": attention_map(prior, testing)}]
    for ratio in ratios:
        ids = draw_subset(selection.video_ids, ratio=ratio, random_state=seed)
        model = clone(template).set_params(random_state=seed).fit_attention(selection.subset(ids))
        rows.append({"model": f"{ratio:.0%} of Selection", "selection_ratio": ratio,
                     "attention_mAP": attention_map(model, testing)})
    return pd.DataFrame(rows)


def convergence_note(fits: pd.Series) -> str:
    """One line for a column of per-fit convergence-warning counts."""
    stopped = int((fits > 0).sum())
    return (f"{stopped} of {len(fits)} localizer fits stopped at a solver's iteration limit "
            "(scikit-learn's ConvergenceWarning, counted in the `convergence_warnings` column, not printed)")


@dataclass
class SelectionStudy:
    """What :func:`selection_study` returns.

    ``curves``: the history (one row per run and step) with ``fraction_of_full``; ``per_run``: one
    row per run (AULC, ratio to 80 %); ``full_map``: the mean average mAP of full-data training over
    the seeds; ``reference``: those fits, one row per seed; ``bootstrap``: the learned selectors'
    :func:`~activeloc.experiments.bootstraps.bootstrap_report`; ``cells``: the grid;
    ``selection_videos`` and ``testing_videos``: how many videos of Selection and Testing the runs
    used (the subsample's size, or the whole split's where none was asked for).
    """

    curves: pd.DataFrame
    per_run: pd.DataFrame
    full_map: float
    reference: pd.DataFrame
    bootstrap: pd.DataFrame
    cells: list
    selection_videos: int
    testing_videos: int

    def convergence(self) -> str:
        return convergence_note(pd.concat([self.curves["convergence_warnings"], self.reference["convergence_warnings"]]))

    def table(self, by=(), columns=("aulc", "ratio_to_80pct"), selectors=None, baseline: str = "random") -> pd.DataFrame:
        """One row per selector (of ``selectors``, default all) and ``by``: the split sizes, ``runs``,
        ``runs_never_80pct``, mean and interval of ``columns`` (:func:`~activeloc.evaluation.curves.aggregate`)
        and the differences of AULC and ratio to 80 % to ``baseline``, paired by seed within each
        group (:func:`~activeloc.evaluation.curves.paired_differences`)."""
        runs = self.per_run if selectors is None else self.per_run[self.per_run["selector"].isin(selectors)]
        by = ["selector", *by]
        paired = paired_differences(runs, by[1:], baseline=baseline, columns=["aulc", "ratio_to_80pct"])
        # "pairs" equals "runs": every run has its partner, or paired_differences refused.
        table = aggregate(runs, by, columns).merge(paired.drop(columns="pairs"), on=by, validate="one_to_one")
        sizes = {"selection_videos": self.selection_videos, "testing_videos": self.testing_videos}
        first = by + list(sizes) + ["runs", "runs_never_80pct"]
        return table.assign(**sizes)[first + [c for c in table if c not in first]]

    def against(self, partners: dict, by=(), columns=("aulc", "ratio_to_80pct")) -> pd.DataFrame:
        """Each selector of ``partners`` (name to the name it is compared with, e.g.
        ``{"uncertainty-diverse": "uncertainty"}``) minus its partner, paired by seed within each
        ``by`` group (:func:`~activeloc.evaluation.curves.paired_against`)."""
        return paired_against(self.per_run, partners.items(), by, columns)

    def pairing(self, baseline: str = "random") -> str:
        """One line: how many seeds (paired runs) the intervals rest on."""
        seeds = self.per_run.groupby(["selector", "batch_size", "noise"])["seed"].nunique()
        count = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()} to {seeds.max()}"
        return (f"95 % intervals over {count} seeds per selector and setting; differences to {baseline} pair each "
                f"run with {baseline}'s of the same seed, batch size and noise (the same initial labelled set)")


def selection_study(dataset_dir, out_dir, selectors, batch_sizes, noises, seeds, *, localizer=None,
                    selection_videos=None, testing_videos=None, knowledge_videos=None, n_jobs: int = 1,
                    scheduler: str | None = None, selector_params: dict | None = None,
                    evaluate_every: float | None = None) -> SelectionStudy:
    """Run a grid (see :func:`~activeloc.experiments.grid.make_cells`) and summarise it."""
    cells = make_cells(dataset_dir, selectors, batch_sizes, noises, seeds, localizer=localizer,
                       selection_videos=selection_videos, testing_videos=testing_videos,
                       knowledge_videos=knowledge_videos, selector_params=selector_params,
                       evaluate_every=evaluate_every)
    history = run_grid(cells, out_dir, n_jobs=n_jobs, scheduler=scheduler)
    data = study_data(cells[0])
    reference = full_data_reference(cells[0]["localizer"], data.selection, data.testing, seeds)
    full_map = float(reference["average_mAP"].mean())
    return SelectionStudy(with_fraction_of_full(history, full_map), summarize_runs(history, full_map), full_map,
                          reference, bootstrap_report(cells), cells, len(data.selection.video_ids),
                          len(data.testing.video_ids))
