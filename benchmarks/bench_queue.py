"""The annotation queue at 50,000 records: milliseconds per ``submit`` (fsync'd) and per ``records()``.

A queue object reads only what was appended since its last call, so a submit costs the same at
50,000 records as at 50. Target: under 5 ms per submit (median). Also shown: the one-off cost
of a new queue object's first read of the whole file, and a submit from another object (which
must first read the other writer's lines), and the first read of a queue soiled with 5,000
unreadable lines (skipped, one warning, each copied once to the side file).
"""

import json
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

from activeloc.active.oracles import AnnotationQueue
from activeloc.core.timing import timed

N_RECORDS = 50_000
N_SUBMITS = 200
N_BAD_LINES = 5_000
TARGET_MS = 5.0


def _instances(i: int) -> list[dict]:
    return [{"segment": [float(i % 90), float(i % 90 + 7)], "label": f"class {i % 200}"}]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "queue.jsonl"
        with open(path, "w", encoding="utf-8") as fh:  # a full queue, written at once
            for i in range(N_RECORDS):
                fh.write(json.dumps({"submission_id": f"s{i}", "video_id": f"v{i}", "instances": _instances(i),
                                     "annotator": "bench", "submitted_at": 0.0}) + "\n")
        queue = AnnotationQueue(path)
        with timed() as first_read:
            assert len(queue.records()) == N_RECORDS
        submit_ms, other_ms = [], []
        other = AnnotationQueue(path)
        other.records()
        for i in range(N_RECORDS, N_RECORDS + N_SUBMITS):
            with timed() as t:
                queue.submit(f"v{i}", _instances(i))
            submit_ms.append(t.seconds * 1e3)
            with timed() as t:  # sees the line just written by `queue`, then writes its own
                other.submit(f"w{i}", _instances(i))
            other_ms.append(t.seconds * 1e3)
        with timed() as t:
            records = queue.records()
        assert len(records) == N_RECORDS + 2 * N_SUBMITS
        with open(path, "ab") as fh:
            fh.write(b"".join(b"unreadable %d\n" % i for i in range(N_BAD_LINES)))
        with warnings.catch_warnings(), timed() as soiled:
            warnings.simplefilter("ignore")
            queue.records()
    median = statistics.median(submit_ms)
    print(f"queue of {N_RECORDS} records: first read by a new object {first_read.seconds * 1e3:.0f} ms (once)")
    print(f"submit (median of {N_SUBMITS}): {median:.2f} ms; interleaved with a second writer: "
          f"{statistics.median(other_ms):.2f} ms; records() after: {t.seconds * 1e3:.2f} ms")
    print(f"{N_BAD_LINES} unreadable lines appended: read, warned about and copied in {soiled.seconds * 1e3:.0f} ms")
    print(f"target: under {TARGET_MS} ms per submit -> {'met' if median < TARGET_MS else 'NOT met'}")
    return 0 if median < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
