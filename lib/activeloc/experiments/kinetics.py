"""Table 1 of the paper (5.3): the stage-wise localizer trained on temporal annotations against
trained on plain Kinetics' clip-only labels, on the real Kinetics-600 annotation structure.

The protocol (:func:`kinetics_benchmark`):

- **Training videos**: the annotated videos whose labelled 10 s clip is known (3,086 of 6,461 on
  the real files). Both models train on exactly these videos and see exactly the same features;
  only the labels differ: ``temporal`` uses every annotated instance, ``clip-only`` the clip as the
  video's only instance, the rest of the video being background (the paper's assumption;
  :func:`~activeloc.data.kinetics.clip_only_ground_truth`).
- **Held-out videos**: the other annotated videos (no clip known, so never trained on), fully
  annotated: the stand-in for the paper's Kinetics-Localization Validation Set.
- **Features**: simulated on the real annotations (:func:`~activeloc.data.simulator.simulate_features`:
  the actions the video shows are its annotated instances), over estimated durations.
- **Seeds** drive the feature simulation (the snippet noise, the class directions, which videos are
  hard or outliers, label noise) and, when ``train_videos`` / ``test_videos`` ask for fewer videos,
  which ones; the split itself (clip known or not) is fixed by the data. The two trainings of a seed
  are paired: same videos, same features.
- **Measures**: mAP at tIoU 0.1 to 0.9 and the average mAP at 0.5:0.95, as the official ActivityNet
  evaluation computes them (:func:`~activeloc.evaluation.detection.evaluate_detections`; detections
  of a class absent from the held-out videos are dropped, as :func:`evaluate_localizer` does).

:func:`clip_diagnostics` says what clip-only labels do to the truth of the training videos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from tqdm.auto import tqdm

from ..core.timing import timed
from ..data.annotations import GroundTruth
from ..data.dataset import Dataset
from ..data.kinetics import clip_only_ground_truth, clip_segments
from ..data.simulator import simulate_features
from ..data.splits import draw_subset
from ..evaluation.curves import mean_ci, paired_differences
from ..evaluation.detection import ACTIVITYNET_TIOU, evaluate_detections
from ..localization.localizer import StageWiseLocalizer
from ..localization.proposals import SlidingWindows
from ..localization.segments import tiou

TABLE1_TIOU = tuple(np.round(np.arange(1, 10) / 10, 1))  # the paper's columns: 0.1 ... 0.9
TABLE1_COLUMNS = [f"{t:.1f}" for t in TABLE1_TIOU] + ["average"]  # "average": mAP averaged over 0.5:0.05:0.95
TRAININGS = ("temporal", "clip-only")
NOT_REPRODUCIBLE = "not reproducible offline (needs video frames)"
# Table 1 of the paper, mAP (%): Kinetics-Localization (temporal annotations) and Kinetics (clips).
PAPER_TABLE1 = {
    ("Stage-Wise", "temporal"): (72.1, 59.2, 52.8, 48.7, 45.1, 31.0, 26.4, 17.7, 3.9, 21.3),
    ("End-to-End (SSN)", "temporal"): (72.8, 61.3, 54.9, 52.3, 49.6, 32.7, 28.2, 19.5, 5.2, 22.8),
    ("Stage-Wise", "clip-only"): (43.2, 34.7, 22.8, 15.1, 13.7, 11.0, 8.9, 5.7, 2.9, 8.2),
    ("End-to-End (SSN)", "clip-only"): (59.4, 40.1, 28.3, 20.8, 15.0, 11.8, 9.4, 5.2, 1.2, 8.3),
}
CANDIDATE_GROUPS = ("positive", "ambiguous", "negative")


def _candidate_group(best: np.ndarray, positive_tiou: float, negative_tiou: float) -> np.ndarray:
    """What the localizer makes of a candidate from its best tIoU with the truth it is given: the
    index in :data:`CANDIDATE_GROUPS` (positive, ambiguous, negative)."""
    return np.where(best > positive_tiou, 0, np.where(best < negative_tiou, 2, 1))


@dataclass
class ClipDiagnostics:
    """What clip-only labels do to the truth of the videos with a clip.

    ``instances``: one row per true instance: ``video_id, label, t_start, t_end, length,
    inside_s`` (seconds inside the video's clip), ``outside_fraction`` and ``status``:
    ``"outside the clip"`` (clip-only training labels it background, all of it), ``"partly
    outside"`` (the part outside is background) or ``"inside the clip"``.
    ``clips``: one row per video: ``video_id, best_tiou`` (the clip's best tIoU with the video's
    instances; 0 when it overlaps none).
    ``candidates``: counts of the localizer's candidate segments by group under temporal labels
    (rows) and clip-only labels (columns): positive (tIoU > 0.7), ambiguous, negative (< 0.3).
    """

    instances: pd.DataFrame
    clips: pd.DataFrame
    candidates: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """One row per measure: ``measure, value, of`` (what the share is of)."""
        inst, best, cand = self.instances, self.clips["best_tiou"], self.candidates
        positives = cand.loc["positive"].sum()
        rows = [
            ("videos with a clip", len(self.clips), "training videos"),
            ("true instances", len(inst), "in those videos"),
            ("share of instances outside the clip (labelled background)", (inst["status"] == "outside the clip").mean(),
             "true instances"),
            ("share of instances partly outside the clip", (inst["status"] == "partly outside").mean(), "true instances"),
            ("share of instance time outside the clip (labelled background)",
             1 - inst["inside_s"].sum() / inst["length"].sum(), "seconds of true instances"),
            ("share of temporal positives that clip-only labels negative", cand.at["positive", "negative"] / positives,
             "candidates with tIoU > 0.7 with a true instance"),
            ("share of temporal positives that clip-only labels positive", cand.at["positive", "positive"] / positives,
             "candidates with tIoU > 0.7 with a true instance"),
            ("clip-only positives", int(cand["positive"].sum()), "candidates"),
            ("temporal positives", int(positives), "candidates"),
            ("clip's best tIoU with the truth: mean", best.mean(), "videos with a clip"),
            ("clip's best tIoU: 25th percentile", best.quantile(0.25), "videos with a clip"),
            ("clip's best tIoU: median", best.median(), "videos with a clip"),
            ("clip's best tIoU: 75th percentile", best.quantile(0.75), "videos with a clip"),
            ("share of clips overlapping no instance (best tIoU 0)", (best == 0).mean(), "videos with a clip"),
            ("share of clips with best tIoU >= 0.5", (best >= 0.5).mean(), "videos with a clip"),
            ("share of clips with best tIoU > 0.7", (best > 0.7).mean(), "videos with a clip"),
        ]
        return pd.DataFrame(rows, columns=["measure", "value", "of"])


def clip_diagnostics(ground_truth: GroundTruth, video_ids=None, *, proposals=SlidingWindows(),
                     positive_tiou: float = 0.7, negative_tiou: float = 0.3) -> ClipDiagnostics:
    """:class:`ClipDiagnostics` of the videos of ``ground_truth`` that have a clip (of ``video_ids``,
    by default all). ``proposals`` and the tIoU bounds are the localizer's (its defaults)."""
    clip_gt = clip_only_ground_truth(ground_truth, video_ids)
    ids = clip_gt.videos.index
    truth = ground_truth.select(ids).instances
    clips = clip_gt.instances
    inst = truth.reset_index(drop=True).assign(length=lambda d: d["t_end"] - d["t_start"])
    pairs = inst.reset_index().merge(clips, on="video_id", suffixes=("", "_clip"))
    overlap = (np.minimum(pairs["t_end"], pairs["t_end_clip"]) - np.maximum(pairs["t_start"], pairs["t_start_clip"]))
    inside = overlap.clip(lower=0).groupby(pairs["index"]).sum().reindex(inst.index, fill_value=0.0)
    inst["inside_s"] = np.minimum(inside.to_numpy(), inst["length"].to_numpy())
    inst["outside_fraction"] = 1 - inst["inside_s"] / inst["length"]
    inst["status"] = np.where(inst["inside_s"] <= 0, "outside the clip",
                              np.where(inst["outside_fraction"] > 1e-9, "partly outside", "inside the clip"))

    truth_seg, clip_seg_all = truth[["t_start", "t_end"]].to_numpy(), clips[["t_start", "t_end"]].to_numpy()
    truth_rows, clip_rows = truth.groupby("video_id").indices, clips.groupby("video_id").indices
    durations = ground_truth.videos["duration"]
    best, counts = [], np.zeros(len(CANDIDATE_GROUPS) ** 2, dtype=int)
    for vid in ids:
        clip_seg = clip_seg_all[clip_rows[vid]]
        true_seg = truth_seg[truth_rows[vid]] if vid in truth_rows else np.zeros((0, 2))
        best.append(float(tiou(clip_seg, true_seg).max()) if len(true_seg) else 0.0)
        candidates = proposals.segments(vid, float(durations[vid]))
        groups = [_candidate_group(tiou(candidates, seg).max(axis=1) if len(seg) else np.zeros(len(candidates)),
                                   positive_tiou, negative_tiou) for seg in (true_seg, clip_seg)]
        counts += np.bincount(groups[0] * len(CANDIDATE_GROUPS) + groups[1], minlength=len(counts))
    crosstab = pd.DataFrame(counts.reshape(len(CANDIDATE_GROUPS), -1), index=pd.Index(CANDIDATE_GROUPS, name="temporal"),
                            columns=pd.Index(CANDIDATE_GROUPS, name="clip-only"))
    return ClipDiagnostics(inst, pd.DataFrame({"video_id": ids, "best_tiou": best}), crosstab)


@dataclass
class KineticsBenchmark:
    """What :func:`kinetics_benchmark` returns.

    ``runs``: one row per (seed, training): ``seed, training, train_videos, test_videos,
    test_classes, test_classes_untrained`` (held-out classes with no training video),
    ``fit_seconds``, and mAP in % per :data:`TABLE1_COLUMNS`. ``diagnostics``: the
    :class:`ClipDiagnostics` of all the training videos.
    """

    runs: pd.DataFrame
    diagnostics: ClipDiagnostics

    def table(self, level: float = 0.95) -> pd.DataFrame:
        """Table 1: this reproduction's two rows (mean over seeds and Student-t interval, ``<col>_ci_low``,
        ``<col>_ci_high``), the paper's four rows, and the End-to-End rows that cannot be reproduced
        here, marked so in ``note``. Columns: ``source, model, training, seeds``, one per tIoU and
        ``average`` (mAP, %), ``note``, then the intervals."""
        rows = []
        for training in TRAININGS:
            runs = self.runs[self.runs["training"] == training]
            row = {"source": "this reproduction (simulated features)", "model": "Stage-Wise", "training": training,
                   "seeds": runs["seed"].nunique(), "note": ""}
            for col in TABLE1_COLUMNS:
                row[col], row[f"{col}_ci_low"], row[f"{col}_ci_high"] = mean_ci(runs[col], level)
            rows.append(row)
        for training in TRAININGS:
            rows.append({"source": "this reproduction (simulated features)", "model": "End-to-End (SSN)",
                         "training": training, "seeds": 0, "note": NOT_REPRODUCIBLE})
        for (model, training), values in PAPER_TABLE1.items():
            rows.append({"source": "paper (Table 1)", "model": model, "training": training, "seeds": np.nan,
                         "note": "", **dict(zip(TABLE1_COLUMNS, values))})
        table = pd.DataFrame(rows)
        first = ["source", "model", "training", "seeds", *TABLE1_COLUMNS, "note"]
        return table.reindex(columns=first + [f"{c}_ci_{s}" for c in TABLE1_COLUMNS for s in ("low", "high")])

    def display(self, digits: int = 1) -> pd.DataFrame:
        """:meth:`table` for reading: each measured cell ``"mean [low, high]"``, the intervals folded in."""
        table = self.table()
        shown = table[["source", "model", "training", "seeds", *TABLE1_COLUMNS, "note"]].astype(object)
        for col in TABLE1_COLUMNS:
            shown[col] = [("" if pd.isna(m) else f"{m:.{digits}f}") if pd.isna(lo) else
                          f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
                          for m, lo, hi in zip(table[col], table[f"{col}_ci_low"], table[f"{col}_ci_high"])]
        shown["seeds"] = ["" if pd.isna(s) else int(s) for s in table["seeds"]]
        return shown

    def paired(self, level: float = 0.95) -> pd.DataFrame:
        """Temporal minus clip-only, paired by seed: one row per column of Table 1 with ``tiou,
        diff_mean, diff_ci_low, diff_ci_high, seeds`` (mAP points)."""
        runs = self.runs.rename(columns={"training": "selector"})
        diff = paired_differences(runs, baseline="clip-only", columns=TABLE1_COLUMNS, level=level, keys=("seed",))
        temporal = diff.set_index("selector").loc["temporal"]
        return pd.DataFrame([{"tiou": col, **{f"diff_{part}": temporal[f"{col}_diff_vs_clip-only_{part}"]
                                              for part in ("mean", "ci_low", "ci_high")},
                              "seeds": int(temporal["pairs"])} for col in TABLE1_COLUMNS])


def _detection_checks(detections: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """``video_accuracy``: share of the held-out videos whose best-scored detection has one of the
    video's classes; ``top_label_share``: share of all detections carrying the most frequent label
    (near 1 when a classifier has collapsed onto one class)."""
    best = detections.sort_values("score", ascending=False, kind="stable").drop_duplicates("video_id")
    right = best.merge(truth[["video_id", "label"]].drop_duplicates(), on=["video_id", "label"])
    return {"video_accuracy": len(right) / truth["video_id"].nunique(),
            "top_label_share": float(detections["label"].value_counts(normalize=True).iloc[0]) if len(detections)
            else np.nan}


def benchmark_videos(ground_truth: GroundTruth) -> tuple[list, list]:
    """The training videos (annotated, with a known clip) and the held-out ones (annotated, no clip)."""
    annotated = pd.Index(ground_truth.instances["video_id"].unique())
    with_clip = annotated.isin(clip_segments(ground_truth)["video_id"])
    if not with_clip.any():
        raise ValueError("no annotated video has a labelled clip: Table 1 needs the Kinetics clip list "
                         "(read_kinetics(..., clips=...))")
    if with_clip.all():
        raise ValueError("every annotated video has a clip: no held-out videos to evaluate on")
    return annotated[with_clip].tolist(), annotated[~with_clip].tolist()


def kinetics_benchmark(ground_truth: GroundTruth, seeds, *, localizer=None, feature_params: dict | None = None,
                       train_videos: int | None = None, test_videos: int | None = None,
                       progress: bool = True) -> KineticsBenchmark:
    """Table 1's runs (see the module docstring): per seed, features simulated on the chosen videos'
    true annotations, then a clone of ``localizer`` (default :class:`StageWiseLocalizer`) fitted on
    the training videos twice, with temporal and with clip-only labels, and both evaluated on the
    held-out videos. ``train_videos`` / ``test_videos``: at most that many of each (None or 0: all),
    drawn per seed."""
    localizer = StageWiseLocalizer() if localizer is None else localizer
    train_pool, test_pool = benchmark_videos(ground_truth)
    thresholds = np.union1d(TABLE1_TIOU, ACTIVITYNET_TIOU)
    rows = []
    for seed in tqdm(list(seeds), desc="Table 1 seeds", unit="seed", disable=not progress):
        train_ids = sorted(draw_subset(train_pool, train_videos or None, random_state=seed))
        test_ids = sorted(draw_subset(test_pool, test_videos or None, random_state=seed))
        chosen = ground_truth.select(train_ids + test_ids)
        data = Dataset(chosen, simulate_features(chosen, random_state=seed, **(feature_params or {})))
        testing = data.subset(test_ids)
        test_classes = set(testing.instances["label"])
        for training in TRAININGS:
            labels = None if training == "temporal" else clip_only_ground_truth(chosen, train_ids)
            train = data.subset(train_ids, ground_truth=labels)
            model = clone(localizer).set_params(random_state=seed)
            with timed() as fit:
                model.fit(train)
            detections = model.predict(testing)
            result = evaluate_detections(testing.instances, detections, thresholds,
                                         ignore_unknown_labels=True, video_ids=test_ids)
            at = dict(zip(np.round(result.tiou_thresholds, 2), 100 * result.mAP))
            rows.append({"seed": seed, "training": training, "train_videos": len(train_ids),
                         "test_videos": len(test_ids), "test_classes": len(test_classes),
                         "test_classes_untrained": len(test_classes - set(train.instances["label"])),
                         "fit_seconds": fit.seconds, **_detection_checks(detections, testing.instances),
                         **{f"{t:.1f}": at[round(t, 2)] for t in TABLE1_TIOU},
                         "average": float(np.mean([at[round(t, 2)] for t in ACTIVITYNET_TIOU]))})
    return KineticsBenchmark(pd.DataFrame(rows), clip_diagnostics(ground_truth, train_pool,
                                                                   proposals=localizer.proposals,
                                                                   positive_tiou=localizer.positive_tiou,
                                                                   negative_tiou=localizer.negative_tiou))
