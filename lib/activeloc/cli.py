"""The ``activeloc`` command: validate annotations, evaluate detections, reproduce the notebooks."""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from .data.annotations import AnnotationError, read_ground_truth, read_results
from .evaluation.detection import evaluate_detections, parse_thresholds


def _validate(args) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the report below says it all
        gt = read_ground_truth(args.file, repair=not args.no_repair)
    report = gt.report.to_dict(with_repairs=args.details)
    report["subsets"] = gt.videos["subset"].value_counts().sort_index().to_dict()
    report["classes"] = int(gt.instances["label"].nunique())
    print(json.dumps(report, indent=2))
    return 0


def _evaluate(args) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gt = read_ground_truth(args.ground_truth, repair=args.repair)
    preds = read_results(args.results)
    result = evaluate_detections(
        gt.subset(args.subset).instances, preds, parse_thresholds(args.tiou),
        ignore_unknown_labels=args.ignore_unknown_labels,
    )
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def _simulate(args) -> int:
    from .active.registry import make_selector
    from .experiments.grid import make_cells, run_grid

    def split(text, kind):
        return [kind(x) for x in text.split(",") if x]

    selectors = split(args.selectors, str)
    for name in selectors:
        make_selector(name)  # an unknown name fails here, before any run starts
    cells = make_cells(args.dataset, selectors, split(args.batch_sizes, int), split(args.noise, float),
                       split(args.seeds, int), selection_videos=args.selection_videos,
                       testing_videos=args.testing_videos, knowledge_videos=args.knowledge_videos)
    history = run_grid(cells, args.out, n_jobs=args.jobs, scheduler=args.scheduler)
    final = history.sort_values("step").groupby("run_id").tail(1)
    print(final[["selector", "batch_size", "noise", "seed", "step", "average_mAP"]].to_string(index=False))
    print(f"{len(cells)} runs; tables in {args.out}/history and {args.out}/selections (Parquet)")
    return 0


def _reproduce(args) -> int:
    from .reporting.pipeline import run_pipeline

    records = run_pipeline(args.profile, only=args.only)
    for rec in records:
        if rec.get("skipped"):
            print(f"{rec['notebook']}: skipped, {rec['skipped']}")
        else:
            print(f"{rec['notebook']}: {rec['seconds']:.1f} s -> {rec['output']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="activeloc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check an ActivityNet-layout ground-truth file; print the load report as JSON")
    p.add_argument("file")
    p.add_argument("--no-repair", action="store_true", help="count defects without repairing them")
    p.add_argument("--details", action="store_true", help="list every repair")
    p.set_defaults(func=_validate)

    p = sub.add_parser("evaluate", help="ActivityNet detection mAP of a results file (offline, exact)")
    p.add_argument("ground_truth")
    p.add_argument("results")
    p.add_argument("--subset", default="validation")
    p.add_argument("--tiou", default="0.5:0.95:0.05", help="start:stop:step (inclusive) or a comma list")
    p.add_argument("--repair", action="store_true",
                   help="repair ground-truth defects first (the official tool uses the file as written)")
    p.add_argument("--ignore-unknown-labels", action="store_true",
                   help="drop predictions whose label is not in the ground truth instead of failing")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("simulate", help="run a grid of active-learning runs (selector x batch size x noise x seed)")
    p.add_argument("--dataset", default="data/processed/dataset", help="folder written by 01-dataset")
    p.add_argument("--out", required=True, help="results folder (history/ and selections/ Parquet parts)")
    p.add_argument("--selectors", default="random,uncertainty")
    p.add_argument("--batch-sizes", default="64")
    p.add_argument("--noise", default="0", help="oracle noise levels, e.g. 0,0.05,0.1")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--selection-videos", type=int, default=None, help="subsample Selection to this many videos")
    p.add_argument("--testing-videos", type=int, default=None, help="subsample Testing to this many videos")
    p.add_argument("--knowledge-videos", type=int, default=None,
                   help="subsample Knowledge-Source (what learned selectors learn from) to this many videos")
    p.add_argument("--jobs", type=int, default=1, help="local parallel runs (joblib)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("reproduce", help="run the notebooks through papermill into reports/")
    p.add_argument("--profile", default="quick", help="tiny | quick | paper (notebooks/profiles.toml)")
    p.add_argument("--only", action="append", help="notebook number or stem; repeatable")
    p.set_defaults(func=_reproduce)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (AnnotationError, ValueError, KeyError, OSError) as exc:
        print(f"activeloc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # PipelineError
        print(f"activeloc {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
