"""The stage-wise localizer at the paper's scale: fit, warm refit after 64 new videos, predict, memory.

Paper scale: about 11,160 Selection and 3,724 Testing videos, 500-d snippet features, about 100
candidates per video. The simulated snippet features are written to HDF5 in the C3D layout by a
child process, so that the memory figure is the localizer's (candidate matrix included), not the
simulator's. Targets on 2 cores: full fit < 30 s, refit after 64 videos < 3 s, predict on Testing
< 5 s, peak memory < 6 GB.
"""

import multiprocessing as mp
import resource
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "data" / "processed" / "bench-localizer"
N_VIDEOS = 19500  # gives about 11,160 / 3,724 Selection / Testing videos
FEATURE_DIM = 500
REPEATS = 3


def simulate(folder: Path) -> None:
    from activeloc import make_activitynet_like, make_splits, save_dataset

    gt, feats = make_activitynet_like(N_VIDEOS, feature_dim=FEATURE_DIM, random_state=0)
    splits = make_splits(gt, random_state=0)
    save_dataset(folder, gt, feats, splits[splits["split"] != "knowledge_source"],
                 {"n_videos": N_VIDEOS, "feature_dim": FEATURE_DIM, "random_state": 0})


def repeated(fn, repeats=REPEATS):
    """Median and all wall-clock seconds of ``repeats`` calls."""
    from activeloc.core.timing import timed

    times = []
    for _ in range(repeats):
        with timed() as elapsed:
            fn()
        times.append(elapsed.seconds)
    return statistics.median(times), times


def ensure_data() -> None:
    """Simulate the paper-scale data once (in a child process) and keep it in ``WORK``."""
    WORK.mkdir(parents=True, exist_ok=True)
    if not (WORK / "parameters.json").exists():
        from activeloc.core.timing import timed

        with timed() as elapsed:
            child = mp.get_context("spawn").Process(target=simulate, args=(WORK,))
            child.start()
            child.join()
        if child.exitcode:
            raise RuntimeError(f"simulating the benchmark data failed (exit code {child.exitcode})")
        print(f"simulated and wrote the data in {elapsed.seconds:.0f} s (cached in {WORK})")


def main() -> int:
    warnings.simplefilter("ignore")
    ensure_data()

    from activeloc import StageWiseLocalizer, load_dataset
    from activeloc.core.timing import timed
    from activeloc.localization import candidate_matrix

    data = load_dataset(WORK)
    selection, testing = data.split("selection"), data.split("testing")
    loc = StageWiseLocalizer(random_state=0)
    with timed() as build:
        cm = candidate_matrix(data, loc.proposals, loc.encoder)
    print(f"Selection {len(selection.video_ids)} videos, Testing {len(testing.video_ids)}, "
          f"{len(cm.features) / len(cm):.0f} candidates per video, {cm.features.shape[1]}-d, "
          f"candidate matrix {cm.features.nbytes / 2**30:.2f} GiB built once in {build.seconds:.1f} s")

    full, full_all = repeated(lambda: StageWiseLocalizer(random_state=0).fit(selection))
    ids = selection.video_ids
    base = selection.subset(ids[:-64])
    warm = StageWiseLocalizer(random_state=0)  # the exact stages add the new videos' statistics

    def refit():
        warm.fit(base)  # the state before the batch (not timed below)
        with timed() as elapsed:
            warm.fit(selection)
        return elapsed.seconds

    refits = [refit() for _ in range(REPEATS)]
    paper, paper_all = repeated(lambda: StageWiseLocalizer(stages="paper", random_state=0).fit(selection), 1)
    model = StageWiseLocalizer(random_state=0).fit(selection)
    predict, predict_all = repeated(lambda: model.predict(testing))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(f"full fit:                 median {full:6.2f} s  {np.round(full_all, 2).tolist()}  (target < 30 s)")
    print(f"full fit, paper stages:   median {paper:6.2f} s  {np.round(paper_all, 2).tolist()}  (SGD SVM + logistic regression)")
    print(f"refit after +64 (warm):   median {statistics.median(refits):6.2f} s  {np.round(refits, 2).tolist()}  "
          f"(target < 3 s; {full / statistics.median(refits):.1f}x faster than a full fit)")
    print(f"predict on Testing:       median {predict:6.2f} s  {np.round(predict_all, 2).tolist()}  (target < 5 s)")
    print(f"peak memory (this process): {peak:.2f} GiB (target < 6 GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
