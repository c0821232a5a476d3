"""Learning Active Learning (after Konyushkova et al., 2017, as the paper adapts it, 3.2).

A regressor predicts, from a (model state, video) pair, how much adding that video to the labelled
set would improve the attention module's mAP. It is trained once, on the Knowledge-Source split
only, by a Monte-Carlo procedure whose model states are built the way the loop builds its own:

1. hold out a part of Knowledge-Source for evaluation (``eval_fraction``); the rest is the
   Knowledge-Source pool (``pool_videos`` of it, or all);
2. draw ``n_states`` model states: each labels a random ratio of the pool (``labelled_ratios``,
   stratified over 10 % to 100 % by default, as the loop goes from its initial 10 % to the whole
   pool), the rest of the pool being its unlabelled pool. Its model is a clone of the localizer
   template (``localizer``, the one the loop uses when the experiment grid runs the bootstrap)
   fitted on the labelled part, and its features are read by :func:`pair_features` over its whole
   unlabelled pool: the very function a selection calls, so the pool statistics are those a
   selection sees;
3. for ``probes_per_state`` videos drawn from that pool, refit the state's model with the video
   added (a copy of the state's model refitted on the larger set: the loop's warm refit) and record
   the change in the attention module's class-agnostic average mAP (tIoU 0.5:0.95) on the
   held-out videos: the video's ``gain``.

Targets. A gain is deterministic (with the exact stages a fit is a function of its labelled set;
with the paper's stages every fit of a state has that state's seed), so a state and a video give
the same gain bit for bit. Gains are not comparable across states: their scale shrinks as the
labelled set grows and their mean is a property of the state. The regressor's target is therefore
the gain's **rank within its state**, as a centred fraction in (-0.5, 0.5) (``target="rank"``,
the default): a selection only orders the videos of one pool, so the within-state order is all a
target has to carry, and ranks are unmoved by the heavy tails of one-video gains, which would
dominate a z-score. ``target="zscore"`` (the gain standardised within its state) is the option
that keeps magnitudes.

Features. Model state: the norm of the attention weights, their bias, the two calibration
parameters, the weights projected on 8 fixed random directions (seed 0), the labelled ratio
(labelled / (labelled + pool), which reads the same on a pool of any size), the fraction of
positive candidates, and the mean and spread of the pool's attention scores. Video: the 10-bin
histogram of its candidates' attention scores (the paper's X), their mean and spread, and the log
of its number of candidates (the histogram is normalised, and a longer video weighs more in a fit).

Regressor: SVR with an RBF kernel (the paper's), features and targets standardised, C and epsilon
by 3-fold cross-validation grouped by state; ``regressor="forest"``: a random forest. Its quality
is measured on a fifth of the states held out (never seen by the fit or the cross-validation):
``within_state_spearman_`` (the mean over states of the Spearman correlation between predicted and
true gain: what ranking a pool needs), ``r2_`` (on the targets) and ``feature_importances_``
(permutation importance, drop in R2).
"""

from __future__ import annotations

import copy
import os

import joblib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import rankdata, spearmanr
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.inspection import permutation_importance
from sklearn.metrics import r2_score
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
                  "labelled_ratio", "positive_fraction", "pool_score_mean", "pool_score_std"]
VIDEO_FEATURES = [*[f"score_histogram_{i}" for i in range(BINS)], "score_mean", "score_std", "log_candidates"]
FEATURE_NAMES = STATE_FEATURES + VIDEO_FEATURES  # the columns of pair_features
TARGETS = ("rank", "zscore")
REGRESSORS = ("svr", "forest")
JOBS = 20  # parallel tasks the Monte-Carlo states are dealt into


class TooFewVideos(InputError, ValueError):
    """Knowledge-Source is too small for the Monte-Carlo states asked for."""


def pair_features(localizer: StageWiseLocalizer, pool) -> np.ndarray:
    """One row per pool video: the model-state features, then the video's features."""
    state = localizer.state()
    scores = localizer.attention_scores(pool)
    everything = np.concatenate(list(scores.values())) if scores else np.zeros(1)
    coef = state["coef"].astype(float)
    projections = np.random.default_rng(0).standard_normal((N_PROJECTIONS, len(coef))) / np.sqrt(len(coef))
    labelled = state["n_training_videos"]
    state_row = [np.linalg.norm(coef), state["intercept"], *state["platt"], *(projections @ coef),
                 labelled / (labelled + len(pool.video_ids)), state["positive_fraction"],
                 everything.mean(), everything.std()]
    mean = video_means(scores, pool.video_ids)
    spread = np.sqrt(np.maximum(video_means(scores, pool.video_ids, square=True) - mean**2, 0))
    candidates = np.log([max(len(scores[v]), 1) for v in pool.video_ids])
    videos = np.column_stack([video_histograms(scores, pool.video_ids, BINS), mean, spread, candidates])
    return np.hstack([np.tile(state_row, (len(videos), 1)), videos])


def state_targets(gains, states, how: str = "rank") -> np.ndarray:
    """Gains made comparable across states (see the module docstring): ``"rank"``, each gain's
    rank among its state's (ties averaged) as ``rank / n - 0.5`` with ranks from 0.5 to n - 0.5;
    ``"zscore"``, the gain standardised within its state (0 where a state's gains are all equal)."""
    if how not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {how!r}")
    frame = pd.DataFrame({"gain": np.asarray(gains, dtype=float), "state": np.asarray(states)})
    grouped = frame.groupby("state")["gain"]
    if how == "rank":
        ranks = grouped.transform(lambda g: (rankdata(g) - 0.5) / len(g) - 0.5)
        return ranks.to_numpy(dtype=float)
    spread = grouped.transform("std").fillna(0).to_numpy()
    centred = (frame["gain"] - grouped.transform("mean")).to_numpy()
    return np.divide(centred, spread, out=np.zeros(len(frame)), where=spread > 0)


def _one_state(knowledge, labelled, pool, probes, evaluation, template, seed, state):
    """Features and mAP gains of ``probes`` (videos of ``pool``) added one at a time to ``labelled``."""
    prepare_worker()
    base = clone(template).set_params(random_state=seed).fit_attention(knowledge.subset(labelled))
    base_map = attention_map(base, evaluation)
    features = pair_features(base, knowledge.subset(pool).without_labels())
    rows = pd.Index(pool).get_indexer(probes)
    gains = [attention_map(copy.deepcopy(base).fit_attention(knowledge.subset(list(labelled) + [vid])), evaluation)
             - base_map for vid in probes]
    return pd.DataFrame(features[rows], columns=FEATURE_NAMES).assign(
        gain=gains, labelled=len(labelled), video_id=list(probes), state=state)


def _some_states(knowledge, states, jobs, evaluation, template):
    """:func:`_one_state` for each ``(state number, seed)`` of ``jobs``."""
    return [_one_state(knowledge, *states[i], evaluation, template, seed, i) for i, seed in jobs]


def _states(knowledge, n_states, labelled_ratios, probes_per_state, eval_fraction, pool_videos, template, rng):
    """Knowledge-Source on its own, its held-out evaluation videos, and per state its labelled
    videos, its unlabelled pool and its probes (a random sample of that pool)."""
    # Its candidates are encoded once, here, for its videos alone, so that parallel workers receive
    # them ready and no larger than Knowledge-Source.
    knowledge = Dataset(knowledge.ground_truth, knowledge.features, knowledge.video_ids, knowledge.splits)
    candidate_matrix(knowledge, template.proposals, template.encoder)
    ids = draw_subset(knowledge.video_ids, random_state=rng)
    n_eval = max(1, int(eval_fraction * len(ids)))
    evaluation, rest = knowledge.subset(ids[:n_eval]), ids[n_eval:]
    pool = rest[:pool_videos] if pool_videos else rest
    lo, hi = labelled_ratios
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"labelled_ratios must satisfy 0 < low <= high <= 1, got {tuple(labelled_ratios)}")
    if len(pool) < probes_per_state + 2:
        raise TooFewVideos(f"Knowledge-Source has {len(knowledge.video_ids)} videos: too few for states with "
                           f"{probes_per_state} probes after holding out {eval_fraction:.0%}")
    states = []
    for i in range(n_states):
        ratio = lo + (hi - lo) * (i + rng.uniform()) / n_states  # stratified over the range
        size = int(np.clip(round(ratio * len(pool)), 1, len(pool) - probes_per_state))
        order = draw_subset(pool, random_state=rng)
        unlabelled = order[size:]
        probes = draw_subset(unlabelled, probes_per_state, random_state=rng)
        states.append((order[:size], unlabelled, probes))
    return knowledge, evaluation, states


def monte_carlo(knowledge, *, n_states: int = 200, labelled_ratios=(0.1, 1.0), probes_per_state: int = 25,
                eval_fraction: float = 0.3, pool_videos: int | None = None, target: str = "rank",
                localizer=None, random_state=0, n_jobs: int | None = None, seeds=None) -> pd.DataFrame:
    """The Monte-Carlo training data: one row per (state, probe), features then ``gain``, ``target``
    (the gain made comparable across states, see :func:`state_targets`), ``labelled`` (the state's
    labelled videos), ``video_id`` (the probe) and ``state`` (its number).

    ``localizer``: the template every fit clones (None: the default localizer). The states run in
    parallel with joblib (``n_jobs``; None: the active ``joblib.parallel_config``, which may be a
    Dask cluster's). Each state's fits have its own seed (its number), so the result does not depend
    on where it ran. ``seeds``: refit seeds; every state is then computed once per seed, with a
    ``seed`` column (what :func:`target_repeatability` compares).
    """
    state_targets([], [], target)  # an unknown target fails before any fit
    template = StageWiseLocalizer() if localizer is None else localizer
    knowledge, evaluation, states = _states(knowledge, n_states, labelled_ratios, probes_per_state, eval_fraction,
                                            pool_videos, template, check_random_state(random_state))
    jobs = [(i, seed) for i in range(len(states)) for seed in ([i] if seeds is None else seeds)]
    # In at most JOBS tasks: each carries Knowledge-Source's candidates to its worker.
    chunks = [jobs[start::JOBS] for start in range(min(JOBS, len(jobs)))]
    done = Parallel(n_jobs=n_jobs)(delayed(_some_states)(knowledge, states, chunk, evaluation, template)
                                   for chunk in chunks)
    frames = dict(zip((job for chunk in chunks for job in chunk), (frame for part in done for frame in part)))
    frames = [frames[job] if seeds is None else frames[job].assign(seed=job[1]) for job in jobs]
    data = pd.concat(frames, ignore_index=True)
    keys = data["state"] if seeds is None else data["state"].astype(str) + "/" + data["seed"].astype(str)
    return data.assign(target=state_targets(data["gain"], keys, target))


def target_repeatability(knowledge, *, n_states: int = 4, probes_per_state: int = 6, seeds=(0, 1, 2),
                         labelled_ratios=(0.1, 1.0), eval_fraction: float = 0.3, localizer=None,
                         random_state=0, n_jobs: int | None = None) -> pd.DataFrame:
    """The same Monte-Carlo gains (same states, same probes) under several refit seeds: one row
    per (state, probe, seed) with its ``target`` (the raw gain). If a gain were the video's own,
    it would not depend on the seed (with the exact stages it does not); see :func:`repeatability_summary`."""
    data = monte_carlo(knowledge, n_states=n_states, probes_per_state=probes_per_state, seeds=seeds,
                       labelled_ratios=labelled_ratios, eval_fraction=eval_fraction, localizer=localizer,
                       random_state=random_state, n_jobs=n_jobs)
    return data.assign(target=data["gain"])[["state", "labelled", "video_id", "seed", "target"]]


def repeatability_summary(targets: pd.DataFrame) -> pd.DataFrame:
    """One row: how much of a target's spread among a state's probes is the video's.

    ``between_std``: spread of the probes' seed-averaged gains around their state's mean;
    ``within_std``: spread of one probe's gain across refit seeds; ``icc``: the one-way
    intra-class correlation ICC(1) of gains within probes (1: the gain is the video's; 0: it
    is the refit's randomness), computed on gains centred per state and seed.
    """
    centred = targets.assign(target=targets["target"]
                             - targets.groupby(["state", "seed"])["target"].transform("mean"))
    per_probe = centred.groupby(["state", "video_id"])["target"]
    k = targets["seed"].nunique()
    means, variances = per_probe.mean(), per_probe.var(ddof=1)
    between, within = k * means.var(ddof=1), variances.mean()
    return pd.DataFrame([{"probes": len(means), "seeds": k, "between_std": float(means.std(ddof=1)),
                          "within_std": float(np.sqrt(within)),
                          "icc": float((between - within) / (between + (k - 1) * within))}])


def _xy(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return data[FEATURE_NAMES].to_numpy(), data["target"].to_numpy()


def regressor_search(kind: str = "svr", random_state=0) -> GridSearchCV:
    """The regressor of ``kind`` with its hyper-parameter grid, searched by 3-fold cross-validation
    (fit it with ``groups``: the states). SVR: features and targets standardised, C and epsilon
    (in units of the targets' spread) searched; forest: the leaf size."""
    if kind == "svr":
        model = TransformedTargetRegressor(make_pipeline(StandardScaler(), SVR()), transformer=StandardScaler())
        grid = {"regressor__svr__C": [0.1, 1.0, 10.0], "regressor__svr__epsilon": [0.1, 0.5]}
    elif kind == "forest":
        model = RandomForestRegressor(n_estimators=100, max_features=0.33, random_state=random_state)
        grid = {"min_samples_leaf": [5, 20, 50]}
    else:
        raise ValueError(f"unknown regressor {kind!r}: 'svr' or 'forest'")
    return GridSearchCV(model, grid, cv=GroupKFold(3))


def within_state_spearman(predictions: pd.DataFrame) -> float:
    """Mean over states of the Spearman correlation between ``predicted`` and true ``target`` of
    its probes: how well the regressor orders videos for one model state, which is all a selection
    uses (states whose targets or predictions are all equal are left out)."""
    per_state = [spearmanr(part["predicted"], part["target"]).statistic for _, part in predictions.groupby("state")
                 if part["target"].nunique() > 1 and part["predicted"].nunique() > 1]
    return float(np.mean(per_state)) if per_state else np.nan


def fit_regressor(data: pd.DataFrame, kind: str = "svr", random_state=0, n_repeats: int = 5) -> dict:
    """The regressor of ``kind`` fitted on ``data`` and its quality on held-out states.

    A fifth of the states is held out; the hyper-parameters are chosen by cross-validation grouped
    by state on the rest, and the model so fitted is measured on the held-out states
    (``within_state_spearman``, ``r2``, ``importances``, the drop in R2 when a feature is permuted,
    ``n_repeats`` times). The returned ``model`` is then refitted on every state.
    Every split is by state: the probes of one state share its features, so a split by row would
    let the regressor recognise the state instead of predicting the gain.
    """
    x, y = _xy(data)
    groups = data["state"].to_numpy()
    train, test = next(GroupShuffleSplit(1, test_size=0.2, random_state=random_state).split(x, y, groups))
    search = regressor_search(kind, random_state).fit(x[train], y[train], groups=groups[train])
    held_out = search.best_estimator_  # refitted on the training states
    predicted = held_out.predict(x[test])
    importances = permutation_importance(held_out, x[test], y[test], n_repeats=n_repeats, random_state=random_state)
    return {"model": clone(held_out).fit(x, y), "best_params": search.best_params_,
            "r2": float(r2_score(y[test], predicted)),
            "within_state_spearman": within_state_spearman(pd.DataFrame(
                {"state": groups[test], "target": y[test], "predicted": predicted})),
            "importances": pd.DataFrame({
                "feature": FEATURE_NAMES,
                "group": ["model state"] * len(STATE_FEATURES) + ["video"] * len(VIDEO_FEATURES),
                "importance_mean": importances.importances_mean, "importance_std": importances.importances_std,
            }).sort_values("importance_mean", ascending=False, ignore_index=True)}


# -- what the bootstrap learned (notebook 03b) ----------------------------------------------------

def monte_carlo_summary(data: pd.DataFrame, bins: int = 5) -> pd.DataFrame:
    """The Monte-Carlo gains by labelled-set size (``bins`` equal-count bins): samples, mean
    gain, its spread and the share of probes that improved the attention module."""
    size = pd.qcut(data["labelled"], q=bins, duplicates="drop")
    grouped = data.groupby(size, observed=True)["gain"]
    return pd.DataFrame({"samples": grouped.size(), "mean_gain": grouped.mean(), "std_gain": grouped.std(),
                         "share_positive": grouped.apply(lambda t: float((t > 0).mean()))}).reset_index(
        names="labelled_videos").assign(labelled_videos=lambda d: d["labelled_videos"].astype(str))


def regressor_comparison(data: pd.DataFrame, kinds=REGRESSORS, random_state=0) -> pd.DataFrame:
    """Per kind of regressor, on the same Monte-Carlo data and the same held-out states
    (:func:`fit_regressor`): R2, within-state Spearman and the chosen hyper-parameters."""
    rows = []
    for kind in kinds:
        fitted = fit_regressor(data, kind, random_state, n_repeats=1)
        rows.append({"regressor": kind, "held_out_r2": fitted["r2"],
                     "within_state_spearman": fitted["within_state_spearman"],
                     "best_params": str(fitted["best_params"])})
    return pd.DataFrame(rows)


def cross_validated_predictions(data: pd.DataFrame, model, folds: int = 5) -> pd.DataFrame:
    """Each Monte-Carlo sample's target beside the prediction of ``model`` refitted without its
    state's fold (folds by state; fewer when there are fewer states)."""
    x, y = _xy(data)
    groups = data["state"].to_numpy()
    cv = GroupKFold(min(folds, len(np.unique(groups))))
    predicted = cross_val_predict(clone(model), x, y, groups=groups, cv=cv)
    return pd.DataFrame({"target": y, "predicted": predicted, "labelled": data["labelled"].to_numpy(),
                         "state": groups})


class LALSelector(LearnedSelector):
    """Ranks pool videos by the predicted gain in attention mAP; batch mode takes the top B (the paper's rule).

    ``fit(knowledge_source)`` runs the Monte-Carlo procedure (see the module docstring; its
    parameters are :func:`monte_carlo`'s) with clones of ``localizer`` and fits the regressor,
    keeping ``training_data_``, ``best_params_`` and, measured on held-out states,
    ``within_state_spearman_``, ``r2_`` and ``feature_importances_``; ``save``/``load`` keep that
    bootstrap as a file. ``n_jobs``: joblib processes for the states (None: the active
    ``joblib.parallel_config``, e.g. a Dask cluster's). The defaults (5,000 samples) cost about 640
    CPU-seconds on the simulated testbed's Knowledge-Source (2,768 videos): 6 minutes on 2 free cores.
    """

    name = "lal"

    def __init__(self, localizer=None, regressor: str = "svr", n_states: int = 200, labelled_ratios=(0.1, 1.0),
                 probes_per_state: int = 25, eval_fraction: float = 0.3, pool_videos: int | None = None,
                 target: str = "rank", random_state=0, n_jobs: int | None = None):
        self.localizer = localizer
        self.regressor = regressor
        self.n_states = n_states
        self.labelled_ratios = labelled_ratios
        self.probes_per_state = probes_per_state
        self.eval_fraction = eval_fraction
        self.pool_videos = pool_videos
        self.target = target
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, knowledge_source) -> LALSelector:
        if self.regressor not in REGRESSORS:
            raise ValueError(f"unknown regressor {self.regressor!r}: 'svr' or 'forest'")
        rng = check_random_state(self.random_state)
        data = monte_carlo(knowledge_source, n_states=self.n_states, labelled_ratios=tuple(self.labelled_ratios),
                           probes_per_state=self.probes_per_state, eval_fraction=self.eval_fraction,
                           pool_videos=self.pool_videos, target=self.target, localizer=self.localizer,
                           random_state=rng.randint(2**31 - 1), n_jobs=self.n_jobs)
        fitted = fit_regressor(data, self.regressor, rng.randint(2**31 - 1))
        self.model_, self.best_params_, self.training_data_ = fitted["model"], fitted["best_params"], data
        self.r2_, self.within_state_spearman_ = fitted["r2"], fitted["within_state_spearman"]
        self.feature_importances_ = fitted["importances"]
        return self

    def utilities(self, localizer, labelled, pool, random_state=None) -> np.ndarray:
        check_is_fitted(self, "model_", msg="LALSelector has no regressor: call fit(knowledge_source) or load() first")
        if not pool.video_ids:
            return np.zeros(0)
        return self.model_.predict(pair_features(localizer, pool))

    def evidence(self, localizer, labelled, pool) -> pd.DataFrame:
        """``predicted_gain`` (the utility) and its inputs, one column per feature
        (:data:`FEATURE_NAMES`: the model state's, the same for the whole pool, then the video's)."""
        check_is_fitted(self, "model_", msg="LALSelector has no regressor: call fit(knowledge_source) or load() first")
        index = pd.Index(pool.video_ids, name="video_id")
        if not pool.video_ids:
            return pd.DataFrame(columns=["predicted_gain", *FEATURE_NAMES], index=index, dtype=float)
        features = pair_features(localizer, pool)
        return pd.DataFrame(features, columns=FEATURE_NAMES, index=index).assign(
            predicted_gain=self.model_.predict(features))[["predicted_gain", *FEATURE_NAMES]]

    def save(self, path: str | os.PathLike) -> int:
        """Write the bootstrap atomically; returns its size in bytes."""
        return dump_atomic(self, path)

    @staticmethod
    def load(path: str | os.PathLike) -> LALSelector:
        return joblib.load(path)
