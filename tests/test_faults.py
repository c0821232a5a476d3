"""Fault injection: torn and bad queue lines, writers killed at random moments, corrupt and foreign
checkpoints, interrupted commands, nonsense options. Nothing acknowledged may be lost or doubled,
and every user error is one line (exit 2 at the command line)."""

import json
import os
import signal
import time
import warnings

import numpy as np
import pytest

from activeloc.active.oracles import AnnotationQueue, HumanOracle, SkippedLineWarning


def _submit(queue, video, t_end=2.0):
    return queue.submit(video, [{"segment": [1.0, t_end], "label": "a"}])


def _ids_in_file(path):
    """Submission ids of the file's readable lines, with repeats (what a reader would see twice)."""
    ids = []
    for raw in path.read_bytes().split(b"\n"):
        try:
            ids.append(json.loads(raw)["submission_id"])
        except (ValueError, KeyError, TypeError):
            pass
    return ids


# ---- the annotation queue -------------------------------------------------------------------------

def test_a_torn_last_line_is_fenced_off_and_no_record_is_glued_to_it(tmp_path):
    path = tmp_path / "queue.jsonl"
    queue = AnnotationQueue(path)
    first = _submit(queue, "v1")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"submission_id": "ab')  # a writer killed mid-line
    with pytest.warns(SkippedLineWarning, match=r"queue\.jsonl: line 2"):
        second = _submit(queue, "v2")
    with pytest.warns(SkippedLineWarning, match=r"queue\.jsonl: line 2: skipped"):
        records = AnnotationQueue(path).records()
    assert [r["submission_id"] for r in records] == [first, second]
    with pytest.warns(SkippedLineWarning):
        assert HumanOracle(AnnotationQueue(path)).annotate(["v1", "v2"])["video_id"].tolist() == ["v1", "v2"]
    rejected = [json.loads(line) for line in queue.rejected_path.read_text().splitlines()]
    assert [(r["line"], r["text"]) for r in rejected] == [(2, '{"submission_id": "ab')]


BAD_LINES = {
    "torn middle line": b'{"submission_id": "x", "vid',
    "NUL bytes": b"\x00\x00\x00",
    "cut multibyte character": "é".encode()[:1],
    "not an object": b"[1, 2]",
    "wrong shape": b'{"submission_id": "x", "video_id": "v", "instances": [{"segment": "a"}]}',
    "bad number": b'{"submission_id": "x", "video_id": "v", "instances": [{"segment": [true, 1], "label": "a"}]}',
}


@pytest.mark.parametrize("bad", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_a_bad_line_anywhere_is_skipped_named_and_copied_once(tmp_path, bad):
    path = tmp_path / "queue.jsonl"
    queue = AnnotationQueue(path)
    _submit(queue, "v1")
    with open(path, "ab") as fh:
        fh.write(bad + b"\n\n")  # and a blank line, which carries nothing and is skipped silently
    with pytest.warns(SkippedLineWarning, match=r"queue\.jsonl: line 2: skipped") as caught:
        _submit(queue, "v2")
    assert len(caught) == 1
    for _ in range(2):  # every reader skips it; the side file keeps one copy
        with pytest.warns(SkippedLineWarning):
            assert list(AnnotationQueue(path).latest()) == ["v1", "v2"]
    rejected = queue.rejected_path.read_text().splitlines()
    assert len(rejected) == 1 and json.loads(rejected[0])["line"] == 2


def test_a_new_file_and_a_missing_file(tmp_path):
    queue = AnnotationQueue(tmp_path / "sub" / "queue.jsonl")
    assert queue.records() == [] and queue.latest() == {}
    _submit(queue, "v1")
    assert list(AnnotationQueue(queue.path).latest()) == ["v1"]


def _fork(work):
    """Run ``work(write)`` in a forked child that reports through a pipe; returns (pid, read end)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest, no cleanup, just the work
        os.close(read)
        try:
            work(lambda text: os.write(write, f"{text}\n".encode()))
        finally:
            os._exit(0)
    os.close(write)
    return pid, read


def _reports(read) -> list[str]:
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    return b"".join(chunks).decode().split()


def test_concurrent_identical_submissions_are_written_once(tmp_path):
    path = tmp_path / "queue.jsonl"

    def submit_all(report):
        queue = AnnotationQueue(path)
        for i in range(100):
            report(_submit(queue, f"v{i}"))

    children = [_fork(submit_all) for _ in range(3)]
    acknowledged = set()
    for pid, read in children:
        acknowledged |= set(_reports(read))
        assert os.waitpid(pid, 0)[1] == 0
    ids = _ids_in_file(path)
    assert len(ids) == len(set(ids)) == len(acknowledged) == 100


def test_writers_killed_at_random_moments_and_torn_lines_lose_nothing(tmp_path):
    """200 trials: a writer is SIGKILLed at a random moment (mid-write, holding the lock, mid-fsync),
    then the file is torn or soiled at random; every acknowledged submission survives exactly once
    and the queue stays readable and writable."""
    path = tmp_path / "queue.jsonl"
    rng = np.random.default_rng(20261128)
    survivor = AnnotationQueue(path)  # one long-lived reader-writer, to test its incremental reads
    acknowledged: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedLineWarning)
        for trial in range(200):
            def write_forever(report, trial=trial):
                queue = AnnotationQueue(path)
                for k in range(10**6):
                    report(queue.submit(f"t{trial}-{k % 7}", [{"segment": [0.0, 1.0 + k], "label": "a"}]))

            pid, read = _fork(write_forever)
            time.sleep(rng.uniform(0, 0.004))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            acknowledged |= set(_reports(read))
            damage = rng.integers(4)
            if damage == 1:  # a write cut short
                line = json.dumps({"submission_id": f"torn{trial}", "video_id": "x", "instances": []})
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(line[: rng.integers(1, len(line))])
            elif damage == 2:  # garbage bytes on a line of their own
                with open(path, "ab") as fh:
                    fh.write(rng.bytes(int(rng.integers(1, 40))).replace(b"\n", b"") + b"\n")
            if rng.random() < 0.3:  # a retry of something already acknowledged, or a new one
                acknowledged.add(_submit(survivor, f"t{trial}-0", float(rng.choice([2, 3, 99]))))
            got = [r["submission_id"] for r in AnnotationQueue(path).records()]
            assert len(got) == len(set(got)) and acknowledged <= set(got), f"trial {trial}"
            assert [r["submission_id"] for r in survivor.records()] == got
    ids = _ids_in_file(path)
    assert acknowledged <= set(ids) and len(ids) == len(set(ids))


# ---- checkpoints ----------------------------------------------------------------------------------

def _short_run(data, checkpoint, *, selector="random", seed=0, batch_size=32, noise=0.3):
    from activeloc import ActiveLearningLoop, SimulatedOracle, StageWiseLocalizer, make_selector

    loop = ActiveLearningLoop(StageWiseLocalizer(svm_max_iter=5), make_selector(selector),
                              SimulatedOracle(data.ground_truth, noise=noise), batch_size=batch_size, max_steps=3,
                              checkpoint=checkpoint, random_state=seed, run_id="f")
    return loop.run(data.split("selection"), data.split("testing"), progress=False)


@pytest.fixture(scope="module")
def small():
    from conftest import simulated_dataset

    return simulated_dataset(n=400, classes=6, feature_dim=8)


@pytest.fixture(scope="module")
def uninterrupted(small, tmp_path_factory):
    from activeloc.active.loop import TIMING_COLUMNS

    return _short_run(small, None).history.drop(columns=TIMING_COLUMNS)


DAMAGE = {
    "truncated": lambda raw: raw[: len(raw) // 2],
    "empty": lambda raw: b"",
    "garbage": lambda raw: bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
    "another object": lambda raw: __import__("pickle").dumps({"step": 3}),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_an_unreadable_checkpoint_is_named_and_replaced_by_the_previous_one(small, uninterrupted, tmp_path, damage):
    from activeloc.active.loop import TIMING_COLUMNS, CheckpointWarning

    checkpoint = tmp_path / "run.joblib"
    _short_run(small, checkpoint)
    checkpoint.write_bytes(damage(checkpoint.read_bytes()))
    with pytest.warns(CheckpointWarning, match=rf"unreadable checkpoint {checkpoint}.*resuming from .*previous \(2 steps done\)"):
        history = _short_run(small, checkpoint).history.drop(columns=TIMING_COLUMNS)
    assert history.equals(uninterrupted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the replaced checkpoint reads cleanly from now on
        assert _short_run(small, checkpoint).history.drop(columns=TIMING_COLUMNS).equals(uninterrupted)


def test_with_no_readable_checkpoint_the_run_restarts_saying_so_once(small, uninterrupted, tmp_path):
    from activeloc.active.loop import TIMING_COLUMNS, CheckpointWarning

    checkpoint = tmp_path / "run.joblib"
    _short_run(small, checkpoint)
    for path in (checkpoint, tmp_path / "run.joblib.previous"):
        path.write_bytes(b"\0" * 100)
    with pytest.warns(CheckpointWarning, match="restarts from its first step") as caught:
        history = _short_run(small, checkpoint).history.drop(columns=TIMING_COLUMNS)
    assert len(caught) == 1 and history.equals(uninterrupted)


def test_a_checkpoint_of_another_run_is_refused_naming_what_differs(small, tmp_path):
    from activeloc.active.loop import CheckpointError

    checkpoint = tmp_path / "run.joblib"
    _short_run(small, checkpoint, selector="uncertainty", seed=5, batch_size=12, noise=0.1)
    before = checkpoint.read_bytes()
    with pytest.raises(CheckpointError) as err:
        _short_run(small, checkpoint)
    message = str(err.value)
    assert "\n" not in message and str(checkpoint) in message
    for difference in ("selector: 'uncertainty' there, 'random' here", "seed: 5 there, 0 here",
                       "batch size: 12 there, 32 here", "noise: 0.1 there, 0.3 here"):
        assert difference in message
    assert checkpoint.read_bytes() == before  # refused, not touched


def test_temporaries_of_killed_writers_are_removed_when_a_run_starts(small, tmp_path):
    checkpoint = tmp_path / "run.joblib"
    dead = tmp_path / ".run.joblib.pid999999999.abc.tmp"  # no such process
    old_style = tmp_path / ".run.joblib.k2j3h4.tmp"
    live = tmp_path / f".run.joblib.pid{os.getpid()}.xyz.tmp"  # a writer still at work
    other = tmp_path / ".other.parquet.pid999999999.abc.tmp"  # not this run's
    for path in (dead, old_style, live, other):
        path.write_bytes(b"partial")
    _short_run(small, checkpoint)
    assert not dead.exists() and not old_style.exists() and live.exists() and other.exists()
