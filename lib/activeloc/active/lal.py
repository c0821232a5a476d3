"""Learning Active Learning (after Konyushkova et al., 2017, as the paper adapts it, 3.2).

A regressor predicts, from a (model state, video) pair, how much adding that video to the labelled
set would improve the attention module's mAP. It is trained once, on the Knowledge-Source split
only, by a Monte-Carlo procedure:

1. hold out a part of Knowledge-Source for evaluation (``eval_fraction``);
2. draw labelled subsets of varying size from the rest (``subset_sizes``): at random
   (``variant="independent"``), or grown step by step with the videos a first regressor prefers
   (``variant="iterative"``, the original's second variant);
3. for each subset, train the attention module, describe the pair (state, video) for a few
   probe videos (the next ones of the subset's random order), retrain with each probe added, and
   record the change in the attention module's class-agnostic average mAP (tIoU 0.5:0.95) on the
   held-out videos: the target.

Every fit is a clone of one localizer template (``localizer``), the one the loop uses when the
experiment grid runs the bootstrap.

Features. Model state: the norm of the SVM weights, their bias, Platt's two parameters, the
weights projected on 8 fixed random directions (seed 0), log of the labelled-set size, the
fraction of positive candidates, and the mean and spread of the pool's attention scores. Video:
the 10-bin histogram of its candidates' attention scores (the paper's X), their mean and spread.
"""

from __future__ import annotations

import os

import joblib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.inspection import permutation_importance
from sklearn.model_selection import GridSearchCV, GroupKFold, GroupShuffleSplit, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..core.errors import InputError
from ..core.io import dump_atomic
from ..core.workers import prepare_worker
from ..data.dataset import Dataset
from ..data.splits import draw_subset
from ..evaluation.detection import attention_map
from ..localization.encoding import candidate_matrix
from ..localization.localizer import StageWiseLocalizer
from .base import LearnedSelector
from .histograms import video_histograms, video_means

N_PROJECTIONS = 8
BINS = 10
STATE_FEATURES = ["weight_norm", "bias", "platt_slope", "platt_intercept",
                  *[f"weight_projection_{i}" for i in range(N_PROJECTIONS)],
                  "log_labelled_videos", "positive_fraction", "pool_score_mean", "pool_score_std"]
VIDEO_FEATURES = [*[f"score_histogram_{i}" for i in range(BINS)], "score_mean", "score_std"]
FEATURE_NAMES = STATE_FEATURES + VIDEO_FEATURES  # the columns of pair_features


class TooFewVideos(InputError, ValueError):
    """Knowledge-Source is too small for the Monte-Carlo subsets asked for."""


def pair_features(localizer: StageWiseLocalizer, pool) -> np.ndarray:
    """One row per pool video: the model-state features, then the video's features."""
    state = localizer.state()
    scores = localizer.attention_scores(pool)
    everything = np.concatenate(list(scores.values())) if scores else np.zeros(1)
    coef = state["coef"].astype(float)
    projections = np.random.default_rng(0).standard_normal((N_PROJECTIONS, len(coef))) / np.sqrt(len(coef))
    state_row = [np.linalg.norm(coef), state["intercept"], *state["platt"], *(projections @ coef),
                 np.log1p(state["n_training_videos"]), state["positive_fraction"], everything.mean(), everything.std()]
    mean = video_means(scores, pool.video_ids)
    spread = np.column_stack([mean, np.sqrt(np.maximum(video_means(scores, pool.video_ids, square=True) - mean**2, 0))])
    videos = np.hstack([video_histograms(scores, pool.video_ids, BINS), spread])
    return np.hstack([np.tile(state_row, (len(videos), 1)), videos])


def _one_subset(knowledge, labelled, probes, evaluation, template, seed, subset):
    """Features and mAP gains of ``probes`` added one at a time to ``labelled`` (every fit seeded ``seed``)."""
    prepare_worker()
    def fitted(ids):
        return clone(template).set_params(random_state=seed).fit_attention(knowledge.subset(ids))

    base = fitted(labelled)
    base_map = attention_map(base, evaluation)
    features = pair_features(base, knowledge.subset(probes).without_labels())
    gains = [attention_map(fitted(list(labelled) + [vid]), evaluation) - base_map for vid in probes]
    return pd.DataFrame(features, columns=FEATURE_NAMES).assign(target=gains, labelled=len(labelled),
                                                              video_id=list(probes), subset=subset)


def _knowledge_and_subsets(knowledge, n_subsets, subset_sizes, probes_per_subset, eval_fraction, template, rng):
    """Knowledge-Source on its own, its held-out evaluation videos, and per subset a size and a
    random order of the rest (the subset is its first ``size`` videos, the probes the next)."""
    # Its candidates are encoded once, here, for its videos alone, so that parallel workers receive
    # them ready and no larger than Knowledge-Source.
    knowledge = Dataset(knowledge.ground_truth, knowledge.features, knowledge.video_ids, knowledge.splits)
    candidate_matrix(knowledge, template.proposals, template.encoder)
    ids = draw_subset(knowledge.video_ids, random_state=rng)
    n_eval = max(1, int(eval_fraction * len(ids)))
    evaluation, rest = knowledge.subset(ids[:n_eval]), ids[n_eval:]
    lo, hi = subset_sizes[0], min(subset_sizes[1], len(rest) - probes_per_subset)
    if hi < lo:
        raise TooFewVideos(f"Knowledge-Source has {len(knowledge.video_ids)} videos: too few for subsets of "
                           f"{subset_sizes[0]} with {probes_per_subset} probes after holding out {eval_fraction:.0%}")
    draws = [(int(rng.randint(lo, hi + 1)), draw_subset(rest, random_state=rng)) for _ in range(n_subsets)]
    return knowledge, evaluation, draws


def monte_carlo(knowledge, *, n_subsets: int = 40, subset_sizes=(20, 200), probes_per_subset: int = 8,
                eval_fraction: float = 0.3, localizer=None, grow_with=None,
                random_state=0, n_jobs: int | None = None) -> pd.DataFrame:
    """The Monte-Carlo training data: one row per (subset, probe), features then ``target``,
    ``labelled`` (the subset's size), ``video_id`` (the probe) and ``subset`` (its number).

    ``localizer``: the template every fit clones (None: the default localizer). The subsets run in
    parallel with joblib (``n_jobs``; None: the active ``joblib.parallel_config``, which may be a
    Dask cluster's). Each subset has its own seed, so the result does not depend on where it ran.

    ``grow_with``: a fitted regressor; subsets are then grown from a random start by adding, in
    batches of ``probes_per_subset``, the videos it rates highest (the iterative variant).
    """
    template = StageWiseLocalizer() if localizer is None else localizer
    knowledge, evaluation, draws = _knowledge_and_subsets(
        knowledge, n_subsets, subset_sizes, probes_per_subset, eval_fraction, template,
        check_random_state(random_state))
    jobs = []
    for i, (size, order) in enumerate(draws):
        if grow_with is not None:
            order = _grown(knowledge, order, size, grow_with, probes_per_subset, template, i)
        jobs.append((order[:size], order[size:size + probes_per_subset], i))
    frames = Parallel(n_jobs=n_jobs)(
        delayed(_one_subset)(knowledge, labelled, probes, evaluation, template, i, i) for labelled, probes, i in jobs)
    return pd.concat(frames, ignore_index=True)


def target_repeatability(knowledge, *, n_subsets: int = 4, subset_sizes=(20, 200), probes_per_subset: int = 6,
                         seeds=(0, 1, 2), eval_fraction: float = 0.3, localizer=None,
                         random_state=0, n_jobs: int | None = None) -> pd.DataFrame:
    """The same Monte-Carlo targets (same subsets, same probes) under several refit seeds:
    one row per (subset, probe, seed) with its ``target``. If a target were the video's own,
    it would not depend on the seed; see :func:`repeatability_summary`."""
    template = StageWiseLocalizer() if localizer is None else localizer
    knowledge, evaluation, draws = _knowledge_and_subsets(
        knowledge, n_subsets, subset_sizes, probes_per_subset, eval_fraction, template,
        check_random_state(random_state))
    jobs = [(i, size, order, seed) for i, (size, order) in enumerate(draws) for seed in seeds]
    frames = Parallel(n_jobs=n_jobs)(
        delayed(_one_subset)(knowledge, order[:size], order[size:size + probes_per_subset], evaluation,
                             template, seed, i) for i, size, order, seed in jobs)
    return pd.concat([frame.assign(seed=job[3]) for frame, job in zip(frames, jobs)], ignore_index=True)[
        ["subset", "labelled", "video_id", "seed", "target"]]


def repeatability_summary(targets: pd.DataFrame) -> pd.DataFrame:
    """One row: how much of a target's spread among a subset's probes is the video's.

    ``between_std``: spread of the probes' seed-averaged gains around their subset's mean;
    ``within_std``: spread of one probe's gain across refit seeds; ``icc``: the one-way
    intra-class correlation ICC(1) of gains within probes (1: the gain is the video's; 0: it
    is the refit's randomness), computed on gains centred per subset and seed.
    """
    centred = targets.assign(target=targets["target"]
                             - targets.groupby(["subset", "seed"])["target"].transform("mean"))
    per_probe = centred.groupby(["subset", "video_id"])["target"]
    k = targets["seed"].nunique()
    means, variances = per_probe.mean(), per_probe.var(ddof=1)
    between, within = k * means.var(ddof=1), variances.mean()
    return pd.DataFrame([{"probes": len(means), "seeds": k, "between_std": float(means.std(ddof=1)),
                          "within_std": float(np.sqrt(within)),
                          "icc": float((between - within) / (between + (k - 1) * within))}])


def _grown(knowledge, order, size, regressor, step, template, seed):
    """Reorder ``order`` so that its first ``size`` videos are a random start grown by ``regressor``'s picks."""
    labelled, rest = order[:step], order[step:]
    while len(labelled) < size and rest:
        model = clone(template).set_params(random_state=seed).fit_attention(knowledge.subset(labelled))
        gain = regressor.predict(pair_features(model, knowledge.subset(rest).without_labels()))
        best = set(np.asarray(rest, dtype=object)[np.argsort(-gain)[:step]])
        labelled = labelled + [v for v in rest if v in best]
        rest = [v for v in rest if v not in best]
    return labelled + rest


def _xy(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return data[FEATURE_NAMES].to_numpy(), data["target"].to_numpy()


def fit_regressor(data: pd.DataFrame, kind: str = "svr", random_state=0):
    """Regressor (hyper-parameters by 3-fold cross-validation) and its R2 on a held-out fifth of the subsets.

    Folds and the held-out part are split by subset: the probes of one subset share its model
    state, so a random split would let the regressor recognise the state instead of predicting the gain.
    """
    x, y = _xy(data)
    groups = data["subset"].to_numpy()
    train, test = next(GroupShuffleSplit(1, test_size=0.2, random_state=random_state).split(x, y, groups))
    if kind == "svr":
        model = GridSearchCV(make_pipeline(StandardScaler(), SVR()),
                             {"svr__C": [0.1, 1.0, 10.0], "svr__epsilon": [0.001, 0.01]}, cv=GroupKFold(3))
    elif kind == "forest":
        model = GridSearchCV(RandomForestRegressor(n_estimators=200, random_state=random_state),
                             {"min_samples_leaf": [1, 5, 20]}, cv=GroupKFold(3))
    else:
        raise ValueError(f"unknown regressor {kind!r}: 'svr' or 'forest'")
    model.fit(x[train], y[train], groups=groups[train])
    r2 = float(model.score(x[test], y[test]))
    return model.best_estimator_.fit(x, y), r2, model.best_params_


# -- what the bootstrap learned (notebook 03b) ----------------------------------------------------

def monte_carlo_summary(data: pd.DataFrame, bins: int = 5) -> pd.DataFrame:
    """The Monte-Carlo targets by labelled-set size (``bins`` equal-count bins): samples, mean
    gain, its spread and the share of probes that improved the attention module."""
    size = pd.qcut(data["labelled"], q=bins, duplicates="drop")
    grouped = data.groupby(size, observed=True)["target"]
    return pd.DataFrame({"samples": grouped.size(), "mean_gain": grouped.mean(), "std_gain": grouped.std(),
                         "share_positive": grouped.apply(lambda t: float((t > 0).mean()))}).reset_index(
        names="labelled_videos").assign(labelled_videos=lambda d: d["labelled_videos"].astype(str))


def regressor_comparison(data: pd.DataFrame, kinds=("svr", "forest"), random_state=0) -> pd.DataFrame:
    """Per kind of regressor, on the same Monte-Carlo data: R2 on held-out subsets, the mean
    Spearman correlation of predicted and true gains among each subset's probes (what ranking
    a pool needs, by 5-fold cross-validation over subsets) and the chosen hyper-parameters."""
    rows = []
    for kind in kinds:
        model, r2, params = fit_regressor(data, kind, random_state)
        ranking = within_subset_ranking(cross_validated_predictions(data, model))
        rows.append({"regressor": kind, "held_out_r2": r2, "within_subset_spearman": ranking,
                     "best_params": str(params)})
    return pd.DataFrame(rows)


def cross_validated_predictions(data: pd.DataFrame, model, folds: int = 5) -> pd.DataFrame:
    """Each Monte-Carlo sample's target beside the prediction of ``model`` refitted without its
    subset's fold (folds by subset, as in :func:`fit_regressor`; fewer when there are fewer subsets)."""
    x, y = _xy(data)
    groups = data["subset"].to_numpy()
    cv = GroupKFold(min(folds, len(np.unique(groups))))
    predicted = cross_val_predict(clone(model), x, y, groups=groups, cv=cv)
    return pd.DataFrame({"target": y, "predicted": predicted, "labelled": data["labelled"].to_numpy(),
                         "subset": data["subset"].to_numpy()})


def within_subset_ranking(predictions: pd.DataFrame) -> float:
    """Mean over subsets of the Spearman correlation between predicted and true gains of its
    probes: how well the regressor orders videos for one model state, which is all a selection uses."""
    per_subset = [spearmanr(part["predicted"], part["target"]).statistic
                  for _, part in predictions.groupby("subset") if part["target"].nunique() > 1]
    return float(np.nanmean(per_subset)) if per_subset else np.nan


def feature_importances(data: pd.DataFrame, model, n_repeats: int = 10, random_state=0) -> pd.DataFrame:
    """Permutation importance of each feature: the drop in R2 on held-out subsets (a fifth) when
    that feature is shuffled, for ``model`` refitted on the other subsets. One row per feature,
    with its ``group`` (model state or video), most important first."""
    x, y = _xy(data)
    train, test = next(GroupShuffleSplit(1, test_size=0.2, random_state=random_state)
                       .split(x, y, data["subset"].to_numpy()))
    fitted = clone(model).fit(x[train], y[train])
    result = permutation_importance(fitted, x[test], y[test], n_repeats=n_repeats, random_state=random_state)
    return pd.DataFrame({"feature": FEATURE_NAMES,
                         "group": ["model state"] * len(STATE_FEATURES) + ["video"] * len(VIDEO_FEATURES),
                         "importance_mean": result.importances_mean, "importance_std": result.importances_std,
                         }).sort_values("importance_mean", ascending=False, ignore_index=True)


class LALSelector(LearnedSelector):
    """Ranks pool videos by the predicted gain in attention mAP; batch mode takes the top B (the paper's rule).

    ``fit(knowledge_source)`` runs the Monte-Carlo procedure (see the module docstring) with clones
    of ``localizer`` and fits the regressor, keeping ``training_data_``, ``r2_`` (on held-out
    subsets) and ``best_params_``; ``save``/``load`` keep that bootstrap as a file. ``n_jobs``:
    joblib processes for the subsets (None: the active ``joblib.parallel_config``, e.g. a Dask
    cluster's).
    """

    name = "lal"

    def __init__(self, localizer=None, regressor: str = "svr", variant: str = "independent", n_subsets: int = 40,
                 subset_sizes=(20, 200), probes_per_subset: int = 8, random_state=0, n_jobs: int | None = None):
        self.localizer = localizer
        self.regressor = regressor
        self.variant = variant
        self.n_subsets = n_subsets
        self.subset_sizes = subset_sizes
        self.probes_per_subset = probes_per_subset
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, knowledge_source) -> LALSelector:
        if self.variant not in ("independent", "iterative"):
            raise ValueError(f"variant must be 'independent' or 'iterative', got {self.variant!r}")
        rng = check_random_state(self.random_state)
        settings = dict(n_subsets=self.n_subsets, subset_sizes=tuple(self.subset_sizes), localizer=self.localizer,
                        probes_per_subset=self.probes_per_subset, n_jobs=self.n_jobs)
        data = monte_carlo(knowledge_source, random_state=rng.randint(2**31 - 1), **settings)
        regressor_seed = rng.randint(2**31 - 1)
        model, r2, params = fit_regressor(data, self.regressor, regressor_seed)
        if self.variant == "iterative":
            grown = monte_carlo(knowledge_source, grow_with=model, random_state=rng.randint(2**31 - 1), **settings)
            grown["subset"] += self.n_subsets
            data = pd.concat([data, grown], ignore_index=True)
            model, r2, params = fit_regressor(data, self.regressor, regressor_seed)
        self.model_, self.r2_, self.best_params_, self.training_data_ = model, r2, params, data
        return self

    def utilities(self, localizer, labelled, pool, random_state=None) -> np.ndarray:
        check_is_fitted(self, "model_", msg="LALSelector has no regressor: call fit(knowledge_source) or load() first")
        if not pool.video_ids:
            return np.zeros(0)
        return self.model_.predict(pair_features(localizer, pool))

    def save(self, path: str | os.PathLike) -> int:
        """Write the bootstrap atomically; returns its size in bytes."""
        return dump_atomic(self, path)

    @staticmethod
    def load(path: str | os.PathLike) -> LALSelector:
        return joblib.load(path)
