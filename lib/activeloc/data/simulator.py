"""The embedded default data: an ActivityNet-like set of annotations and snippet features.

Temporal structure. :class:`TemporalProfile` describes what the simulator draws: video
durations (a quantile function), instances per video given the duration (one distribution per
duration bin), and instance coverage (length / duration) given the number of instances (one
quantile function per count bucket). :data:`ACTIVITYNET_1_3` holds the values that
:func:`measure_temporal_profile` returns on the real ActivityNet 1.3 training and validation
annotations (``../shared/data``), rounded; ``tests/test_simulator.py`` re-measures them when the
data is present.

Features. :func:`simulate_features` draws snippet features for any ground truth (simulated or
real, the latter giving an ActivityNet-structured simulation). A snippet's feature is

    x = nuisance_v + noise + context * s_v * d_c(v)
        + w * s_v * (actionness * a_c + class_signal * d_c(v))

where ``w`` is the fraction of the snippet inside the *visible* extent of an instance of class
``c``, ``d_c(v)`` the direction of class ``c`` as it looks in video ``v`` (its sub-mode, below),
``a_c`` the actionness direction of class ``c``, ``nuisance_v`` a per-video offset, ``s_v`` a
per-video signal scale and ``noise`` isotropic Gaussian (``outlier_noise_scale`` times larger for
outlier videos). With probability ``label_noise`` an instance carries another class's direction.

Worlds: selector-neutral heterogeneity. Five knobs make the world less uniform than "every video
of a class is an exchangeable draw of one direction"; each has the levels ``off`` (the world before
them), ``low``, ``default`` and ``high`` in :data:`WORLDS` (:func:`world_params` gives a world's
parameters). The levels were chosen a priori, as moderate heterogeneity, and checked only against
selector-neutral properties (temporal calibration, the localizer's bands), never against a selector.

* ``submodes`` (``submode_share``, with ``n_submodes`` = 3): each class has sub-modes (ways the
  action looks), drawn per video with class-specific frequencies (Dirichlet(1), so some sub-modes
  are rare); ``d_c(v) = sqrt(1 - share) u_c + sqrt(share) m_{c,k(v)}`` normalised, so two
  sub-modes of a class have cosine about ``1 - share``. Default 0.4.
* ``confusion`` (with ``confusion_group_size`` = 5): classes fall in groups of confusable classes
  (by a hash of the name, so about five per group, more or fewer by chance); ``u_c =
  sqrt(1 - confusion) e_c + sqrt(confusion) g_group(c)`` normalised, so two classes of a group
  have cosine about ``confusion``. Default 0.5.
* ``boundary_ambiguity`` (``boundary_jitter``): annotators disagree about where actions start and
  end. The annotation (what the oracle returns and what Testing is scored against) is one
  annotator's; each boundary of the visible action differs from it by a Gaussian of standard
  deviation ``boundary_jitter * j_c * length`` (cut at 0.45 of the length, so the visible action
  keeps a tenth of it at least), with a class-specific factor ``j_c`` (Gamma, shape 2, mean 1: some
  classes have crisp boundaries, others vague). Default 0.1, the spread
  :class:`~activeloc.active.oracles.SimulatedAnnotator` assumes between a person and the truth.
* ``actionness_specificity``: the share of actionness that is class-specific (imperfect transfer
  from Knowledge-Source): ``a_c = sqrt(1 - spec) a + sqrt(spec) b_c`` normalised, ``a`` shared by
  every class, ``b_c`` the class's own; the total actionness energy is unchanged, only what a
  class-agnostic model learned on other classes can see of it. Default 0.3.
* ``video_difficulty``: easy and hard videos on a continuum: ``s_v`` (``hard_signal_scale`` for a
  ``hard_video_fraction`` of videos, else 1) is multiplied by a log-normal factor of mean 1 and
  log-spread ``video_difficulty``. Default 0.5 (the middle 90 % of factors span 0.4 to 2.0).

With every knob off and ``class_signal=2.0`` (``world_params("all", "off")``) the features are bit for
bit those of the world before the knobs (the knobs' random draws come from separate streams).

Calibration. The temporal structure was calibrated to the real annotations (the world knobs change
features only, never the annotations); the feature amplitudes (``class_signal=2.5``, 2.0 before the
world knobs, ``video_nuisance_std=0.3``, the rest at their first values) only against detector-level targets:
the stage-wise localizer trained on all of Selection scores an average mAP (tIoU 0.5:0.95) of 15-30 % and an mAP at 0.5 of 30-55 % on Testing, and one trained on a
random 10 % reaches 40-70 % of that (``notebooks/02-localizer.ipynb`` measures it). Never
against active-learning results.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

from .annotations import INSTANCE_COLUMNS, GroundTruth
from .attributes import instance_attributes
from .features import InMemoryFeatureStore, snippet_bounds


@dataclass(frozen=True)
class TemporalProfile:
    """Distributions the simulator draws temporal structure from (see module docstring).

    ``duration_quantiles``: seconds at evenly spaced probabilities 0..1.
    ``duration_bin_edges``: seconds; bin ``i`` is ``[edges[i], edges[i + 1])``, the last open-ended.
    ``instances_pmf``: per duration bin, probabilities of 1, 2, ... instances.
    ``coverage_bucket_starts``: instance counts where each coverage bucket starts (e.g. 1, 2, 3, 4, 5, 8).
    ``coverage_quantiles``: per bucket, coverage at evenly spaced probabilities 0..1.
    """

    duration_quantiles: tuple[float, ...]
    duration_bin_edges: tuple[float, ...]
    instances_pmf: tuple[tuple[float, ...], ...]
    coverage_bucket_starts: tuple[int, ...]
    coverage_quantiles: tuple[tuple[float, ...], ...]

    def coverage_bucket(self, n_instances) -> np.ndarray:
        return np.searchsorted(self.coverage_bucket_starts, n_instances, side="right") - 1

    def duration_bin(self, durations) -> np.ndarray:
        return np.searchsorted(self.duration_bin_edges[1:], durations, side="right")


def temporal_statistics(ground_truth: GroundTruth) -> dict[str, np.ndarray]:
    """Per-video ``duration`` and ``instances_per_video`` (annotated videos), per-instance ``length`` and ``coverage``."""
    per_video = ground_truth.instances.groupby("video_id").size()
    attributes = instance_attributes(ground_truth)
    return {
        "duration": ground_truth.videos["duration"].loc[per_video.index].to_numpy(dtype=float),
        "instances_per_video": per_video.to_numpy(),
        "length": attributes["length"].to_numpy(),
        "coverage": attributes["coverage"].to_numpy(),
    }


def compare_temporal(simulated: GroundTruth, real: GroundTruth) -> pd.DataFrame:
    """Kolmogorov-Smirnov distance and means per attribute: one row per attribute."""
    a, b = temporal_statistics(simulated), temporal_statistics(real)
    rows = []
    for attr in ("duration", "length", "coverage", "instances_per_video"):
        rows.append({
            "attribute": attr,
            "ks": float(stats.ks_2samp(a[attr], b[attr]).statistic),
            "mean_simulated": float(np.mean(a[attr])),
            "mean_real": float(np.mean(b[attr])),
        })
    return pd.DataFrame(rows)


def measure_temporal_profile(ground_truth: GroundTruth, *, n_duration_quantiles: int = 101,
                             n_coverage_quantiles: int = 41,
                             duration_bin_edges=(0, 30, 60, 120, 180),
                             coverage_bucket_starts=(1, 2, 3, 4, 5, 8), max_instances: int = 24) -> TemporalProfile:
    """Measure a :class:`TemporalProfile` on annotated videos (how :data:`ACTIVITYNET_1_3` was made)."""
    st = temporal_statistics(ground_truth)
    bins = np.searchsorted(duration_bin_edges[1:], st["duration"], side="right")
    pmf = []
    for b in range(len(duration_bin_edges)):
        counts = np.bincount(np.minimum(st["instances_per_video"][bins == b], max_instances),
                             minlength=max_instances + 1)[1:]
        pmf.append(tuple(np.round(counts / counts.sum(), 5)))
    inst = ground_truth.instances
    n_of_instance = inst.groupby("video_id")["video_id"].transform("size").to_numpy()
    bucket = np.searchsorted(coverage_bucket_starts, n_of_instance, side="right") - 1
    cov_q = tuple(
        tuple(np.round(np.quantile(st["coverage"][bucket == k], np.linspace(0, 1, n_coverage_quantiles)), 5))
        for k in range(len(coverage_bucket_starts))
    )
    return TemporalProfile(
        duration_quantiles=tuple(np.round(np.quantile(st["duration"], np.linspace(0, 1, n_duration_quantiles)), 3)),
        duration_bin_edges=tuple(float(e) for e in duration_bin_edges),
        instances_pmf=tuple(pmf),
        coverage_bucket_starts=tuple(coverage_bucket_starts),
        coverage_quantiles=cov_q,
    )


# Measured by measure_temporal_profile() on ActivityNet 1.3 training + validation (14,377 videos).
ACTIVITYNET_1_3 = TemporalProfile(
    duration_quantiles=(
        1.579, 7.759, 10.99, 13.54, 15.526, 18.026, 20.687, 23.081,
        25.121, 27.38, 29.89, 31.394, 33.298, 35.434, 37.739, 39.66,
        41.75, 44.151, 46.51, 48.998, 51.229, 53.517, 55.6, 57.679,
        59.862, 61.252, 63.007, 64.757, 66.64, 68.618, 70.429, 72.529,
        74.516, 76.646, 78.701, 80.736, 82.838, 85.114, 87.565, 89.798,
        91.859, 94.231, 96.363, 98.521, 100.775, 103.362, 105.777, 107.904,
        110.67, 112.926, 115.38, 117.842, 120.047, 121.979, 123.901, 126.061,
        128.059, 130.211, 132.546, 135.0, 137.602, 140.031, 142.474, 144.465,
        146.868, 149.436, 151.722, 154.261, 156.782, 159.175, 161.495, 164.026,
        166.58, 169.044, 171.13, 173.73, 176.31, 178.926, 180.893, 183.303,
        185.481, 187.687, 190.132, 192.512, 195.036, 197.811, 200.609, 203.222,
        205.776, 208.42, 211.14, 213.67, 216.062, 218.988, 221.846, 224.556,
        227.51, 230.969, 233.828, 236.877, 755.113,
    ),
    duration_bin_edges=(0.0, 30.0, 60.0, 120.0, 180.0),
    instances_pmf=(
        (
            0.94394, 0.04844, 0.00484, 0.00208, 0.00069,
        ),
        (
            0.85112, 0.10918, 0.02333, 0.00993, 0.00397, 0.0005, 0.0005, 0.00099,
            0.0005,
        ),
        (
            0.74694, 0.14339, 0.05321, 0.02698, 0.01524, 0.00625, 0.00275, 0.0025,
            0.00175, 0.0, 0.0005, 0.0, 0.0005,
        ),
        (
            0.69806, 0.14906, 0.06252, 0.03385, 0.0202, 0.01392, 0.00846, 0.00601,
            0.00246, 0.00246, 0.00191, 0.00055, 0.0, 0.0, 0.00027, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.00027,
        ),
        (
            0.68775, 0.13885, 0.05832, 0.04474, 0.02129, 0.01759, 0.00987, 0.00555,
            0.00432, 0.00432, 0.00154, 0.00154, 0.00062, 0.0, 0.00062, 0.00031,
            0.00093, 0.00093, 0.00031, 0.00031, 0.0, 0.0, 0.00031,
        ),
    ),
    coverage_bucket_starts=(1, 2, 3, 4, 5, 8),
    coverage_quantiles=(
        (
            4e-05, 0.06708, 0.13728, 0.19345, 0.25585, 0.30962, 0.36293, 0.41488,
            0.46333, 0.50667, 0.54289, 0.5768, 0.60672, 0.63474, 0.66295, 0.68643,
            0.71131, 0.73491, 0.75662, 0.77535, 0.79383, 0.81242, 0.82807, 0.84273,
            0.85811, 0.87174, 0.88429, 0.89585, 0.90867, 0.92013, 0.93135, 0.9432,
            0.95373, 0.96432, 0.97602, 0.98747, 0.99613, 0.99909, 0.99971, 0.99992,
            1.0,
        ),
        (
            5e-05, 0.01866, 0.028, 0.03587, 0.04521, 0.05443, 0.0624, 0.0702,
            0.08112, 0.09048, 0.10141, 0.11232, 0.12322, 0.13541, 0.14548, 0.15912,
            0.17275, 0.18453, 0.1974, 0.21217, 0.22776, 0.24018, 0.25619, 0.2713,
            0.28538, 0.30371, 0.32288, 0.33918, 0.35685, 0.37753, 0.39617, 0.4195,
            0.44738, 0.47418, 0.5039, 0.53654, 0.56947, 0.61554, 0.67348, 0.75662,
            1.0,
        ),
        (
            0.00011, 0.01092, 0.01711, 0.0218, 0.02496, 0.02955, 0.03276, 0.03588,
            0.04053, 0.04522, 0.04992, 0.05614, 0.06081, 0.06396, 0.06864, 0.07486,
            0.07955, 0.08425, 0.09046, 0.09672, 0.10452, 0.11228, 0.11856, 0.1248,
            0.13412, 0.14196, 0.15128, 0.16395, 0.17779, 0.19182, 0.20564, 0.21841,
            0.23394, 0.25354, 0.27903, 0.30166, 0.33333, 0.37413, 0.43299, 0.53447,
            0.99794,
        ),
        (
            4e-05, 0.00935, 0.01248, 0.0156, 0.01872, 0.02184, 0.02459, 0.02652,
            0.02963, 0.0312, 0.03432, 0.03899, 0.04212, 0.04523, 0.04682, 0.05005,
            0.05304, 0.05616, 0.06084, 0.06552, 0.0702, 0.07488, 0.07954, 0.08424,
            0.08892, 0.09564, 0.10295, 0.11059, 0.11857, 0.12793, 0.13728, 0.14818,
            0.16225, 0.17629, 0.19033, 0.21333, 0.24041, 0.27442, 0.32137, 0.42599,
            0.99822,
        ),
        (
            0.00091, 0.00936, 0.01248, 0.01559, 0.01716, 0.01872, 0.02182, 0.0234,
            0.02496, 0.02652, 0.02955, 0.0312, 0.03276, 0.03587, 0.03744, 0.04056,
            0.04361, 0.04524, 0.04825, 0.04992, 0.05304, 0.05771, 0.06083, 0.06396,
            0.06863, 0.07241, 0.07645, 0.08112, 0.0858, 0.09063, 0.09705, 0.10434,
            0.11388, 0.12325, 0.1357, 0.14823, 0.1668, 0.18564, 0.22621, 0.29036,
            0.9983,
        ),
        (
            0.00155, 0.00624, 0.0078, 0.00936, 0.01092, 0.01244, 0.01248, 0.01404,
            0.01559, 0.0156, 0.01716, 0.01871, 0.01872, 0.02028, 0.02184, 0.0234,
            0.02496, 0.02652, 0.02807, 0.02963, 0.03119, 0.03276, 0.03432, 0.03743,
            0.03899, 0.04056, 0.04361, 0.04666, 0.04836, 0.05145, 0.0545, 0.05772,
            0.06385, 0.06864, 0.07488, 0.08424, 0.09204, 0.1047, 0.12324, 0.16127,
            0.99788,
        ),
    ),
)


def _inverse_cdf(quantiles, u) -> np.ndarray:
    q = np.asarray(quantiles, dtype=float)
    return np.interp(u, np.linspace(0, 1, len(q)), q)


def sample_temporal_structure(n_videos: int, profile: TemporalProfile = ACTIVITYNET_1_3, *,
                              random_state=None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Durations ``(n_videos,)`` and, per video, an ``(n_i, 2)`` array of non-overlapping segments.

    Coverages too large to fit side by side are scaled down together; the free time is split into
    gaps at random (uniform on the simplex), so instances fall anywhere in the video.
    """
    rng = np.random.default_rng(random_state)
    durations = np.round(_inverse_cdf(profile.duration_quantiles, rng.random(n_videos)), 2)
    bins = profile.duration_bin(durations)
    segments = []
    for duration, b in zip(durations, bins):
        pmf = np.asarray(profile.instances_pmf[b])
        n = 1 + rng.choice(len(pmf), p=pmf / pmf.sum())
        quantiles = profile.coverage_quantiles[profile.coverage_bucket(n)]
        coverage = _inverse_cdf(quantiles, rng.random(n))
        total = coverage.sum()
        if total > 1:
            coverage = coverage / total
        gaps = rng.dirichlet(np.ones(n + 1)) * max(0.0, 1 - coverage.sum())
        starts = np.cumsum(gaps[:-1]) + np.concatenate([[0], np.cumsum(coverage)[:-1]])
        seg = np.column_stack([starts, starts + coverage]) * duration
        # Times in hundredths of a second, as in ActivityNet, and never empty.
        seg = np.round(np.clip(seg, 0, duration), 2)
        seg[:, 1] = np.minimum(np.maximum(seg[:, 1], seg[:, 0] + 0.01), duration)
        seg[:, 0] = np.minimum(seg[:, 0], seg[:, 1] - 0.01)
        segments.append(seg)
    return durations, segments


def _named_rng(name: str, seed: int, *tags: int) -> np.random.Generator:
    """A random stream that depends only on a name, the seed and ``tags``, not on the other names."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8")), *tags])


def _label_direction(label: str, dim: int, seed: int) -> np.ndarray:
    """A unit direction per class that depends only on its name and the seed, not on the other classes."""
    v = _named_rng(label, seed).standard_normal(dim)
    return v / np.linalg.norm(v)


def _mixed(base: np.ndarray, other: np.ndarray, share: float) -> np.ndarray:
    """Unit rows ``sqrt(1 - share) base + sqrt(share) other``: ``share`` of the energy from ``other``."""
    v = np.sqrt(1 - share) * base + np.sqrt(share) * other
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# The world knobs (module docstring): per knob, its simulate_features parameters at each level.
# Chosen a priori as moderate heterogeneity before any selector ran on them; "off" is the world before them.
WORLDS: dict[str, dict[str, dict[str, float]]] = {
    "submodes": {"off": {"submode_share": 0.0}, "low": {"submode_share": 0.2},
                 "default": {"submode_share": 0.4}, "high": {"submode_share": 0.7}},
    "confusion": {"off": {"confusion": 0.0}, "low": {"confusion": 0.25},
                  "default": {"confusion": 0.5}, "high": {"confusion": 0.75}},
    "boundary_ambiguity": {"off": {"boundary_jitter": 0.0}, "low": {"boundary_jitter": 0.05},
                           "default": {"boundary_jitter": 0.1}, "high": {"boundary_jitter": 0.2}},
    "actionness_specificity": {"off": {"actionness_specificity": 0.0}, "low": {"actionness_specificity": 0.15},
                               "default": {"actionness_specificity": 0.3}, "high": {"actionness_specificity": 0.6}},
    "video_difficulty": {"off": {"video_difficulty": 0.0}, "low": {"video_difficulty": 0.25},
                         "default": {"video_difficulty": 0.5}, "high": {"video_difficulty": 1.0}},
}
WORLD_LEVELS = ("off", "low", "default", "high")
# What else the world before the knobs had: a weaker class signal. The default world's localizer fell
# below its bands at 2.0 (64-d, 19,500 videos: average mAP 0.150, mAP at 0.5 0.270, 10 % at 0.575 of
# full); at 2.5 it is back in them (0.180, 0.314, 0.642). Measured before any selector ran on a world.
BEFORE_WORLDS = {"class_signal": 2.0}


def world_params(knob: str | None = None, level: str = "default") -> dict[str, float]:
    """The world knobs' parameters of :func:`simulate_features` with ``knob`` at ``level`` and every
    other knob at its default; ``knob="all"`` sets every knob to ``level`` (``("all", "off")``: the
    world before the knobs, with its class signal, :data:`BEFORE_WORLDS`); ``knob=None``: the default world."""
    if level not in WORLD_LEVELS:
        raise ValueError(f"unknown world level {level!r}; known: {list(WORLD_LEVELS)}")
    if knob is not None and knob != "all" and knob not in WORLDS:
        raise ValueError(f"unknown world knob {knob!r}; known: {sorted(WORLDS)} or 'all'")
    params = {}
    for name, levels in WORLDS.items():
        params.update(levels[level if knob in (name, "all") else "default"])
    return {**params, **BEFORE_WORLDS} if (knob, level) == ("all", "off") else params


_DEFAULT_WORLD = world_params()


def class_geometry(labels, dim: int, seed: int, *, submode_share: float = 0.0, n_submodes: int = 3,
                   confusion: float = 0.0, confusion_group_size: float = 5.0, actionness_specificity: float = 0.0,
                   boundary_jitter: float = 0.0) -> dict[str, np.ndarray]:
    """The per-class part of a world (module docstring), each class's from its name and ``seed`` only
    (and the number of classes, for the groups): ``directions`` (classes x sub-modes x dim, unit
    rows; one sub-mode when ``submode_share`` is 0), ``submode_frequencies`` (classes x sub-modes),
    ``group`` (each class's group of confusable classes), ``actionness`` (classes x dim, unit rows)
    and ``boundary_jitter`` (per class: ``boundary_jitter`` times its factor of mean 1)."""
    labels = list(labels)
    n = len(labels)
    directions = np.stack([_label_direction(lab, dim, seed) for lab in labels]) if n else np.zeros((0, dim))
    n_groups = max(1, round(n / confusion_group_size))
    group = np.array([zlib.crc32(lab.encode("utf-8")) % n_groups for lab in labels], dtype=int)
    if confusion > 0 and n:
        centres = np.stack([_label_direction(f"__group_{g}__", dim, seed) for g in group])
        directions = _mixed(directions, centres, confusion)
    action = np.broadcast_to(_label_direction("__actionness__", dim, seed), (n, dim))
    if actionness_specificity > 0 and n:
        own = np.stack([_label_direction(f"{lab}__actionness__", dim, seed) for lab in labels])
        action = _mixed(action, own, actionness_specificity)
    if submode_share > 0 and n:
        k = int(n_submodes)
        modes = np.stack([[_label_direction(f"{lab}__submode_{j}__", dim, seed) for j in range(k)] for lab in labels])
        directions = _mixed(directions[:, None, :], modes, submode_share)
        frequencies = np.stack([_named_rng(lab, seed, 2).dirichlet(np.ones(k)) for lab in labels])
    else:
        directions, frequencies = directions[:, None, :], np.ones((n, 1))
    jitter = np.full(n, float(boundary_jitter))
    if boundary_jitter > 0 and n:
        jitter = boundary_jitter * np.array([_named_rng(lab, seed, 3).gamma(2.0, 0.5) for lab in labels])
    return {"directions": directions, "submode_frequencies": frequencies, "group": group, "actionness": action,
            "boundary_jitter": jitter}


def simulate_features(ground_truth: GroundTruth, *, feature_dim: int = 64, snippet_seconds: float = 2.0,
                      actionness: float = 1.0, class_signal: float = 2.5, context: float = 0.3,
                      noise_std: float = 1.0, video_nuisance_std: float = 0.3,
                      hard_video_fraction: float = 0.2, hard_signal_scale: float = 0.4,
                      outlier_fraction: float = 0.02, outlier_noise_scale: float = 3.0,
                      label_noise: float = 0.02,
                      submode_share: float = _DEFAULT_WORLD["submode_share"], n_submodes: int = 3,
                      confusion: float = _DEFAULT_WORLD["confusion"], confusion_group_size: float = 5.0,
                      boundary_jitter: float = _DEFAULT_WORLD["boundary_jitter"],
                      actionness_specificity: float = _DEFAULT_WORLD["actionness_specificity"],
                      video_difficulty: float = _DEFAULT_WORLD["video_difficulty"],
                      random_state=None) -> InMemoryFeatureStore:
    """Snippet features for every video of ``ground_truth`` (float32, one snippet per ``snippet_seconds``).

    Parameters (see the module docstring for the model):
    ``feature_dim`` D; ``snippet_seconds`` snippet length (snippets do not overlap);
    ``actionness`` amplitude of the action-vs-background direction; ``class_signal``
    amplitude of the class direction inside instances; ``context`` amplitude of the video's class
    direction on every snippet (scene context: helps to classify, not to localize);
    ``noise_std`` per-snippet noise; ``video_nuisance_std`` per-video offset;
    ``hard_video_fraction`` share of videos whose signal is scaled by ``hard_signal_scale``;
    ``outlier_fraction`` share of videos whose noise is ``outlier_noise_scale`` times larger;
    ``label_noise`` share of instances that carry a wrong class's direction.
    World knobs (levels in :data:`WORLDS`; 0 turns each off): ``submode_share`` energy share of a
    class direction specific to one of its ``n_submodes`` sub-modes; ``confusion`` cosine between
    the classes of a group of confusable classes, groups of about ``confusion_group_size``;
    ``boundary_jitter`` standard deviation, as a fraction of the instance's length (times a
    class-specific factor of mean 1), by which each boundary of the visible action differs from the
    annotated one (annotators disagree on where actions start and end, so the best possible tIoU
    with the annotation is below 1); ``actionness_specificity`` share of the actionness energy
    that is class-specific; ``video_difficulty`` log-spread of a per-video signal factor of mean 1.
    The features of a video depend only on its annotations, its position and ``random_state``.
    """
    for name, value in (("submode_share", submode_share), ("confusion", confusion),
                        ("actionness_specificity", actionness_specificity)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if boundary_jitter < 0 or video_difficulty < 0 or n_submodes < 1 or confusion_group_size <= 0:
        raise ValueError("boundary_jitter and video_difficulty must be >= 0, n_submodes >= 1, confusion_group_size > 0")
    rng = np.random.default_rng(random_state)
    seed = int(rng.integers(2**31))

    def world(knob: int) -> np.random.Generator:  # each knob's own stream: off, the other draws stay as they were
        return np.random.default_rng([seed, 1, knob])

    dim = feature_dim
    videos = ground_truth.videos
    inst = ground_truth.instances
    labels = sorted(inst["label"].unique())
    geometry = class_geometry(labels, dim, seed, submode_share=submode_share, n_submodes=n_submodes,
                              confusion=confusion, confusion_group_size=confusion_group_size,
                              actionness_specificity=actionness_specificity, boundary_jitter=boundary_jitter)
    directions, action_dirs = geometry["directions"], geometry["actionness"]
    label_index = {lab: i for i, lab in enumerate(labels)}

    n_videos = len(videos)
    n_snippets = np.maximum(1, np.ceil(videos["duration"].to_numpy() / snippet_seconds).astype(int))
    offsets = np.concatenate([[0], np.cumsum(n_snippets)])
    scale = np.where(rng.random(n_videos) < hard_video_fraction, hard_signal_scale, 1.0)
    if video_difficulty > 0:
        scale = scale * np.exp(video_difficulty * world(1).standard_normal(n_videos) - video_difficulty**2 / 2)
    noise_scale = np.where(rng.random(n_videos) < outlier_fraction, outlier_noise_scale, 1.0) * noise_std

    feats = rng.standard_normal((offsets[-1], dim), dtype=np.float32)
    feats *= np.repeat(noise_scale, n_snippets)[:, None].astype(np.float32)
    nuisance = rng.standard_normal((n_videos, dim)) * video_nuisance_std

    # Each instance's class, with label noise.
    cls = np.array([label_index[lab] for lab in inst["label"]], dtype=int)
    flip = rng.random(len(cls)) < label_noise
    if len(labels) > 1 and flip.any():
        cls[flip] = (cls[flip] + rng.integers(1, len(labels), flip.sum())) % len(labels)

    # Each video's sub-mode (one per video: how the action looks in it), from its class's frequencies.
    vid_pos = videos.index.get_indexer(inst["video_id"])
    submode = np.zeros(n_videos, dtype=int)
    if directions.shape[1] > 1:
        u = world(2).random(n_videos)
        first_class = pd.Series(cls, index=vid_pos).groupby(level=0).first()
        cumulative = np.cumsum(geometry["submode_frequencies"][first_class.to_numpy()], axis=1)
        submode[first_class.index] = np.minimum((u[first_class.index, None] > cumulative).sum(axis=1),
                                                directions.shape[1] - 1)

    # Snippet x instance overlap fractions as a sparse matrix, so signals go on in one product.
    starts, ends = inst["t_start"].to_numpy(), inst["t_end"].to_numpy()
    jitter = geometry["boundary_jitter"][cls][:, None] if len(cls) else boundary_jitter
    # Each boundary moves by at most 0.45 of the length, so the visible action keeps a tenth of it at least.
    length = (ends - starts)[:, None]
    shift = np.clip(rng.normal(0, 1, (len(inst), 2)) * jitter * length, -0.45 * length, 0.45 * length)
    duration = videos["duration"].to_numpy()[vid_pos]
    visible_start = np.clip(starts + shift[:, 0], 0, duration)
    visible_end = np.clip(ends + shift[:, 1], 0, duration)
    rows, cols, weights = [], [], []
    for j, (v, t0, t1) in enumerate(zip(vid_pos, visible_start, visible_end)):
        bounds = snippet_bounds(n_snippets[v], videos["duration"].iat[v], 1, 1)
        lo = np.searchsorted(bounds[:, 1], t0, side="right")
        hi = np.searchsorted(bounds[:, 0], t1, side="left")
        b = bounds[lo:hi]
        frac = np.clip(np.minimum(b[:, 1], t1) - np.maximum(b[:, 0], t0), 0, None) / (b[:, 1] - b[:, 0])
        rows.append(offsets[v] + np.arange(lo, hi))
        cols.append(np.full(hi - lo, j))
        weights.append(np.clip(frac, 0, 1) * scale[v])
    overlap = sparse.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))) if rows else ([], ([], [])),
        shape=(offsets[-1], len(cls)), dtype=np.float32,
    )
    looks = directions[cls, submode[vid_pos]] if len(cls) else np.zeros((0, dim))
    signal = (actionness * action_dirs[cls] + class_signal * looks).astype(np.float32)

    # Per-video offset: nuisance plus scene context of the video's (first) class, as it looks there.
    video_offset = nuisance.copy()
    first = pd.Series(cls, index=vid_pos).groupby(level=0).first()
    looks_first = directions[first.to_numpy(), submode[first.index]]
    video_offset[first.index] += context * scale[first.index, None] * looks_first
    video_offset = video_offset.astype(np.float32)

    # Added in chunks of snippets so that no temporary is as large as the features themselves.
    owner = np.repeat(np.arange(n_videos), n_snippets)
    for lo in range(0, offsets[-1], 65536):
        hi = min(lo + 65536, offsets[-1])
        feats[lo:hi] += overlap[lo:hi] @ signal + video_offset[owner[lo:hi]]

    features = {vid: feats[offsets[i]:offsets[i + 1]] for i, vid in enumerate(videos.index)}
    return InMemoryFeatureStore(features, videos["duration"].to_dict(), window=1, stride=1)


def make_activitynet_like(n_videos: int, n_classes: int = 200, *, profile: TemporalProfile = ACTIVITYNET_1_3,
                          validation_fraction: float = 4728 / 14377, class_imbalance: float = 0.2,
                          random_state=None, **feature_params) -> tuple[GroundTruth, InMemoryFeatureStore]:
    """A simulated ActivityNet-like dataset: ground truth and snippet features.

    Temporal structure from ``profile`` (real ActivityNet 1.3 by default); one class per video
    (as in 99.9 % of ActivityNet videos), class frequencies varying with coefficient of variation
    ``class_imbalance``; a ``validation_fraction`` of videos in the validation subset, the rest in
    training. ``feature_params`` go to :func:`simulate_features`.
    """
    if n_videos < 1 or n_classes < 1:
        raise ValueError("n_videos and n_classes must be positive")
    rng = np.random.default_rng(random_state)
    durations, segments = sample_temporal_structure(n_videos, profile, random_state=rng)
    shape = 1 / class_imbalance**2 if class_imbalance > 0 else np.inf
    weights = rng.gamma(shape, size=n_classes) if np.isfinite(shape) else np.ones(n_classes)
    width = len(str(n_classes - 1))
    class_names = np.array([f"action_{i:0{width}d}" for i in range(n_classes)])
    video_class = rng.choice(n_classes, size=n_videos, p=weights / weights.sum())
    ids = [f"sim{i:08d}" for i in range(n_videos)]
    subset = np.where(rng.random(n_videos) < validation_fraction, "validation", "training")
    videos = pd.DataFrame({"subset": subset, "duration": durations}, index=pd.Index(ids, name="video_id"))
    counts = np.array([len(s) for s in segments])
    all_seg = np.concatenate(segments)
    instances = pd.DataFrame({
        "video_id": np.repeat(ids, counts),
        "t_start": all_seg[:, 0],
        "t_end": all_seg[:, 1],
        "label": np.repeat(class_names[video_class], counts),
    })[INSTANCE_COLUMNS]
    ground_truth = GroundTruth(videos, instances, version="VERSION 1.3 (simulated)")
    features = simulate_features(ground_truth, random_state=rng, **feature_params)
    return ground_truth, features


def simulate_detections(instances: pd.DataFrame, n: int, *, jitter_seconds: float = 6.0,
                        relabel_fraction: float = 0.2, random_fraction: float = 0.3,
                        random_state=None) -> pd.DataFrame:
    """Detector-like output for exercising the metric: ``n`` detections with distinct scores.

    Each is a truth drawn at random with Gaussian boundary jitter (``jitter_seconds``), relabelled
    at random with probability ``relabel_fraction``, or, with probability ``random_fraction``, a
    random segment in the same video.
    """
    rng = np.random.default_rng(random_state)
    base = instances.iloc[rng.integers(0, len(instances), n)]
    t0 = np.clip(base["t_start"].to_numpy() + rng.normal(0, jitter_seconds, n), 0, None)
    t1 = np.maximum(t0 + 0.5, base["t_end"].to_numpy() + rng.normal(0, jitter_seconds, n))
    random = rng.random(n) < random_fraction
    start = rng.random(n) * 150
    labels = instances["label"].unique()
    return pd.DataFrame({
        "video_id": base["video_id"].to_numpy(),
        "t_start": np.where(random, start, t0),
        "t_end": np.where(random, start + 1 + rng.random(n) * 80, t1),
        "label": np.where(rng.random(n) < relabel_fraction, rng.choice(labels, n), base["label"].to_numpy()),
        "score": rng.permutation(n) / n + 1.0 / (2 * n),
    })
