"""The ``activeloc`` command: validate, convert and describe annotations, evaluate detections, simulate runs,
reproduce the notebooks, serve the annotator app.

Every option is checked before any work starts. A user error (a bad option, file, video or
field) is one line on stderr and exit status 2; anything else is a bug, also one line (exit 1),
with the traceback only under ``--debug``. SIGINT and SIGTERM stop a command cleanly: parallel
workers are ended, finished results and checkpoints stay as they are (every write is atomic), and
the command says how to resume (exit 130 or 143).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import warnings
from pathlib import Path

from tqdm.auto import tqdm

from .core.errors import InputError, one_line
from .data.annotations import SUBSETS, AnnotationError, read_ground_truth, read_results, write_ground_truth
from .evaluation.detection import evaluate_detections, parse_thresholds

SEED_LIMIT = 2**32  # what numpy's seeding accepts


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, where argparse would print the usage first
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _checked(convert, check=None, expected=""):
    """An argparse type: ``convert`` the text, then ``check`` the value; a failure names the value
    and what was expected (argparse adds the option's name)."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError as exc:  # an InputError already says what is wrong, and what would do
            raise argparse.ArgumentTypeError(str(exc) if isinstance(exc, InputError) else f"{text!r} is not {expected}") from None
        if check is not None and not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {expected}")
        return value
    return parse


def _list_of(convert, check=None, expected=""):
    """An argparse type for a comma-separated list of at least one item."""
    item = _checked(convert, check, expected)

    def parse(text):
        items = [x.strip() for x in text.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{text!r}: give at least one value ({expected})")
        return [item(x) for x in items]
    return parse


def _thresholds(text):
    try:
        return parse_thresholds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _known_selector(name: str) -> str:
    from .active.registry import make_selector

    make_selector(name)  # an unknown name raises UnknownSelector, naming the ones there are
    return name


SIZE_LIMIT = 2**31 - 1  # far above any real dataset; numpy indexes with it on every platform
POSITIVE = {"check": lambda n: 1 <= n <= SIZE_LIMIT, "expected": f"a whole number from 1 to {SIZE_LIMIT}"}


def _writable_folder(path: str, option: str) -> Path:
    """``path`` created if needed, after checking that files can be written there."""
    if not path.strip():
        raise InputError(f"{option}: give a folder")
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    return folder


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
        warnings.simplefilter("ignore")  # repairs are for `activeloc validate` to report
        truth = read_ground_truth(args.ground_truth, repair=args.repair)
    truth = truth.require_subset(args.subset)
    if truth.instances.empty:
        raise AnnotationError(f"subset {args.subset!r} has no annotated instances to evaluate against",
                              path=args.ground_truth)
    predictions = read_results(args.results)
    try:
        result = evaluate_detections(truth.instances, predictions, args.tiou, video_ids=truth.video_ids,
                                     ignore_unknown_labels=args.ignore_unknown_labels)
    except InputError as exc:
        raise type(exc)(f"{args.results}: {exc}") from None
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def _convert_kinetics(args) -> int:
    from .core.io import write_json_atomic
    from .core.paths import activitynet_annotations
    from .data.kinetics import read_kinetics

    _writable_folder(str(Path(args.out).resolve().parent), "--out")
    activitynet_path = args.activitynet
    if activitynet_path is None:
        try:
            activitynet_path = activitynet_annotations()
        except FileNotFoundError:  # outside a project there is no ../shared/data to look in
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the load report below says it all
        activitynet = None if activitynet_path is None else read_ground_truth(activitynet_path)
        gt = read_kinetics(args.annotations, args.categories, clips=args.clips, activitynet=activitynet)
    write_ground_truth(gt, args.out)
    if args.report:
        write_json_atomic(gt.report.to_dict(with_repairs=True), args.report, indent=1)
    print(gt.report.summary())
    if activitynet_path is None:
        print("  no ActivityNet file (--activitynet, or ../shared/data): ids shared with it not checked")
    print(f"wrote {args.out}" + (f" and the full load report to {args.report}" if args.report else ""))
    return 0


def _stats(args) -> int:
    from .data.attributes import EDGES, dataset_statistics

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # `activeloc validate` reports the repairs
        gt = read_ground_truth(args.file)
    stats = dataset_statistics(gt, args.subset)
    if args.format == "json":
        print(json.dumps(stats, indent=2))
        return 0
    print(f"{args.file} ({', '.join(stats['subsets'])}): {stats['instances']:,} instances in "
          f"{stats['annotated_videos']:,} annotated videos of {stats['videos']:,}")
    print(f"{'attribute':<20} {'bin':<3} {'range':<11} {'instances':>9} {'percent':>7}")
    for name in EDGES:
        for bin_, cell in stats[f"{name}_bins"].items():
            print(f"{name:<20} {bin_:<3} {cell['range']:<11} {cell['count']:>9,} {100 * cell['fraction']:>7.1f}")
    if stats["estimated_durations"]:
        print(f"note: coverage uses estimated durations (duration_estimated) for {stats['estimated_durations']:,} "
              f"of {stats['videos']:,} videos")
    return 0


def _simulate(args) -> int:
    from .data.dataset import check_dataset_folder
    from .experiments.grid import make_cells, run_grid

    check_dataset_folder(args.dataset)
    _writable_folder(args.out, "--out")
    cells = make_cells(args.dataset, args.selectors, args.batch_sizes, args.noise, args.seeds,
                       selection_videos=args.selection_videos, testing_videos=args.testing_videos,
                       knowledge_videos=args.knowledge_videos)
    history = run_grid(cells, args.out, n_jobs=args.jobs, scheduler=args.scheduler)
    final = history.sort_values("step").groupby("run_id").tail(1)
    print(final[["selector", "batch_size", "noise", "seed", "step", "average_mAP"]].to_string(index=False))
    print(f"{len(cells)} runs; tables in {args.out}/history and {args.out}/selections (Parquet)")
    return 0


def _reproduce(args) -> int:
    from .reporting.pipeline import notebooks, run_pipeline
    from .reporting.profiles import check_profile, load_profiles

    check_profile(load_profiles(), args.profile)
    notebooks(only=args.only)  # every --only must name a notebook, before the first one runs
    records = run_pipeline(args.profile, only=args.only)
    for rec in records:
        if rec.get("skipped"):
            print(f"{rec['notebook']}: skipped, {rec['skipped']}")
        else:
            print(f"{rec['notebook']}: {rec['seconds']:.1f} s -> {rec['output']}")
    return 0


def _bootstrap_learned(dataset: Path, args) -> None:
    """Fit a learned selector on Knowledge-Source here, with a progress bar, before people wait for
    it on the page (the app loads the artefact the grid keeps in the dataset folder)."""
    from .active.base import LearnedSelector
    from .active.registry import SELECTORS, base_selector_name
    from .experiments.bootstraps import bootstrapped_selector
    from .experiments.grid import make_cells, study_data

    if issubclass(SELECTORS[base_selector_name(args.selector)], LearnedSelector):
        cell = make_cells(dataset, [args.selector], [args.batch_size], [0.0], [args.seed])[0]
        print(f"activeloc annotate: bootstrapping {args.selector} on Knowledge-Source (kept in {dataset})", flush=True)
        bootstrapped_selector(cell, study_data(cell).knowledge)


def _annotate(args) -> int:
    import os
    import secrets
    import subprocess

    from .active.oracles import AnnotationQueue
    from .core.io import write_json_atomic
    from .data.dataset import check_dataset_folder

    # The page's token, best kept off command lines (other local users read /proc/PID/cmdline).
    if args.token:
        warnings.warn("--token is visible to other local users (/proc/PID/cmdline, shell history); "
                      "give --token-file or ACTIVELOC_TOKEN instead")
    token = args.token_from_file or args.token or os.environ.get("ACTIVELOC_TOKEN")
    generated = not token
    token = token or secrets.token_urlsafe(24)
    try:
        dataset = check_dataset_folder(args.dataset).resolve()
    except InputError as exc:
        raise InputError(f"--dataset {args.dataset}: {exc}") from None
    queue = Path(args.queue).resolve()
    if queue.is_dir():
        raise InputError(f"--queue {args.queue}: is a folder; give the JSON-lines file to append to")
    _writable_folder(str(queue.parent), "--queue")
    from .ui.session import coordination_for

    # Unreadable lines are reported (and copied aside) here, not in the page; a queue served with
    # other settings is refused before anything starts.
    coordination_for(AnnotationQueue(queue), dataset, selector=args.selector, batch_size=args.batch_size,
                     random_state=args.seed, lease_seconds=args.lease_minutes * 60)
    drafts = Path(args.drafts).resolve() if args.drafts else Path(f"{queue}.drafts")
    _writable_folder(str(drafts), "--drafts")
    _bootstrap_learned(dataset, args)
    settings = {"dataset": str(dataset), "queue": str(queue), "selector": args.selector,
                "batch_size": args.batch_size, "drafts": str(drafts), "random_state": args.seed,
                "annotator": args.annotator, "lease_seconds": args.lease_minutes * 60}
    with tempfile.TemporaryDirectory(prefix="activeloc-annotate-") as folder:
        config = Path(folder) / "settings.json"
        write_json_atomic(settings, config)
        # The notebook's kernel "python3" is this interpreter, whatever kernels the user has installed.
        write_json_atomic({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                           "display_name": "Python 3 (activeloc annotate)", "language": "python"},
                          Path(folder) / "kernels" / "python3" / "kernel.json")
        from .ui.app import NOTEBOOK, TEMPLATE, TEMPLATES

        # The server (activeloc.ui.server: Voila, hardened) reads the token from a file in this private
        # folder, named by jupyter_server's JUPYTER_TOKEN_FILE: on no command line, in no environment.
        token_file = Path(folder) / "token"
        token_file.write_text(token, encoding="utf-8")
        # The kernels Voila starts inherit this environment: settings by file, never by URL; progress
        # bars off where they allow it (the app keeps the others' widgets off the page). The page's
        # template (TEMPLATE, found in the package's TEMPLATES) fetches nothing from the internet.
        env = {**{k: v for k, v in os.environ.items() if k not in ("ACTIVELOC_TOKEN", "JUPYTER_TOKEN")},
               "JUPYTER_TOKEN_FILE": str(token_file), "ACTIVELOC_ANNOTATE": str(config), "TQDM_DISABLE": "1",
               "JUPYTER_PATH": os.pathsep.join(filter(None, [folder, str(TEMPLATES), os.environ.get("JUPYTER_PATH")]))}
        cmd = [sys.executable, "-m", "activeloc.ui.server", str(NOTEBOOK), f"--template={TEMPLATE}", "--no-browser",
               f"--port={args.port}", "--Voila.port_retries=0", f"--Voila.ip={args.ip}",
               # A reload starts a new kernel: the old page's is ended once idle and disconnected.
               "--MappingKernelManager.cull_idle_timeout=900", "--MappingKernelManager.cull_interval=60"]
        host = f"[{args.ip}]" if ":" in args.ip else args.ip
        print(f"activeloc annotate: serving {args.selector} batches of {args.batch_size} on {dataset.name}; "
              f"submissions go to {queue}", flush=True)
        # The one place the token shows, to whoever started the command, when it was made here; one
        # they gave stays off the terminal (and any log of it): the login page asks for it.
        url = f"http://{host}:{args.port}/"
        print(f"open {url}?token={token}" if generated else f"open {url} and log in with the token you gave",
              flush=True)
        server = subprocess.Popen(cmd, env=env)
        try:
            return server.wait()
        finally:
            if server.poll() is None:
                server.terminate()  # Voila shuts its kernels down on SIGTERM
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


RESUME_HINTS = {
    "simulate": "finished runs are kept in --out and unfinished ones resume from their checkpoints: "
                "run the same command again to go on",
    "reproduce": "executed notebooks are in reports/notebooks/; run the same command again to go on "
                 "(finished runs reuse their stored results)",
    "annotate": "submissions and drafts are kept; run the same command again to resume the session",
}


def _token_file(path: str) -> str:
    """An argparse type: the token in the file ``path``, stripped."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    if not token:
        raise argparse.ArgumentTypeError(f"{path}: is empty")
    return token


def build_parser() -> argparse.ArgumentParser:
    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of an error")
    parser = _Parser(prog="activeloc", description=__doc__.split("\n\n")[0], parents=[debug])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", parents=[debug],
                       help="check an ActivityNet-layout ground-truth file; print the load report as JSON")
    p.add_argument("file")
    p.add_argument("--no-repair", action="store_true", help="count defects without repairing them")
    p.add_argument("--details", action="store_true", help="list every repair")
    p.set_defaults(func=_validate)

    p = sub.add_parser("evaluate", parents=[debug], help="ActivityNet detection mAP of a results file (offline, exact)")
    p.add_argument("ground_truth")
    p.add_argument("results")
    p.add_argument("--subset", default="validation", choices=SUBSETS)
    p.add_argument("--tiou", default=parse_thresholds("0.5:0.95:0.05"), type=_thresholds,
                   help="tIoU thresholds in (0, 1]: start:stop:step (inclusive), a comma list, or one number")
    p.add_argument("--repair", action="store_true",
                   help="repair ground-truth defects first (the official tool uses the file as written)")
    p.add_argument("--ignore-unknown-labels", action="store_true",
                   help="drop predictions whose label is not in the ground truth instead of failing")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("convert-kinetics", parents=[debug],
                       help="Kinetics temporal annotations to an ActivityNet-layout file, with estimated durations")
    p.add_argument("annotations", help="tab-separated youtube_id start_s end_s class_index")
    p.add_argument("categories", help="class names, one a line (class_index counts from 0)")
    p.add_argument("--clips", help="Kinetics clip list (label,youtube_id,time_start,time_end,split)")
    p.add_argument("--activitynet", help="ActivityNet-layout file: calibrates the duration model and is checked "
                   "for shared ids (default: ../shared/data's ActivityNet 1.3 where present, else fixed constants)")
    p.add_argument("--out", required=True, help="the ActivityNet-layout JSON to write")
    p.add_argument("--report", help="also write the full load report (counts and listings) as JSON here")
    p.set_defaults(func=_convert_kinetics)

    p = sub.add_parser("stats", parents=[debug],
                       help="Figure 4 statistics: instances per coverage, length and instances-per-video bin")
    p.add_argument("file")
    p.add_argument("--subset", nargs="+", choices=SUBSETS, help="count these subsets only (default: all videos)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=_stats)

    p = sub.add_parser("simulate", parents=[debug],
                       help="run a grid of active-learning runs (selector x batch size x noise x seed)")
    p.add_argument("--dataset", default="data/processed/dataset", help="folder written by 01-dataset")
    p.add_argument("--out", required=True, help="results folder (history/ and selections/ Parquet parts)")
    p.add_argument("--selectors", default=["random", "uncertainty"],
                                  type=_list_of(_known_selector, expected="a selector name"))
    p.add_argument("--batch-sizes", default=[64], type=_list_of(int, **POSITIVE))
    p.add_argument("--noise", default=[0.0], help="oracle noise levels in [0, 1), e.g. 0,0.05,0.1",
                   type=_list_of(float, lambda x: 0 <= x < 1, "a number in [0, 1)"))
    p.add_argument("--seeds", default=[0, 1, 2],
                   type=_list_of(int, lambda s: 0 <= s < SEED_LIMIT, f"a whole number in [0, {SEED_LIMIT})"))
    p.add_argument("--selection-videos", type=_checked(int, **POSITIVE), default=None,
                   help="subsample Selection to this many videos")
    p.add_argument("--testing-videos", type=_checked(int, **POSITIVE), default=None,
                   help="subsample Testing to this many videos")
    p.add_argument("--knowledge-videos", type=_checked(int, **POSITIVE), default=None,
                   help="subsample Knowledge-Source (what learned selectors learn from) to this many videos")
    p.add_argument("--jobs", type=_checked(int, lambda n: n >= 1 or n == -1, "at least 1, or -1 for every core"),
                   default=1, help="local parallel runs (joblib)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("annotate", parents=[debug],
                       help="serve the annotation panel (Voila, token required) for people to label the "
                            "batches a selector chooses, the localizer refit after each batch")
    p.add_argument("--dataset", required=True, help="folder written by 01-dataset")
    p.add_argument("--queue", required=True, help="the annotation queue (JSON lines) to append submissions to; "
                   "a session resumes from it")
    p.add_argument("--selector", default="uncertainty", type=_known_selector,
                   help="the registered selector that chooses each batch (default: uncertainty)")
    p.add_argument("--batch-size", type=_checked(int, **POSITIVE), default=8,
                   help="videos per batch; the localizer is refit after each (default: 8)")
    p.add_argument("--port", type=_checked(int, lambda n: 1 <= n <= 65535, "a port from 1 to 65535"), default=8866,
                   help="port to serve on (default: 8866)")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: this machine only)")
    token = p.add_mutually_exclusive_group()
    token.add_argument("--token-file", type=_token_file, default=None, dest="token_from_file", metavar="PATH",
                       help="a file holding the token the page needs (default: the environment's ACTIVELOC_TOKEN, "
                            "else a new random one)")
    token.add_argument("--token", default=None, help="the token, given on the command line: other local users "
                       "can read it there (a warning); prefer --token-file or ACTIVELOC_TOKEN")
    p.add_argument("--drafts", default=None, help="folder of unsubmitted drafts (default: <queue>.drafts)")
    p.add_argument("--seed", type=_checked(int, lambda s: 0 <= s < SEED_LIMIT, f"a whole number in [0, {SEED_LIMIT})"),
                   default=0, help="seeds the initial set and every selection")
    p.add_argument("--annotator", default="", help="the name each page starts with (a person may type their own; "
                   "without one, each browser tab is its own annotator); recorded with each submission")
    p.add_argument("--lease-minutes", type=_checked(float, lambda m: 0 < m < 10**6, "a positive number of minutes"),
                   default=30, help="how long a video stays with a person whose page has gone (default: 30)")
    p.set_defaults(func=_annotate)

    p = sub.add_parser("reproduce", parents=[debug], help="run the notebooks through papermill into reports/")
    p.add_argument("--profile", default="quick", help="tiny | quick | paper (notebooks/profiles.toml)")
    p.add_argument("--only", action="append", help="notebook number or stem; repeatable")
    p.set_defaults(func=_reproduce)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signum)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM unwinds like Ctrl-C: cleanup runs
    show_warning = warnings.showwarning
    if not debug:  # a warning is one line too, without its source line, and never inside a progress bar
        warnings.showwarning = lambda message, category, *rest, **kw: tqdm.write(
            f"activeloc {args.command}: warning: {one_line(message, None)}", file=sys.stderr)
    try:
        return args.func(args)
    except KeyboardInterrupt as exc:
        signum = exc.args[0] if exc.args and isinstance(exc.args[0], int) else signal.SIGINT
        hint = RESUME_HINTS.get(args.command, "nothing was written")
        print(f"activeloc {args.command}: stopped by {signal.Signals(signum).name}; {hint}", file=sys.stderr)
        return 128 + signum
    except (InputError, OSError) as exc:
        if debug:
            raise
        # A system's error (a full disk) stops a command as a signal does: what it kept, and how to go on.
        hint = None if isinstance(exc, InputError) else RESUME_HINTS.get(args.command)
        print(f"activeloc {args.command}: error: {one_line(exc, None)}" + (f"; {hint}" if hint else ""),
              file=sys.stderr)
        return 2
    except Exception as exc:
        if debug:
            raise
        print(f"activeloc {args.command}: {type(exc).__name__}: {one_line(exc)} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        warnings.showwarning = show_warning


if __name__ == "__main__":
    sys.exit(main())
