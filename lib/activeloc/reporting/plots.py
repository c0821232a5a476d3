"""Figures, drawn with seaborn on matplotlib's non-interactive backend when run headless."""

from __future__ import annotations

import matplotlib

if not matplotlib.get_backend().lower().startswith(("module://matplotlib_inline", "module://ipympl")):
    matplotlib.use("Agg")

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..data.attributes import BINS, PAIRS, RANGES, class_counts, durations_kind, joint_table, statistics_by_set
from ..data.simulator import WORLD_LEVELS
from ..evaluation.curves import interpolate_curves, mean_ci


def t_interval(values) -> tuple[float, float]:
    """The 95 % Student-t interval of the mean, as the tables give it (seaborn's own "ci" bootstraps)."""
    _, low, high = mean_ci(values)
    return low, high


def _axes(figsize=(7, 5), **subplots):
    sns.set_theme(style="whitegrid", context="notebook")
    return plt.subplots(figsize=figsize, **subplots)


def _finish(fig, ax, xlabel: str, ylabel: str, title: str):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


TEMPORAL_ATTRIBUTES = {
    "duration": "video duration (s)",
    "length": "instance length (s)",
    "coverage": "instance coverage (length / duration)",
    "instances_per_video": "instances per video",
}


def plot_temporal_comparison(simulated: dict, real: dict, ks: pd.DataFrame):
    """Four panels, simulated against real, one per temporal attribute, KS distance in each title."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    ks = ks.set_index("attribute")["ks"]
    for ax, (attr, xlabel) in zip(axes, TEMPORAL_ATTRIBUTES.items()):
        frame = pd.concat([
            pd.DataFrame({"value": np.asarray(simulated[attr], dtype=float), "data": "simulated"}),
            pd.DataFrame({"value": np.asarray(real[attr], dtype=float), "data": "ActivityNet 1.3"}),
        ], ignore_index=True)
        if attr == "instances_per_video":
            frame["value"] = frame["value"].clip(upper=8)
            sns.histplot(frame, x="value", hue="data", discrete=True, stat="proportion",
                         common_norm=False, multiple="dodge", shrink=0.8, ax=ax)
            ax.set_xlabel("instances per video (8 = 8 or more)")
        else:
            sns.ecdfplot(frame, x="value", hue="data", ax=ax)
            ax.set_xlim(0, frame["value"].quantile(0.995))  # a few very long videos would squash the rest
            ax.set_xlabel(xlabel)
            ax.set_ylabel("cumulative fraction")
        ax.set_title(f"{attr.replace('_', ' ')}: KS = {ks[attr]:.3f}")
    fig.suptitle("Simulated temporal structure against real ActivityNet 1.3 (training + validation)")
    fig.tight_layout()
    return fig


def plot_proposal_recall(curves: pd.DataFrame):
    """AR against AN, one line per ``source`` (columns ``source, an, ar``)."""
    fig, ax = _axes((6, 4.5))
    sns.lineplot(curves, x="an", y="ar", hue="source", ax=ax)
    ax.set_ylim(0, 1)
    return _finish(fig, ax, "average number of proposals per video (AN)", "average recall, tIoU 0.5:0.05:0.95 (AR)",
                   "Sliding-window candidates: AR@AN")


def plot_learning_curve(curve: pd.DataFrame, band=(0.4, 0.7), band_ratio: float = 0.1):
    """Fraction of full average mAP against labelled ratio, mean and 95 % confidence band over seeds;
    the shaded bar marks the range the 10 % model is calibrated to fall in."""
    fig, ax = _axes((6.5, 4.5))
    ax.fill_between([band_ratio - 0.015, band_ratio + 0.015], *band, color="tab:orange", alpha=0.25,
                    label=f"calibration band at {band_ratio:.0%}")
    sns.lineplot(curve, x="ratio", y="fraction_of_full", marker="o", errorbar=t_interval, ax=ax,
                 label="stage-wise localizer (mean, 95 % CI)")
    ax.set_ylim(0, 1.1)
    ax.legend(loc="lower right")
    return _finish(fig, ax, "ratio of labelled Selection videos (random subset)",
                   "fraction of full average mAP (tIoU 0.5:0.95)", "Localizer learning curve on random subsets")


# The paper's Figure 3 numbers, where it gives them.
PAPER_RATIO_TO_80 = {"LAL": 0.35, "MCLE": 0.38, "uncertainty": 0.42, "random": 0.65}
PAPER_MCLE_AULC = {16: 0.75, 32: 0.75, 64: 0.65}


LEARNING_CURVE_AXES = {  # x column: (its AULC column in the per-run table, axis label)
    "labelled_ratio": ("aulc", "ratio of labelled Selection videos"),
    "seconds_ratio": ("aulc_seconds", "ratio of Selection's seconds of video annotated"),
}


def plot_fig3_left(curves: pd.DataFrame, per_run: pd.DataFrame, x: str = "labelled_ratio", testbed: str | None = None,
                   paired: pd.DataFrame | None = None, baseline: str = "random"):
    """% of full mAP against labelled ratio (or, with ``x="seconds_ratio"``, against the fraction of
    seconds of video annotated) per selector, mean and 95 % band over seeds; the paper's ratios
    needed for 80 % are marked on the per-video axis. With ``paired`` (the table of
    :func:`~activeloc.evaluation.curves.paired_difference_curve` against ``baseline``, per-video
    axis only), a second panel below: each selector's difference to the baseline, paired by seed,
    mean and 95 % t band, around a zero line."""
    if paired is None:
        fig, ax = _axes()
    else:
        fig, (ax, below) = _axes((7, 8.5), nrows=2, sharex=True, height_ratios=(5, 3))
    aulc_column, xlabel = LEARNING_CURVE_AXES[x]
    aulc = per_run.groupby("selector")[aulc_column].mean()
    if x != "labelled_ratio":  # runs reach different x at each step: average them on one grid
        curves = interpolate_curves(curves, x)
    selectors = sorted(curves["selector"].unique())
    colours = dict(zip(selectors, sns.color_palette(n_colors=len(selectors))))  # the same in both panels
    label = {s: f"{s} (AULC {aulc[s]:.3f})" for s in selectors}
    data = curves.sort_values("selector").assign(selector=lambda d: d["selector"].map(label),
                                                 percent=lambda d: 100 * d["fraction_of_full"])
    sns.lineplot(data, x=x, y="percent", hue="selector", palette={label[s]: colours[s] for s in selectors},
                 errorbar=t_interval, ax=ax)
    ax.legend(loc="lower right", fontsize=8)
    ax.axhline(80, color="grey", lw=1, ls="--")
    if x == "labelled_ratio":
        # Labels hang below the 80 % line, clear of the curves' plateau and the title.
        for name, ratio in PAPER_RATIO_TO_80.items():
            ax.plot([ratio], [80], marker="v", color="black", ms=7)
            ax.annotate(f"paper {name}", (ratio, 80), xytext=(0, -8), textcoords="offset points", rotation=90,
                        ha="center", va="top", fontsize=8)
    title = "Figure 3 (left): selection functions" if x == "labelled_ratio" else "Learning curves in annotation cost"
    ylabel = "% of full mAP (average mAP, tIoU 0.5:0.95)"
    if paired is None:
        return _finish(fig, ax, xlabel, ylabel, _titled(title, testbed))
    ax.set(xlabel="", ylabel=ylabel, title=_titled(title, testbed))
    below.axhline(0, color="grey", lw=1, ls="--")
    for selector, line in paired.groupby("selector", sort=True):
        below.plot(line["labelled_ratio"], 100 * line["diff_mean"], color=colours[selector], label=selector)
        below.fill_between(line["labelled_ratio"], 100 * line["diff_ci_low"], 100 * line["diff_ci_high"],
                           color=colours[selector], alpha=0.2)
    below.legend(loc="upper right", fontsize=8)
    return _finish(fig, below, xlabel, f"difference to {baseline}\n(points of % of full mAP)",
                   f"Paired by seed: selector minus {baseline} (mean, 95 % t band)")


def _titled(title: str, testbed: str | None) -> str:
    return title if testbed is None else f"{title} [{testbed}]"


def plot_fig3_center(per_run: pd.DataFrame, testbed: str | None = None):
    """AULC against batch size per selector (mean and 95 % t-interval over seeds), the paper's MCLE points marked."""
    fig, ax = _axes()
    sns.pointplot(per_run, x="batch_size", y="aulc", hue="selector", errorbar=t_interval, dodge=0.2,
                  native_scale=True, log_scale=(2, None), ax=ax)
    ax.scatter(list(PAPER_MCLE_AULC), list(PAPER_MCLE_AULC.values()), marker="x", color="black",
               label="paper: MCLE", zorder=5)
    sizes = sorted(per_run["batch_size"].unique())
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.legend()
    return _finish(fig, ax, "batch size (videos per step, log scale)", "AULC (% of full mAP vs labelled ratio)",
                   _titled("Figure 3 (centre): effect of batch size", testbed))


def plot_fig3_right(per_run: pd.DataFrame, testbed: str | None = None):
    """AULC against oracle noise per selector (mean and 95 % t-interval over seeds)."""
    fig, ax = _axes()
    sns.pointplot(per_run.assign(noise_pct=100 * per_run["noise"]), x="noise_pct", y="aulc", hue="selector",
                  errorbar=t_interval, dodge=0.4, native_scale=True, ax=ax)
    return _finish(fig, ax, "oracle noise (%): returned instances have mean tIoU 1 - noise with the truth",
                   "AULC (% of full mAP vs labelled ratio)", _titled("Figure 3 (right): effect of a noisy oracle", testbed))


def plot_monte_carlo(data: pd.DataFrame):
    """LAL's Monte-Carlo gains (before they are ranked within their state): their distribution, and
    against the labelled-set size."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    sns.histplot(data, x="gain", bins=40, ax=left)
    left.axvline(0, color="grey", lw=1, ls="--")
    left.set(xlabel="gain in attention mAP from one added video", title="Monte-Carlo gains")
    sns.scatterplot(data, x="labelled", y="gain", s=12, alpha=0.5, ax=right)
    sns.regplot(data, x="labelled", y="gain", x_bins=8, fit_reg=False, color="tab:red", ax=right)
    right.axhline(0, color="grey", lw=1, ls="--")
    right.set(xlabel="labelled Knowledge-Source videos", ylabel="gain in attention mAP",
              title="Gain against labelled-set size (red: 8 bins, mean and 95 % CI)")
    fig.tight_layout()
    return fig


def plot_predicted_vs_actual(predictions: pd.DataFrame, r2: float):
    """Cross-validated predictions of the LAL regressor against the Monte-Carlo targets."""
    fig, ax = _axes((5.5, 5))
    sns.scatterplot(predictions, x="target", y="predicted", hue="labelled", s=14, palette="viridis", ax=ax)
    low, high = predictions[["target", "predicted"]].min().min(), predictions[["target", "predicted"]].max().max()
    ax.plot([low, high], [low, high], color="grey", lw=1, ls="--")
    return _finish(fig, ax, "Monte-Carlo target (the gain normalised within its state)", "predicted (5-fold cross-validation)",
                   f"LAL regressor (held-out R2 {r2:.2f})")


def plot_feature_importances(importances: pd.DataFrame, top: int = 15):
    """The ``top`` features by permutation importance, coloured by group, with their spread."""
    fig, ax = _axes((7, 0.35 * top + 1.5))
    shown = importances.head(top)
    colours = dict(zip(sorted(importances["group"].unique()), sns.color_palette(n_colors=2)))
    ax.barh(shown["feature"], shown["importance_mean"], xerr=shown["importance_std"],
            color=[colours[g] for g in shown["group"]])
    ax.invert_yaxis()
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c, label=g) for g, c in colours.items()], loc="lower right")
    return _finish(fig, ax, "drop in held-out R2 when shuffled", "", "What the LAL regressor relies on")


# What section 5.2 of the paper says of Kinetics-Localization (Figure 4), by the rows of key_figures.
PAPER_FIG4 = {
    "classes": "75", "videos": "15,000", "instances": "more than 30,000", "instances per video": "2.2",
    "videos per class, min": "close to uniform", "videos per class, max": "close to uniform",
    "% instances with coverage <= 0.4 (XS, S)": "more than half", "% instances with coverage XS": "a large portion",
    "% instances with coverage XL": "a large portion", "% instances of length XS (<= 30 s)": "not given",
    "% instances with coverage XS and length XS": "34.9",
    "% of coverage-XL instances alone in their video": "most (\"tend to have no neighbours\")",
}

FIG4_ATTRIBUTES = {"coverage": "coverage (length / duration)", "length": "length (s)",
                   "instances_per_video": "instances per video"}


def plot_fig4(sets, *, named_classes: int = 80):
    """Figure 4 for ``sets`` (``{name: GroundTruth}``) side by side. Top, one panel per set: instances and
    videos per class, classes sorted by instances (named when at most ``named_classes``, else by rank).
    Middle, one panel per attribute: percent of instances per bin, the sets side by side. Bottom, one row
    per set: the pairwise tables of :data:`~activeloc.data.attributes.PAIRS` as heatmaps, percent of the
    set's instances per cell. Where a set's durations are estimated, its coverage is marked so.

    Each axis carries a label: ``fig4:classes:<set>``, ``fig4:bins:<attribute>``,
    ``fig4:joint:<set>:<rows>:<columns>``."""
    names = list(sets)
    estimated = {name: durations_kind(gt) for name, gt in sets.items()}
    estimated = {name: kind for name, kind in estimated.items() if kind != "given"}
    sns.set_theme(style="whitegrid", context="notebook")
    columns = math.lcm(len(names), len(PAIRS))
    fig = plt.figure(figsize=(6 * len(PAIRS), 4.3 * (2 + len(names))), layout="constrained")
    grid = fig.add_gridspec(2 + len(names), columns, height_ratios=[1.1, 1] + [1.1] * len(names))
    colours = dict(zip(names, sns.color_palette(n_colors=len(names))))
    span = columns // len(names)
    for i, name in enumerate(names):
        ax = fig.add_subplot(grid[0, i * span:(i + 1) * span], label=f"fig4:classes:{name}")
        _class_panel(ax, name, class_counts(sets[name]), colours[name], named_classes)
    stats = statistics_by_set(sets)
    span = columns // len(PAIRS)
    for i, attribute in enumerate(FIG4_ATTRIBUTES):
        ax = fig.add_subplot(grid[1, i * span:(i + 1) * span], label=f"fig4:bins:{attribute}")
        _bins_panel(ax, stats[stats["attribute"] == attribute], attribute, colours, estimated)
    for row, name in enumerate(names, start=2):
        for i, (rows, cols) in enumerate(PAIRS):
            ax = fig.add_subplot(grid[row, i * span:(i + 1) * span], label=f"fig4:joint:{name}:{rows}:{cols}")
            _heatmap(ax, joint_table(sets[name], rows, cols))
            ax.set(xlabel=FIG4_ATTRIBUTES[cols], ylabel=FIG4_ATTRIBUTES[rows],
                   title=f"{name}{' (estimated durations)' if 'coverage' in (rows, cols) and name in estimated else ''}"
                         f": % of instances")
            ax.title.set_fontsize(10)
    note = ("; ".join(f"{name}: durations {kind}" for name, kind in estimated.items())
            + ". Coverage (length / duration) rests on those estimates; length and instances per video do not."
            ) if estimated else "All durations as given."
    fig.suptitle(f"Figure 4: {', '.join(names)}\n{note}", fontsize=12)
    return fig


def _heatmap(ax, table: pd.DataFrame) -> None:
    """An annotated heatmap of ``table`` (rows top to bottom), as an image. (seaborn's heatmap draws the
    whole figure once per call: slow in a figure of many panels.)"""
    values = table.to_numpy(dtype=float)
    high = max(float(values.max()), 1e-9)
    ax.imshow(values, cmap="Blues", vmin=0, vmax=high, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=8,
                color="white" if value > 0.6 * high else "black")
    ax.set_xticks(range(values.shape[1]), table.columns)
    ax.set_yticks(range(values.shape[0]), table.index)
    ax.grid(False)


def _class_panel(ax, name: str, counts: pd.DataFrame, colour, named_classes: int) -> None:
    rank = np.arange(1, len(counts) + 1)
    if len(counts) <= named_classes:
        ax.bar(rank, counts["instances"], width=0.8, color=colour, alpha=0.45, label="instances")
        ax.bar(rank, counts["videos"], width=0.5, color=colour, label="videos")
        ax.set_xticks(rank, counts["label"], rotation=90, fontsize=6)
        ax.set_xlabel("class (sorted by instances)")
    else:  # one step outline per count: hundreds of bars would be hundreds of patches to draw
        edges = np.arange(0.5, len(counts) + 1)
        ax.stairs(counts["instances"], edges, fill=True, color=colour, alpha=0.45, label="instances")
        ax.stairs(counts["videos"], edges, fill=True, color=colour, label="videos")
        ax.set_xlabel(f"class rank by instances (1 to {len(counts)})")
    ax.grid(False, axis="x")
    ax.set_xlim(0.5, len(counts) + 0.5)
    ax.set_ylabel("per class")
    ax.set_title(f"{name}: {len(counts)} classes, {counts['instances'].sum():,} instances; per class "
                 f"{counts['videos'].min()}-{counts['videos'].max()} videos", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)


def _bins_panel(ax, stats: pd.DataFrame, attribute: str, colours: dict, estimated: dict) -> None:
    ticks = [f"{b}\n{r}" for b, r in zip(BINS, RANGES[attribute])]
    sns.barplot(stats.assign(bin=pd.Categorical(stats["bin"], BINS)), x="bin", y="percent", hue="set",
                palette=colours, ax=ax)
    for bars in ax.containers:
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(BINS)), ticks, fontsize=8)
    flagged = [name for name in estimated if attribute == "coverage"]
    ax.set(xlabel=FIG4_ATTRIBUTES[attribute], ylabel="% of instances",
           title=FIG4_ATTRIBUTES[attribute] + (f"\n(estimated durations: {', '.join(flagged)})" if flagged else ""))
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8)
def plot_table1(runs: pd.DataFrame, paper: pd.DataFrame, columns):
    """Table 1 as curves: mAP (%) against tIoU for each training (mean and 95 % band over seeds),
    the paper's Stage-Wise rows dashed beside them. ``runs``: one row per (seed, training) with a
    column per tIoU in ``columns``; ``paper``: rows with ``training`` and the same columns."""
    fig, ax = _axes((7, 4.5))
    long = runs.melt(id_vars=["seed", "training"], value_vars=list(columns), var_name="tiou", value_name="mAP")
    long["tiou"] = long["tiou"].astype(float)
    sns.lineplot(long, x="tiou", y="mAP", hue="training", marker="o", errorbar=t_interval, ax=ax)
    colours = {line.get_label(): line.get_color() for line in ax.get_lines() if not line.get_label().startswith("_")}
    for training, values in zip(paper["training"], paper[list(columns)].to_numpy(float)):
        ax.plot([float(c) for c in columns], values, ls="--", color=colours.get(training, "grey"),
                label=f"paper, {training}")
    ax.set_ylim(bottom=0)
    ax.legend(title=None)
    return _finish(fig, ax, "tIoU threshold", "mAP (%)",
                   "Table 1: trained on temporal annotations vs on 10 s clips (this reproduction solid)")


def plot_campaign(curves: pd.DataFrame):
    """The Kinetics campaign's learning curves: average mAP (%) on the held-out videos against videos
    annotated (left) and against annotator hours (right), per selector, mean and 95 % t band over
    seeds (runs of a seed reach different hours at each step: averaged on one grid)."""
    fig, axes = _axes((12, 4.5), ncols=2, sharey=True)
    data = curves.assign(percent=100 * curves["average_mAP"]).sort_values("selector")
    sns.lineplot(data, x="labelled_videos", y="percent", hue="selector", errorbar=t_interval, marker="o", ax=axes[0])
    hours = interpolate_curves(data, "annotator_hours", "percent").sort_values("selector")
    sns.lineplot(hours, x="annotator_hours", y="percent", hue="selector", errorbar=t_interval, ax=axes[1])
    axes[0].set(xlabel="videos annotated", ylabel="average mAP (%, tIoU 0.5:0.95), held-out videos",
                title="Campaign against videos annotated")
    return _finish(fig, axes[1], "annotator hours (time model)", "", "Campaign against annotator hours")


def plot_worlds(table: pd.DataFrame, levels=WORLD_LEVELS):
    """One panel per world knob: each selector's paired AULC difference to Random (mean and 95 %
    t-interval over seeds, from the worlds table) at each level of the knob; 0 is Random."""
    knobs = list(dict.fromkeys(table["knob"]))
    order = [lv for lv in levels if lv in set(table["level"])]
    selectors = [s for s in dict.fromkeys(table["selector"]) if s != "random"]
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, len(knobs), figsize=(3.6 * len(knobs) + 1, 4), sharey=True, squeeze=False)
    colours = dict(zip(selectors, sns.color_palette(n_colors=max(1, len(selectors)))))
    for ax, knob in zip(axes[0], knobs):
        rows = table[table["knob"] == knob]
        for i, selector in enumerate(selectors):
            own = rows[rows["selector"] == selector].set_index("level").reindex(order)
            x = np.arange(len(order)) + (i - (len(selectors) - 1) / 2) * 0.08
            mean = own["aulc_diff_vs_random_mean"].to_numpy()
            err = np.abs(np.vstack([mean - own["aulc_diff_vs_random_ci_low"].to_numpy(),
                                    own["aulc_diff_vs_random_ci_high"].to_numpy() - mean]))
            ax.errorbar(x, mean, yerr=np.nan_to_num(err), marker="o", capsize=3, color=colours[selector],
                        label=selector)
        ax.axhline(0, color="black", lw=1)
        ax.set_xticks(range(len(order)), order)
        ax.set_title(knob.replace("_", " "))
        ax.set_xlabel("level")
    axes[0][0].set_ylabel("AULC minus Random's (paired by seed)")
    axes[0][-1].legend(loc="best", fontsize="small")
    fig.suptitle("Selectors against Random in each world (one knob moved at a time)")
    fig.tight_layout()
    return fig


def plot_step_timelines(inspections, video_ids=None):
    """Per inspected step (:class:`~activeloc.experiments.inspection.StepInspection`), one video's
    timeline as the run's model saw it (default: the step's first pick): ground truth, every
    candidate at the height of its attention, and the segments the selector's utility rests on."""
    fig, axes = _axes(figsize=(10, 2.6 * len(inspections)), nrows=len(inspections), squeeze=False)
    for ax, seen, vid in zip(axes[:, 0], inspections, video_ids or [None] * len(inspections)):
        vid = vid if vid is not None else seen.video_ids[0]
        one = seen.replay.pool.subset([vid])
        segments = seen.replay.localizer.candidate_segments(one)[vid]
        attention = seen.replay.localizer.attention_scores(one)[vid]
        ax.hlines(attention, segments[:, 0], segments[:, 1], colors=plt.cm.viridis(attention), lw=1, alpha=0.6,
                  label="candidates (attention)")
        truth = seen.dataset.subset([vid]).instances
        for i, (t0, t1) in enumerate(truth[["t_start", "t_end"]].to_numpy()):
            ax.axvspan(t0, t1, color="0.85", zorder=0, label="ground truth" if i == 0 else None)
        evidence = seen.selector.segment_evidence(seen.replay.localizer, seen.replay.pool, vid)
        if evidence is not None:  # drawn over the candidates they are, at their attention
            height = dict(zip(map(tuple, segments.tolist()), attention))
            ax.hlines([height[(a, b)] for a, b in zip(evidence["t_start"], evidence["t_end"])], evidence["t_start"],
                      evidence["t_end"], colors="crimson", lw=3, label=f"evidence ({evidence.attrs['what']})")
        row = seen.table.set_index("video_id").loc[vid]
        ax.set_xlim(0, float(seen.dataset.durations()[vid]))
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("attention")
        ax.set_title(f"{seen.selector_name}, seed {seen.seed}, step {seen.step}: {vid} "
                     f"(rank {row['rank']}, utility {row['utility']:.3g})", fontsize=10)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    return fig
