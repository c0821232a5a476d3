"""One active-learning step at the paper's scale, and how it grows with the labelled set.

A step: refit the localizer on the labelled videos (the exact stages add the new batch's
statistics), score the pool (uncertainty needs every pool video's attention scores), select 64,
evaluate on Testing. Measured at 10 %, 40 % and 70 % of Selection labelled, on the data of
bench_localizer.py (11k Selection and 3.7k Testing videos, 500-d features). Target on 2 cores: a
step under 0.3 s at full scale.
"""

import statistics
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_localizer import WORK, ensure_data  # noqa: E402

REPEATS = 3


def main() -> int:
    warnings.simplefilter("ignore")
    ensure_data()
    from activeloc import StageWiseLocalizer, load_dataset, make_selector
    from activeloc.core.timing import timed
    from activeloc.data import draw_subset
    from activeloc.evaluation import evaluate_localizer
    from activeloc.localization import candidate_matrix

    data = load_dataset(WORK)
    selection, testing = data.split("selection"), data.split("testing")
    loc = StageWiseLocalizer(random_state=0)
    candidate_matrix(data, loc.proposals, loc.encoder)
    ids = draw_subset(selection.video_ids, random_state=0)  # a random order: labelled sets are its prefixes
    selector = make_selector("uncertainty")
    print(f"Selection {len(ids)} videos, Testing {len(testing.video_ids)}, batch 64, uncertainty selector")
    for ratio in (0.1, 0.4, 0.7):
        n = int(ratio * len(ids))
        loc.fit(selection.subset(ids[: n - 64]))  # the state before the step's new batch
        parts = {"fit": [], "select": [], "evaluate": []}
        for _ in range(REPEATS):
            labelled, pool = selection.subset(ids[:n]), selection.subset(ids[n:]).without_labels()
            with timed() as fit:
                loc.fit(labelled)
            with timed() as select:
                selector.select(loc, labelled, pool, 64, random_state=0)
            with timed() as evaluate:
                evaluate_localizer(loc, testing)
            for part, elapsed in (("fit", fit), ("select", select), ("evaluate", evaluate)):
                parts[part].append(elapsed.seconds)
        total = statistics.median(np.sum([parts[k] for k in parts], axis=0))
        detail = ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in parts.items())
        print(f"labelled {ratio:4.0%} ({n:5d} videos): step median {total:5.2f} s ({detail})  (target < 0.3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
