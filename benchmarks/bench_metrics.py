"""ActivityNet detection mAP on the validation ground truth with many predictions: seconds and predictions/s.

Uses the real ActivityNet 1.3 validation annotations from ../shared/data when present, else a
simulated set of the same size. Target: at least 100,000 predictions per second.
"""

import statistics
import sys
import warnings
from pathlib import Path

from activeloc import evaluate_detections, make_activitynet_like, read_ground_truth
from activeloc.core.paths import activitynet_annotations
from activeloc.core.timing import timed
from activeloc.data.simulator import simulate_detections

ROOT = Path(__file__).resolve().parents[1]
N_PREDICTIONS = 100_000
REPEATS = 5


def main() -> int:
    path = activitynet_annotations(ROOT)
    if path is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gt = read_ground_truth(path, repair=False).subset("validation")
        source = f"ActivityNet 1.3 validation ({path})"
    else:
        gt, _ = make_activitynet_like(4728, feature_dim=1, random_state=0)
        source = "simulated (../shared/data absent)"
    pred = simulate_detections(gt.instances, N_PREDICTIONS, random_state=0)
    times = []
    for _ in range(REPEATS):
        with timed() as elapsed:
            result = evaluate_detections(gt.instances, pred)
        times.append(elapsed.seconds)
    median = statistics.median(times)
    print(f"ground truth: {source}: {len(gt.instances)} instances, {gt.instances['label'].nunique()} classes")
    print(f"predictions: {len(pred)}; tIoU 0.5:0.95 (10 thresholds); average mAP {result.average_mAP:.4f}")
    print(f"median seconds over {REPEATS} runs: {median:.3f} (min {min(times):.3f}, max {max(times):.3f})")
    print(f"predictions per second: {len(pred) / median:,.0f} (target >= 100,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
