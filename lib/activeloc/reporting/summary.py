"""``reports/SUMMARY.md``: the key figures of a run, taken from the tables the notebooks wrote.

README quotes no result; it points here. Each section is one table of ``reports/tables/`` (per
testbed where there are several), shown as written, intervals folded into one column. Each
table says which notebook run wrote it (profile and time, from ``notebook_runs.csv``, which the
pipeline keeps), and one that this run did not write (another profile, a skipped testbed, a
notebook run by hand) is marked so; a table that no run wrote is left out.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from ..core.fingerprint import code_fingerprint
from ..core.io import write_text_atomic
from ..data.testbeds import TESTBEDS, testbed_dirs
from .tables import save_table, with_intervals

PAIRED = ("`aulc_diff_vs_random`: AULC minus Random's on the same seed and setting (the same initial labelled "
          "set), paired Student-t interval")
# Tables that are not a testbed's (written to the plain folders) but rest on the real Kinetics annotations.
KINETICS_LABEL = {"simulated": "real Kinetics-600 annotations, simulated features"}
# (title, notebook, table stem, columns to show (None: all), what it is[, {testbed: label} to look in])
SECTIONS = [
    ("Data", "01-dataset", "dataset_stats", ["split", "videos", "instances", "classes", "instances_per_video"],
     "videos per category-disjoint split"),
    ("Simulated against real ActivityNet", "01-dataset", "dataset_vs_activitynet", None,
     "Kolmogorov-Smirnov distance per temporal attribute"),
    ("Localizer", "02-localizer", "localizer_map", None, "mAP on Testing, trained on all of Selection"),
    ("Localizer stages", "02-localizer", "localizer_stages",
     ["stages", "average_mAP", "mAP@0.50", "fit_seconds", "relative_to_first", "convergence_warnings"],
     "the exact stages (default) against the paper's, fitted on all of Selection; `relative_to_first`: average "
     "mAP over the exact stages'"),
    ("Localizer learning curve", "02-localizer", "localizer_learning_curve_summary", None,
     "mean over seeds of random-subset fits"),
    ("Proposal recall", "02-localizer", "proposal_recall", None, "sliding windows, AR@AN"),
    ("Figure 3 left", "03-selection-ablation", "selection_ablation",
     ["selector", "aulc", "aulc_diff_vs_random", "ratio_to_80pct", "runs", "runs_never_80pct"],
     "AULC and labelled ratio to reach 80 % of full mAP (a run that never does is censored at its last ratio); "
     f"{PAIRED}; 95 % intervals over seeds"),
    ("Ablations and diverse batches", "03-selection-ablation", "selection_variants_vs_partner",
     ["selector", "partner", "aulc_diff_vs_partner", "ratio_to_80pct_diff_vs_partner", "pairs"],
     "MCLE's two terms alone and every selector's diversity-aware batch, each minus its partner (the selector it "
     "ablates or wraps) on the same seed, paired Student-t interval; on a Selection subsample (03's `variant_*` "
     "parameters)"),
    ("Full-data reference", "03-selection-ablation", "selection_reference", None,
     "average mAP of full-data training per seed"),
    ("Annotation cost", "03-selection-ablation", "annotation_cost",
     ["selector", "aulc_seconds", "seconds_to_80pct", "aulc", "runs"], "against seconds of video annotated"),
    ("Learned selectors' bootstraps", "03-selection-ablation", "selector_bootstrap", None,
     "time, artefact size, LAL regressor's held-out R2"),
    ("LAL regressors", "03b-bootstrap-selectors", "lal_regressors", None, "on LAL's Monte-Carlo data"),
    ("LAL target repeatability", "03b-bootstrap-selectors", "lal_target_repeatability", None,
     "the same pairs refitted under several seeds"),
    ("MCLE prior transfer", "03b-bootstrap-selectors", "mcle_prior_transfer", None,
     "class-agnostic attention mAP on Testing"),
    ("Figure 3 centre", "04-batch-size", "batch_size", ["selector", "batch_size", "aulc", "aulc_diff_vs_random", "runs"],
     f"AULC against batch size; {PAIRED}"),
    ("Diverse batches against batch size", "04-batch-size", "batch_size_diverse",
     ["selector", "partner", "batch_size", "aulc_diff_vs_partner", "pairs"],
     "each diverse variant minus its plain selector on the same seed, per batch size; paired Student-t interval"),
    ("Figure 3 right", "05-noisy-oracle", "noise", ["selector", "noise", "aulc", "aulc_diff_vs_random", "runs"],
     f"AULC against oracle noise; {PAIRED}"),
    ("Worlds: checks", "06-worlds", "worlds_checks", None,
     "selector-neutral checks per simulated world (before any selector ran): KS to real ActivityNet, the "
     "localizer's full-data mAP and its 10 % fraction"),
    ("Worlds", "06-worlds", "worlds",
     ["knob", "level", "selector", "aulc_diff_vs_random", "runs"],
     f"each world knob moved to low and high, one at a time (`default`: every knob at its default); {PAIRED}"),
    ("Worlds: the paper's conclusions", "06-worlds", "worlds_conclusions",
     ["claim", "worlds", "holds", "reversed", "undecided", "no_interval", "diff_min", "diff_max", "verdict",
      "not_holding_in"],
     "each ordered pair of the paper's ranking (LAL, MCLE, Uncertainty, Random) as a claim \"a beats b\": the worlds "
     "where its AULC difference, paired by seed, has a 95 % Student-t interval above 0 (`holds`), below 0 "
     "(`reversed`) or covering 0 (one seed: no interval), its smallest and largest mean over the worlds, and "
     "the verdict (`activeloc.reporting.conclusions`)"),
    ("Kinetics campaign", "07-kinetics-campaign", "kinetics_campaign_summary",
     ["selector", "runs", "videos", "annotator_hours", "map_at_budget", "map_at_budget_diff_vs_random", "aulc_videos",
      "aulc_videos_diff_vs_random", "aulc_hours", "aulc_hours_diff_vs_random"],
     "the campaign on 75 Kinetics classes against Random: average mAP on held-out videos at the budget, AULC against "
     "videos and against annotator hours (a simulated annotator and its time model), `_diff_vs_random`: minus "
     "Random's on the same seed; 95 % intervals over seeds; learned selectors bootstrapped on a previous dataset (ActivityNet's "
     "Knowledge-Source where present; the datasheet says which)",
     KINETICS_LABEL),
    ("Figure 4: Kinetics statistics", "08-kinetics-statistics", "kinetics_localization_bins", None,
     "percent of each set's instances per bin (coverage, length, instances per video; DETAD's bins); `durations`: "
     "`estimated` where the set's durations, and so its coverage, are estimated",
     {"simulated": "real annotations: Kinetics-600 temporal and ActivityNet 1.3"}),
    ("Table 1", "09-kinetics-benchmark", "table1",
     ["source", "model", "training", "seeds", "0.5", "0.5_ci_low", "0.5_ci_high", "average", "average_ci_low",
      "average_ci_high", "note"],
     "mAP (%) on held-out Kinetics-600 videos of the stage-wise localizer trained on the same videos with temporal "
     "annotations or with the 10 s clip only, simulated features, 95 % intervals over seeds; the paper's rows beside",
     KINETICS_LABEL),
    ("Table 1: what clip-only labels do", "09-kinetics-benchmark", "table1_clip_diagnostics", None,
     "over the training videos: true instances labelled background, candidates relabelled, the clip's best tIoU",
     KINETICS_LABEL),
]
RUNS = "notebook_runs"


def record_runs(root: Path, profile: str, records: list[dict]) -> pd.DataFrame:
    """Merge this run's notebook runs into ``reports/tables/notebook_runs.csv`` (the latest run of
    each notebook per profile: seconds, when it finished, why it was skipped) and return the table."""
    path = root / "reports" / "tables" / f"{RUNS}.csv"
    now = dt.datetime.now().isoformat(timespec="seconds")
    new = pd.DataFrame([{"notebook": r["notebook"].removesuffix(".ipynb"), "profile": profile,
                         "seconds": round(r["seconds"], 1), "finished": r.get("finished", now),
                         "skipped": r.get("skipped") or ""} for r in records])
    old = pd.read_csv(path, keep_default_na=False) if path.exists() else new.iloc[:0]
    merged = pd.concat([old, new]).drop_duplicates(["notebook", "profile"], keep="last")
    merged = merged.sort_values(["profile", "notebook"], ignore_index=True)
    save_table(merged, path)
    return merged


def _provenance(runs: pd.DataFrame, run: str, profile: str, this_run: set) -> str:
    """Which pipeline run wrote a notebook's tables, and whether it is this one."""
    done = runs[(runs["notebook"] == run) & (runs["skipped"] == "")] if len(runs) else runs
    if not len(done):
        return f"{run}, not written by `activeloc reproduce`"
    latest = done.sort_values("finished").iloc[-1]
    said = f"{run}, profile `{latest['profile']}`, {latest['finished']}"
    return said if (run, latest["profile"]) in this_run and latest["profile"] == profile else (
        f"{said}; **not from this run**")


def _section(root: Path, runs: pd.DataFrame, profile: str, this_run: set, title: str, notebook: str, stem: str,
             columns, note: str, labels: dict | None = None) -> str:
    parts = []
    for testbed, label in (labels or {t: t for t in TESTBEDS}).items():
        path = testbed_dirs(testbed, root)["tables"] / f"{stem}.csv"
        if not path.exists():
            continue
        table = with_intervals(pd.read_csv(path))
        if columns is not None:
            table = table[[c for c in columns if c in table.columns]]
        run = notebook if testbed == "simulated" else f"{notebook}@{testbed}"
        parts.append(f"*{label}* ({_provenance(runs, run, profile, this_run)})\n\n"
                     f"{table.to_markdown(index=False, floatfmt='.4g')}\n")
    return f"## {title}\n\n{note}.\n\n" + "\n".join(parts) if parts else ""


def write_summary(root: Path, profile: str, records: list[dict]) -> Path:
    """Write ``reports/SUMMARY.md`` from the tables present, after a pipeline run of ``profile``
    whose notebook runs are ``records``; returns its path."""
    runs = record_runs(root, profile, records)
    this_run = {(r["notebook"].removesuffix(".ipynb"), profile) for r in records if not r.get("skipped")}
    today = dt.date.today().isoformat()
    lines = [f"# Key figures\n\nWritten {today} after `activeloc reproduce --profile {profile}`, from the tables "
             f"in `reports/tables/` (code {code_fingerprint()}); each table says which notebook run wrote it. "
             "Regenerated by every `activeloc reproduce`; do not edit.\n"]
    lines += [s for s in (_section(root, runs, profile, this_run, *section) for section in SECTIONS) if s]
    lines.append("## Notebook runs\n\nWall-clock seconds on this machine, the latest run of each notebook per "
                 f"profile.\n\n{runs.to_markdown(index=False)}\n")
    path = root / "reports" / "SUMMARY.md"
    write_text_atomic("\n".join(lines), path)
    return path
