"""Figure 4's dataset statistics: instance attributes in DETAD's bins, and their pairwise tables.

Per instance (Alwassel et al. 2018, "Diagnosing error in temporal action detectors", as the paper's
Figure 4 uses them): ``coverage`` (length / its video's duration), ``length`` (seconds) and
``instances_per_video`` (the number of instances, of any class, in its video). Five bins each, closed
on the right as DETAD's ``pandas.cut`` makes them, so that a value on an edge goes to the lower bin:

- coverage: XS (0, 0.2], S (0.2, 0.4], M (0.4, 0.6], L (0.6, 0.8], XL (0.8, 1];
- length: XS (0, 30], S (30, 60], M (60, 120], L (120, 180], XL > 180;
- instances per video: XS [0, 1], S (1, 4], M (4, 8], L (8, 16], XL > 16.

Values are rounded to 1e-9 before binning, so that the float noise of a subtraction
(30.1 - 10.1 = 20.000000000000004) does not move a value off its edge. The ground truth is the one
:func:`read_ground_truth` repairs (segments clipped to the duration, empty ones dropped), so coverage
lies in (0, 1]. Where durations are estimated (``duration_estimated``), coverage depends on the
estimate: :func:`dataset_statistics` says for how many videos.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .annotations import AnnotationError, GroundTruth

BINS = ("XS", "S", "M", "L", "XL")
# attribute -> the four inner edges; each bin is (previous edge, edge]
EDGES = {
    "coverage": (0.2, 0.4, 0.6, 0.8),
    "length": (30.0, 60.0, 120.0, 180.0),
    "instances_per_video": (1, 4, 8, 16),
}
RANGES = {
    "coverage": ("(0, 0.2]", "(0.2, 0.4]", "(0.4, 0.6]", "(0.6, 0.8]", "(0.8, 1]"),
    "length": ("(0, 30]", "(30, 60]", "(60, 120]", "(120, 180]", "> 180"),
    "instances_per_video": ("[0, 1]", "(1, 4]", "(4, 8]", "(8, 16]", "> 16"),
}
PAIRS = (("coverage", "length"), ("coverage", "instances_per_video"), ("length", "instances_per_video"))


def instance_attributes(ground_truth: GroundTruth) -> pd.DataFrame:
    """One row per instance: ``video_id, label, length, coverage, instances_per_video``."""
    inst = ground_truth.instances
    length = inst["t_end"] - inst["t_start"]
    return pd.DataFrame({
        "video_id": inst["video_id"],
        "label": inst["label"],
        "length": length,
        "coverage": length / ground_truth.videos["duration"].loc[inst["video_id"]].to_numpy(dtype=float),
        "instances_per_video": inst.groupby("video_id")["video_id"].transform("size"),
    })


def attribute_bins(ground_truth: GroundTruth) -> pd.DataFrame:
    """One row per instance: the bin (XS..XL, an ordered categorical) of each attribute."""
    values = instance_attributes(ground_truth)
    return pd.DataFrame({
        name: pd.Categorical.from_codes(
            np.searchsorted(edges, values[name].to_numpy(dtype=float).round(9), side="left"),
            categories=BINS, ordered=True)
        for name, edges in EDGES.items()
    })


def _chosen(ground_truth: GroundTruth, subsets) -> GroundTruth:
    if not subsets:
        return ground_truth
    ids = pd.Index([])
    for name in dict.fromkeys(subsets):
        ids = ids.append(ground_truth.require_subset(name).videos.index)
    return ground_truth.select(ids)


def statistics_frame(ground_truth: GroundTruth, subsets=None) -> pd.DataFrame:
    """Tidy bins: one row per attribute and bin with ``range``, ``count`` and ``fraction`` of instances.

    ``subsets``: the subsets to count (all videos when None)."""
    path = None if ground_truth.report is None else ground_truth.report.path
    ground_truth = _chosen(ground_truth, subsets)
    if ground_truth.instances.empty:
        raise AnnotationError("no annotated instances to count", path=path, field="annotations")
    bins = attribute_bins(ground_truth)
    rows = []
    for name in EDGES:
        counts = bins[name].value_counts(sort=False)
        for label, span in zip(BINS, RANGES[name]):
            rows.append({"attribute": name, "bin": label, "range": span, "count": int(counts[label]),
                         "fraction": counts[label] / len(bins)})
    return pd.DataFrame(rows)


def dataset_statistics(ground_truth: GroundTruth, subsets=None) -> dict:
    """Figure 4's statistics as a JSON-ready dict: ``coverage_bins``, ``length_bins``,
    ``instances_per_video_bins`` (per bin: ``range``, ``count``, ``fraction``), ``instances``,
    ``videos`` (in the chosen subsets), ``annotated_videos``, ``estimated_durations`` (videos whose
    duration, and so their instances' coverage, is estimated) and ``subsets``."""
    frame = statistics_frame(ground_truth, subsets)
    chosen = _chosen(ground_truth, subsets)
    out = {f"{name}_bins": {row.pop("bin"): row for row in frame[frame["attribute"] == name]
                            .drop(columns="attribute").to_dict("records")}
           for name in EDGES}
    out.update(instances=len(chosen.instances), videos=len(chosen.videos),
               annotated_videos=int(chosen.instances["video_id"].nunique()),
               estimated_durations=int(chosen.estimated_durations().sum()),
               subsets=sorted(chosen.videos["subset"].unique().tolist()))
    return out


def joint_table(ground_truth: GroundTruth, rows: str, columns: str) -> pd.DataFrame:
    """Percent of instances in each (``rows`` bin, ``columns`` bin) cell; the cells sum to 100."""
    for name in (rows, columns):
        if name not in EDGES:
            raise ValueError(f"unknown attribute {name!r}; expected one of {list(EDGES)}")
    bins = attribute_bins(ground_truth)
    return pd.crosstab(bins[rows], bins[columns], normalize="all", dropna=False) * 100


def joint_tables(ground_truth: GroundTruth) -> dict[tuple[str, str], pd.DataFrame]:
    """Figure 4 (bottom): coverage x length, coverage x instances per video, length x instances per video."""
    return {pair: joint_table(ground_truth, *pair) for pair in PAIRS}


# -- Figure 4 for several datasets side by side ---------------------------------------------------

def class_counts(ground_truth: GroundTruth) -> pd.DataFrame:
    """Figure 4 (top): per class, ``videos`` (with at least one instance of it) and ``instances``;
    most instances first (ties: most videos, then by name)."""
    inst = ground_truth.instances
    counts = inst.groupby("label").agg(videos=("video_id", "nunique"), instances=("video_id", "size"))
    counts = counts.reset_index().sort_values(["instances", "videos", "label"], ascending=[False, False, True])
    return counts.reset_index(drop=True)


def durations_kind(ground_truth: GroundTruth) -> str:
    """Whether the annotated videos' durations (and so coverage) are ``"given"``, ``"estimated"``, or
    ``"estimated for N of M videos"``."""
    estimated = ground_truth.estimated_durations().loc[ground_truth.instances["video_id"].unique()]
    if not estimated.any():
        return "given"
    return "estimated" if estimated.all() else f"estimated for {int(estimated.sum()):,} of {len(estimated):,} videos"


def statistics_by_set(sets) -> pd.DataFrame:
    """Figure 4 (middle) for ``sets`` (``{name: GroundTruth}``): one row per set, attribute and bin with
    ``set, videos, annotated_videos, instances, classes, durations, attribute, bin, range, count, percent``
    (percent of the set's instances; each set's percents sum to 100 per attribute) and
    ``depends_on_durations`` (coverage rows: their bins rest on the durations, estimated or given)."""
    frames = []
    for name, gt in sets.items():
        frame = statistics_frame(gt)
        frames.append(pd.DataFrame({
            "set": name, "videos": len(gt.videos), "annotated_videos": gt.instances["video_id"].nunique(),
            "instances": len(gt.instances), "classes": gt.instances["label"].nunique(),
            "durations": durations_kind(gt), "attribute": frame["attribute"], "bin": frame["bin"],
            "range": frame["range"], "count": frame["count"], "percent": 100 * frame["fraction"],
            "depends_on_durations": frame["attribute"].eq("coverage")}))
    return pd.concat(frames, ignore_index=True)


def joint_tables_by_set(sets) -> dict[tuple[str, str], pd.DataFrame]:
    """Figure 4 (bottom) for ``sets``: per pair of :data:`PAIRS`, one wide table with a row per set and
    bin of the first attribute, ``set, durations, <first>``, then ``<second>_<bin>`` for each bin of the
    second: percent of the set's instances (:func:`joint_table`), summing to 100 per set."""
    out = {}
    for rows, columns in PAIRS:
        frames = []
        for name, gt in sets.items():
            table = joint_table(gt, rows, columns)
            wide = pd.DataFrame(table.to_numpy(), columns=[f"{columns}_{b}" for b in BINS])
            wide.insert(0, rows, list(BINS))
            wide.insert(0, "durations", durations_kind(gt))
            wide.insert(0, "set", name)
            frames.append(wide)
        out[(rows, columns)] = pd.concat(frames, ignore_index=True)
    return out


def key_figures(ground_truth: GroundTruth) -> dict[str, float]:
    """The figures section 5.2 of the paper quotes about Figure 4, measured on ``ground_truth``: sizes,
    instances per annotated video, the spread of class sizes, and percents of instances."""
    bins, per_class = attribute_bins(ground_truth), class_counts(ground_truth)
    alone = bins["instances_per_video"].eq("XS")
    return {
        "classes": len(per_class), "videos": int(ground_truth.instances["video_id"].nunique()),
        "instances": len(bins), "instances per video": len(bins) / ground_truth.instances["video_id"].nunique(),
        "videos per class, min": int(per_class["videos"].min()),
        "videos per class, max": int(per_class["videos"].max()),
        "% instances with coverage <= 0.4 (XS, S)": 100 * bins["coverage"].isin(["XS", "S"]).mean(),
        "% instances with coverage XS": 100 * bins["coverage"].eq("XS").mean(),
        "% instances with coverage XL": 100 * bins["coverage"].eq("XL").mean(),
        "% instances of length XS (<= 30 s)": 100 * bins["length"].eq("XS").mean(),
        "% instances with coverage XS and length XS": 100 * (bins["coverage"].eq("XS") & bins["length"].eq("XS")).mean(),
        "% of coverage-XL instances alone in their video": 100 * alone[bins["coverage"].eq("XL")].mean(),
    }


def percent_table(statistics: pd.DataFrame) -> pd.DataFrame:
    """:func:`statistics_by_set`'s rows as one row per set and attribute: ``set, attribute, durations,
    instances`` and the percent of instances in each bin (``XS`` .. ``XL``)."""
    keys = ["set", "attribute", "durations", "instances"]
    wide = statistics.pivot_table(index=keys, columns="bin", values="percent", sort=False, observed=True)
    return wide[list(BINS)].reset_index().rename_axis(columns=None)
