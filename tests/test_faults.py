"""Fault injection: torn and bad queue lines, writers killed at random moments, corrupt and foreign
checkpoints, interrupted commands, nonsense options. Nothing acknowledged may be lost or doubled,
and every user error is one line (exit 2 at the command line)."""

import errno
import json
import os
import re
import signal
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from activeloc.active.oracles import AnnotationQueue, HumanOracle, SkippedLineWarning
from activeloc.data.annotations import AnnotationError


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
    with pytest.warns(SkippedLineWarning, match=r"queue\.jsonl: skipped line 2"):
        second = _submit(queue, "v2")
    with pytest.warns(SkippedLineWarning, match=r"queue\.jsonl: skipped line 2"):
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
    with pytest.warns(SkippedLineWarning, match=r"queue\.jsonl: skipped line 2") as caught:
        _submit(queue, "v2")
    assert len(caught) == 1
    for _ in range(2):  # every reader skips it; the side file keeps one copy
        with pytest.warns(SkippedLineWarning):
            assert list(AnnotationQueue(path).latest()) == ["v1", "v2"]
    rejected = queue.rejected_path.read_text().splitlines()
    assert len(rejected) == 1 and json.loads(rejected[0])["line"] == 2


def test_a_return_to_an_earlier_annotation_is_the_latest_and_a_double_submit_is_one(tmp_path):
    queue = AnnotationQueue(tmp_path / "queue.jsonl")
    a = _submit(queue, "v", 2.0)
    b = _submit(queue, "v", 3.0)
    again = _submit(queue, "v", 2.0)
    assert len({a, b, again}) == 3 and _submit(queue, "v", 2.0) == again  # the double click writes nothing
    assert AnnotationQueue(queue.path).latest() == {"v": [{"segment": [1.0, 2.0], "label": "a"}]}
    assert len(_ids_in_file(queue.path)) == 3
    assert queue.submit("w", [], submission_id="key") == queue.submit("w", [], submission_id="key")
    with pytest.raises(AnnotationError, match="submission id 'key' was used for another annotation"):
        queue.submit("w", [{"segment": [0, 1], "label": "b"}], submission_id="key")  # never dropped silently
    assert AnnotationQueue(queue.path).latest()["w"] == []


def test_editing_what_the_queue_returned_changes_nothing_in_it(tmp_path):
    queue = AnnotationQueue(tmp_path / "queue.jsonl")
    _submit(queue, "v")
    instances = queue.latest()["v"]
    instances.append({"segment": [4.0, 5.0], "label": "b"})  # a widget edits what it was given
    queue.records()[0]["instances"].clear()
    queue.submit("v", instances)
    assert AnnotationQueue(queue.path).latest()["v"] == instances


def test_a_queue_replaced_while_a_writer_waits_gets_the_record(tmp_path):
    import fcntl
    import threading

    path = tmp_path / "queue.jsonl"
    queue = AnnotationQueue(path)
    _submit(queue, "v1")
    holder = open(path, "rb")
    fcntl.flock(holder, fcntl.LOCK_EX)  # someone holds the lock while the file is restored from a copy
    writer = threading.Thread(target=_submit, args=(queue, "v2"))
    writer.start()
    time.sleep(0.2)
    restored = tmp_path / "restored.jsonl"
    restored.write_bytes(path.read_bytes())
    os.replace(restored, path)
    holder.close()
    writer.join()
    assert list(AnnotationQueue(path).latest()) == ["v1", "v2"]


BAD_SUBMISSIONS = {
    "number as submission id": ({"submission_id": 7}, "submission_id"),
    "no instances list": ({"instances": None}, "instances"),
    "label None": ({"instances": [{"segment": [1, 2], "label": None}]}, "instances[0].label"),
    "label list": ({"instances": [{"segment": [1, 2], "label": ["a"]}]}, "instances[0].label"),
    "segment string": ({"instances": [{"segment": "12", "label": "a"}]}, "instances[0].segment"),
    "segment booleans": ({"instances": [{"segment": [False, True], "label": "a"}]}, "instances[0].segment"),
    "segment nan": ({"instances": [{"segment": [1, float("nan")], "label": "a"}]}, "instances[0].segment"),
    "segment reversed": ({"instances": [{"segment": [5, 1], "label": "a"}]}, "instances[0].segment"),
    "video id number": ({"video_id": 3}, "video_id"),
    "video id climbing out": ({"video_id": "../../escaped"}, "video_id"),
    "video id absolute": ({"video_id": "/etc/passwd"}, "video_id"),
    "video id dot dot": ({"video_id": ".."}, "video_id"),
    "video id NUL": ({"video_id": "a\x00b"}, "video_id"),
    "video id line separator": ({"video_id": "a\u2028b"}, "video_id"),
    "video id past NAME_MAX": ({"video_id": "x" * 300}, "video_id"),
    "integer past float's range": ({"instances": [{"segment": [0, 10**400], "label": "a"}]}, "instances[0].segment"),
}


@pytest.mark.parametrize("change, field", BAD_SUBMISSIONS.values(), ids=BAD_SUBMISSIONS.keys())
def test_what_submit_refuses_readers_skip(tmp_path, change, field):
    from activeloc.data.annotations import AnnotationError

    path = tmp_path / "queue.jsonl"
    queue = AnnotationQueue(path)
    good = {"video_id": "v", "instances": [{"segment": [1, 2], "label": "a"}], "submission_id": None}
    with pytest.raises(AnnotationError, match=re.escape(field)) as err:
        queue.submit(**{**good, **change})
    assert str(path) in str(err.value) and not path.exists()
    line = {"submission_id": "s", "video_id": "v", "instances": good["instances"], **change}
    path.write_text(json.dumps(line) + "\n")  # the same record written by someone else
    with pytest.warns(SkippedLineWarning, match=r"skipped line 1: field"):
        assert AnnotationQueue(path).records() == []


def test_a_line_nested_too_deeply_is_skipped(tmp_path):
    path = tmp_path / "queue.jsonl"
    path.write_bytes(b"[" * 200_000 + b"\n")
    with pytest.warns(SkippedLineWarning, match="nested too deeply"):
        _submit(AnnotationQueue(path), "v1")
    with pytest.warns(SkippedLineWarning):
        assert list(AnnotationQueue(path).latest()) == ["v1"]


@pytest.mark.parametrize("how", ["rewritten in place", "deleted and created anew"])
def test_a_queue_rewritten_behind_a_reader_is_read_again(tmp_path, how):
    path = tmp_path / "queue.jsonl"
    reader = AnnotationQueue(path)
    for i in range(3):
        _submit(reader, f"old{i}")
    other = tmp_path / "other.jsonl"
    for i in range(6):
        _submit(AnnotationQueue(other), f"new{i}")
    if how == "rewritten in place":
        with open(path, "r+b") as fh:
            fh.write(other.read_bytes())
            fh.truncate()
    else:
        path.unlink()
        path.write_bytes(other.read_bytes())
    assert list(reader.latest()) == [f"new{i}" for i in range(6)]
    _submit(reader, "new0")  # already its latest: nothing written
    assert len(_ids_in_file(path)) == 6


def test_an_unwritable_side_file_does_not_block_reading(tmp_path):
    path = tmp_path / "queue.jsonl"
    queue = AnnotationQueue(path)
    queue.rejected_path.mkdir()  # cannot be written as a file
    _submit(queue, "v1")
    with open(path, "ab") as fh:
        fh.write(b"garbage\n")
    with pytest.warns(SkippedLineWarning, match="could not be copied"):
        assert list(AnnotationQueue(path).latest()) == ["v1"]
    with pytest.warns(SkippedLineWarning):
        _submit(queue, "v2")
    assert list(queue.latest()) == ["v1", "v2"]


def test_a_side_file_edited_into_bad_bytes_blocks_nothing_and_still_gets_copies(tmp_path):
    path = tmp_path / "queue.jsonl"
    queue = AnnotationQueue(path)
    queue.rejected_path.write_bytes(b"\xff\xfe a person's notes\n")
    _submit(queue, "v1")
    with open(path, "ab") as fh:
        fh.write(b"garbage\n")
    with pytest.warns(SkippedLineWarning, match="copies are in"):
        _submit(queue, "v2")
    with pytest.warns(SkippedLineWarning):
        assert list(AnnotationQueue(path).latest()) == ["v1", "v2"]
    assert b"garbage" in queue.rejected_path.read_bytes()


def test_a_replaced_queue_gets_its_own_bad_lines_copied(tmp_path):
    path = tmp_path / "queue.jsonl"
    queue = AnnotationQueue(path)
    path.write_bytes(b"first bad\n")
    with pytest.warns(SkippedLineWarning):
        queue.records()
    replacement = tmp_path / "replacement.jsonl"
    replacement.write_bytes(b"other bad\n")  # the same place in a new file, other bytes
    os.replace(replacement, path)
    with pytest.warns(SkippedLineWarning):
        queue.records()
    copied = [json.loads(line)["text"] for line in queue.rejected_path.read_text().splitlines()]
    assert copied == ["first bad", "other bad"]


def test_many_bad_lines_are_one_warning_and_copied_once(tmp_path):
    path = tmp_path / "queue.jsonl"
    with open(path, "wb") as fh:
        fh.write(b"".join(b"bad %d\n" % i for i in range(3000)))
    queue = AnnotationQueue(path)
    with pytest.warns(SkippedLineWarning, match="and 2997 more lines") as caught:
        _submit(queue, "v1")
    assert len(caught) == 1
    with pytest.warns(SkippedLineWarning):
        AnnotationQueue(path).records()  # a second reader adds no second copy
    assert len(queue.rejected_path.read_text().splitlines()) == 3000


def test_one_queue_object_shared_by_threads(tmp_path):
    import threading

    path = tmp_path / "queue.jsonl"
    shared, writer = AnnotationQueue(path), AnnotationQueue(path)
    stop = threading.Event()
    errors = []

    def read():
        while not stop.is_set():
            try:
                shared.records()
            except Exception as exc:  # any error here is the failure under test
                errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    for i in range(300):
        _submit(writer, f"v{i}")
    stop.set()
    for thread in readers:
        thread.join()
    assert not errors and len(shared.records()) == 300


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
                    sid = queue.submit(f"t{trial}-{k % 7}", [{"segment": [0.0, 1.0 + k], "label": "a"}])
                    report(f"{sid}:{k}")

            pid, read = _fork(write_forever)
            time.sleep(rng.uniform(0, 0.004))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            acknowledged_now = [tuple(r.split(":")) for r in _reports(read)]
            acknowledged |= {sid for sid, _ in acknowledged_now}
            damage = rng.integers(4)
            if damage == 1:  # a write cut short
                line = json.dumps({"submission_id": f"torn{trial}", "video_id": "x", "instances": []})
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(line[: rng.integers(1, len(line))])
            elif damage == 2:  # garbage bytes on a line of their own
                with open(path, "ab") as fh:
                    fh.write(rng.bytes(int(rng.integers(1, 40))).replace(b"\n", b"") + b"\n")
            if acknowledged_now and rng.random() < 0.5:  # a retry of what the killed writer last acknowledged
                k = int(acknowledged_now[-1][1])
                video, payload = f"t{trial}-{k % 7}", [{"segment": [0.0, 1.0 + k], "label": "a"}]
                latest_before = AnnotationQueue(path).latest([video])
                retried = survivor.submit(video, payload)
                acknowledged.add(retried)
                if latest_before[video] == payload:
                    assert retried == acknowledged_now[-1][0]  # the latest again: nothing written
                assert AnnotationQueue(path).latest([video]) == {video: payload}
            in_file = _ids_in_file(path)
            got = [r["submission_id"] for r in AnnotationQueue(path).records()]
            assert len(in_file) == len(set(in_file)) and acknowledged <= set(got) == set(in_file), f"trial {trial}"
            assert [r["submission_id"] for r in survivor.records()] == got
    ids = _ids_in_file(path)
    assert acknowledged <= set(ids) and len(ids) == len(set(ids))


# ---- a full disk ----------------------------------------------------------------------------------

def _full_disk(monkeypatch, call, where, *, part=0):
    """``os.<call>`` fails with ENOSPC on the files at or under ``where``; with ``part``, ``os.write``
    first writes that many bytes of what it is given, as a disk that fills up mid-line does."""
    real, left = getattr(os, call), {"part": part}

    def full(fd, *args):
        if not os.readlink(f"/proc/self/fd/{fd}").startswith(str(Path(where).resolve())):
            return real(fd, *args)
        if left.pop("part", 0):
            return real(fd, bytes(args[0][:part]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, call, full)


@pytest.mark.parametrize("call, part", [("write", 0), ("write", 7), ("fsync", 0)],
                         ids=["nothing fits", "part of the line fits", "the line fits but not its fsync"])
def test_a_submit_on_a_full_disk_writes_nothing_says_so_and_goes_through_once_there_is_room(tmp_path, monkeypatch,
                                                                                           call, part):
    path = tmp_path / "queue.jsonl"
    queue = AnnotationQueue(path)
    first = _submit(queue, "v1")
    before = path.read_bytes()
    with monkeypatch.context() as full:
        _full_disk(full, call, path, part=part)
        with pytest.raises(OSError) as err:
            _submit(queue, "v2")
    assert err.value.errno == errno.ENOSPC
    assert str(err.value) == (f"{path}: could not append the submission (No space left on device); "
                              "nothing was written; free space and submit again")
    assert (err.value.filename, err.value.strerror) == (str(path), "No space left on device")
    assert path.read_bytes() == before and list(queue.latest()) == ["v1"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torn line left to skip
        second = _submit(queue, "v2")
        assert [r["submission_id"] for r in AnnotationQueue(path).records()] == [first, second]


def test_a_part_line_that_cannot_be_cut_back_is_said_to_stay_and_fenced_off_by_the_next_submit(tmp_path, monkeypatch):
    path = tmp_path / "queue.jsonl"
    queue = AnnotationQueue(path)
    first = _submit(queue, "v1")
    before = path.read_bytes()
    with monkeypatch.context() as full:
        _full_disk(full, "write", path, part=7)
        _full_disk(full, "ftruncate", path)
        with pytest.raises(OSError, match=r"queue\.jsonl: could not append the submission .*; what was written of "
                                          r"it stays \(a cut line is fenced off by the next submit\); free space"):
            _submit(queue, "v2")
    assert path.read_bytes() == before + b'{"submi'
    with pytest.warns(SkippedLineWarning, match="skipped line 2"):
        second = _submit(queue, "v2")
    with pytest.warns(SkippedLineWarning):
        assert [r["submission_id"] for r in AnnotationQueue(path).records()] == [first, second]


def test_a_write_on_a_full_disk_names_its_file_and_keeps_the_earlier_version(tmp_path, monkeypatch):
    from activeloc.core.io import write_json_atomic

    path = tmp_path / "out.json"
    write_json_atomic({"a": 1}, path)
    with monkeypatch.context() as full:
        _full_disk(full, "fsync", tmp_path)
        with pytest.raises(OSError) as err:
            write_json_atomic({"a": 2}, path)
    assert err.value.errno == errno.ENOSPC
    assert str(err.value) == (f"{path}: could not write it (No space left on device); any earlier version of it "
                              "is unchanged")
    assert (err.value.filename, err.value.strerror) == (str(path), "No space left on device")
    assert json.loads(path.read_text()) == {"a": 1} and list(tmp_path.iterdir()) == [path]  # no temporary left


# ---- checkpoints ----------------------------------------------------------------------------------

def _short_run(data, checkpoint, *, selector="random", seed=0, batch_size=32, noise=0.3):
    from activeloc import ActiveLearningLoop, SimulatedOracle, StageWiseLocalizer, make_selector

    loop = ActiveLearningLoop(StageWiseLocalizer(), make_selector(selector),
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
    "one bit flipped": lambda raw: raw[:-100] + bytes([raw[-100] ^ 0x10]) + raw[-99:],
    "text that names a module": lambda raw: b"corrupted by disk\nsomething\n",
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
    from activeloc.core.io import _writer_tag

    host = _writer_tag().rsplit("-pid", 1)[0]
    checkpoint = tmp_path / "run.joblib"
    dead = tmp_path / f".run.joblib.{host}-pid999999999.abc.tmp"  # no such process here
    live = tmp_path / f".run.joblib.{_writer_tag()}.xyz.tmp"  # a writer still at work
    elsewhere = tmp_path / ".run.joblib.otherhost-pid999999999.abc.tmp"  # another machine's, in a shared folder
    unnamed_old, unnamed_new = tmp_path / ".run.joblib.k2j3h4.tmp", tmp_path / ".run.joblib.m5n6p7.tmp"
    other = tmp_path / f".other.parquet.{host}-pid999999999.abc.tmp"  # not this run's
    for path in (dead, live, elsewhere, unnamed_old, unnamed_new, other):
        path.write_bytes(b"partial")
    os.utime(unnamed_old, (time.time() - 2 * 86400,) * 2)
    _short_run(small, checkpoint)
    assert not dead.exists() and not unnamed_old.exists()
    assert live.exists() and elsewhere.exists() and unnamed_new.exists() and other.exists()


# ---- the command line -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dataset_folder(tmp_path_factory):
    from conftest import write_dataset_folder

    return write_dataset_folder(tmp_path_factory.mktemp("cli") / "dataset", n=300, classes=6, feature_dim=8)


def _cli(capsys, *argv):
    """``activeloc argv``: (exit status, stderr); argparse's own exits count as statuses too."""
    from activeloc.cli import main

    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code
    return status, capsys.readouterr().err


BAD_OPTIONS = {
    "noise above 1": (["--noise", "1.5"], "--noise"),
    "negative noise": (["--noise", "-0.2"], "--noise"),
    "noise nan": (["--noise", "nan"], "--noise"),
    "zero selection videos": (["--selection-videos", "0"], "--selection-videos"),
    "negative batch size": (["--batch-sizes", "-4"], "--batch-sizes"),
    "zero batch size": (["--batch-sizes", "0"], "--batch-sizes"),
    "empty seed list": (["--seeds", ","], "--seeds"),
    "negative seed": (["--seeds", "0,-3"], "--seeds"),
    "zero jobs": (["--jobs", "0"], "--jobs"),
    "unknown selector": (["--selectors", "random,oracle"], "unknown selector 'oracle'"),
    "missing dataset": (["--dataset", "/no/such/folder"], "/no/such/folder/ground_truth.json"),
    "unwritable out": (["--out", "/dev/null/results"], "--out /dev/null/results"),
    "empty out": (["--out", ""], "--out: give a folder"),
    "huge batch size": (["--batch-sizes", "100000000000000000000"], "--batch-sizes"),
    "malformed scheduler": (["--scheduler", "nonsense"], "Dask scheduler 'nonsense': cannot connect"),
}


@pytest.mark.parametrize("argv, named", BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_a_bad_simulate_option_is_one_line_exit_2_before_any_work(dataset_folder, tmp_path, capsys, argv, named):
    out = tmp_path / "out"
    status, err = _cli(capsys, "simulate", "--dataset", dataset_folder, "--out", out, *argv)
    assert status == 2 and named in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (out / "history").exists()  # nothing was run


@pytest.mark.parametrize("spec", ["1.5", "-1", "nan", "0.5:0.95", "0.9:0.5:0.1", "a,b", "0.5:0.95:0", "0.5:0.95:1e-12",
                                  "0.5,0.5"])
def test_a_bad_tiou_is_one_line_exit_2(tmp_path, capsys, spec):
    status, err = _cli(capsys, "evaluate", tmp_path / "gt.json", tmp_path / "results.json", "--tiou", spec)
    assert status == 2 and "--tiou" in err and repr(spec) in err and err.count("\n") == 1


def test_a_number_past_floats_range_in_a_ground_truth_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "gt.json"
    path.write_text('{"database": {"v": {"subset": "validation", "duration": 1' + "0" * 400 + ', "annotations": []}}}')
    status, err = _cli(capsys, "validate", path)
    assert status == 2 and str(path) in err and "duration" in err and err.count("\n") == 1


def test_a_broken_project_file_is_named(project, capsys, monkeypatch):
    monkeypatch.setenv("ACTIVELOC_ROOT", str(project))
    profiles = project / "notebooks" / "profiles.toml"
    profiles.write_text(profiles.read_text() + "\n[tiny\n")
    status, err = _cli(capsys, "reproduce", "--profile", "tiny")
    assert status == 2 and f"{profiles}: not a readable TOML file" in err


def test_reproduce_refuses_any_unknown_notebook_or_profile_before_running(capsys):
    status, err = _cli(capsys, "reproduce", "--only", "01", "--only", "99")
    assert status == 2 and "no notebook '99'" in err and err.count("\n") == 1
    status, err = _cli(capsys, "reproduce", "--profile", "huge")
    assert status == 2 and "unknown profile 'huge'" in err


def test_an_unreadable_history_part_is_set_aside_and_its_run_computed_again(dataset_folder, tmp_path, capsys):
    argv = ["simulate", "--dataset", dataset_folder, "--out", tmp_path / "out", "--selectors", "random",
            "--seeds", "0,0", "--selection-videos", "60", "--testing-videos", "40"]
    assert _cli(capsys, *argv)[0] == 0
    parts = list((tmp_path / "out" / "history").glob("*.parquet"))
    assert len(parts) == 1  # a seed given twice is one run
    before = parts[0].read_bytes()
    parts[0].write_bytes(before[: len(before) // 2])  # cut short
    (tmp_path / "out" / "history" / "stray.parquet").write_bytes(b"not parquet")  # another tool's leftover
    status, err = _cli(capsys, *argv)
    assert status == 0 and "unreadable" in err and "computed again" in err
    assert parts[0].read_bytes() != before[: len(before) // 2]
    assert (tmp_path / "out" / "history" / f"{parts[0].name}.unreadable").exists()
    (tmp_path / "out" / "selections" / parts[0].name).unlink()  # the other table of a finished run
    assert _cli(capsys, *argv)[0] == 0 and (tmp_path / "out" / "selections" / parts[0].name).exists()


def test_simulate_on_a_full_disk_names_the_file_and_how_to_go_on(dataset_folder, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    argv = ["simulate", "--dataset", dataset_folder, "--out", out, "--selectors", "random", "--seeds", "0",
            "--selection-videos", "60", "--testing-videos", "40"]
    with monkeypatch.context() as full:
        _full_disk(full, "fsync", out / "history")
        status, err = _cli(capsys, *argv)
    last = err.strip().splitlines()[-1]  # after the progress bars
    assert status == 2 and "Traceback" not in err
    history = re.escape(str(out.resolve() / "history"))
    assert re.fullmatch(rf"activeloc simulate: error: {history}/\w+\.parquet: could not write it \(No space left "
                        r"on device\); any earlier version of it is unchanged; finished runs are kept in --out .*: "
                        r"run the same command again to go on", last), last
    assert list((out / "history").iterdir()) == []  # no temporary left behind
    assert _cli(capsys, *argv)[0] == 0 and len(list((out / "history").glob("*.parquet"))) == 1


def _break_features(folder, how):
    import h5py

    video = next(iter(json.loads((folder / "ground_truth.json").read_text())["database"]))
    with h5py.File(folder / "features.h5", "a") as fh:
        if how == "missing":
            del fh[f"v_{video}"]
        else:
            fh[f"v_{video}/c3d_features"][0, 0] = np.nan
    return video


@pytest.mark.parametrize("how, says", [("missing", "no features"), ("nan", "NaN")])
def test_feature_errors_in_simulate_name_the_video(dataset_folder, tmp_path, capsys, how, says):
    import shutil

    folder = shutil.copytree(dataset_folder, tmp_path / "dataset")
    video = _break_features(folder, how)
    status, err = _cli(capsys, "simulate", "--dataset", folder, "--out", tmp_path / "out", "--selectors", "random",
                       "--seeds", "0")
    last = err.strip().splitlines()[-1]  # after the progress bars
    assert status == 2 and "Traceback" not in err and last.startswith("activeloc simulate: error:")
    assert f"video '{video}'" in last and says in last and "np.str_" not in last


def test_debug_shows_the_traceback_and_a_bug_is_one_line_exit_1(dataset_folder, tmp_path, capsys, monkeypatch):
    from activeloc.cli import main
    from activeloc.data.dataset import NotADatasetFolder

    with pytest.raises(NotADatasetFolder):
        main(["simulate", "--dataset", str(tmp_path), "--out", str(tmp_path / "out"), "--debug"])

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("activeloc.experiments.grid.run_grid", broken)
    status, err = _cli(capsys, "simulate", "--dataset", dataset_folder, "--out", tmp_path / "out")
    assert status == 1 and err.count("\n") == 1 and "ZeroDivisionError: a bug" in err and "--debug" in err


def _children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended while we looked
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _alive(pids) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1][:3]}


def _simulate_argv(dataset, out):
    import sys

    return [sys.executable, "-m", "activeloc.cli", "simulate", "--dataset", str(dataset), "--out", str(out),
            "--selectors", "random,uncertainty", "--seeds", "0,1,2", "--batch-sizes", "4", "--jobs", "2"]


def _start_simulate(dataset, out):
    import subprocess

    # SIGINT at its default, as in a terminal: a shell running this suite in the background passes
    # it on ignored, and Python then never turns it into KeyboardInterrupt.
    return subprocess.Popen(_simulate_argv(dataset, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_checkpoint(out, proc, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if list((out / "checkpoints").glob("*.joblib.previous")):
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint written (exit {proc.poll()})")


def _history(folder):
    from activeloc.active.loop import TIMING_COLUMNS
    from activeloc.experiments.storage import read_table

    table = read_table(folder / "history").drop(columns=TIMING_COLUMNS)
    return table.sort_values(["run_id", "step"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def uninterrupted_grid(dataset_folder, tmp_path_factory):
    import subprocess

    out = tmp_path_factory.mktemp("grid") / "out"
    subprocess.run(_simulate_argv(dataset_folder, out), capture_output=True, check=True, timeout=300)
    return _history(out)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_simulate_cleanly_and_a_rerun_resumes_to_the_same_result(dataset_folder, uninterrupted_grid,
                                                                                 tmp_path, signum):
    import subprocess

    import pandas as pd

    out = tmp_path / "out"
    proc = _start_simulate(dataset_folder, out)
    _wait_for_checkpoint(out, proc)
    workers = _children(proc.pid)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"activeloc simulate: stopped by {signal.Signals(signum).name}") and "run the same command" in last
    assert "Traceback" not in err and "leaked" not in err
    time.sleep(0.5)
    assert not _alive(workers), "workers outlived the command"
    assert len(list((out / "history").glob("*.parquet"))) < 4  # really stopped mid-grid
    rerun = subprocess.run(_simulate_argv(dataset_folder, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    pd.testing.assert_frame_equal(_history(out), uninterrupted_grid)


@pytest.mark.slow
def test_workers_end_with_a_killed_simulate(dataset_folder, tmp_path):
    out = tmp_path / "out"
    proc = _start_simulate(dataset_folder, out)
    _wait_for_checkpoint(out, proc)
    workers = _children(proc.pid)
    assert workers
    proc.kill()
    proc.communicate()
    deadline = time.time() + 10
    while _alive(workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(workers), "workers outlived a SIGKILLed command"


def test_a_worker_ends_itself_when_its_parent_is_killed(tmp_path):
    import subprocess
    import sys

    script = """
import multiprocessing, os, sys, time
from activeloc.core.workers import prepare_worker

def work():
    prepare_worker()
    print(os.getpid(), flush=True)  # set up: its watchdog is running
    time.sleep(120)

if __name__ == "__main__":
    multiprocessing.get_context("spawn").Process(target=work).start()
    time.sleep(120)
"""
    (tmp_path / "parent.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.time() + 5
    while _alive({worker}) and time.time() < deadline:
        time.sleep(0.05)
    assert not _alive({worker}), "the worker outlived its killed parent"


def test_reproduce_refuses_a_notebook_whose_dataset_is_missing_before_running_any(project, capsys, monkeypatch):
    monkeypatch.setenv("ACTIVELOC_ROOT", str(project))
    status, err = _cli(capsys, "reproduce", "--profile", "tiny", "--only", "03")
    assert status == 2 and "03-selection-ablation reads the dataset that 01-dataset writes, which is not complete" in err
    assert "--only 01" in err and not list((project / "reports" / "notebooks").glob("*.ipynb"))


def _leak_allowance_after_prepare():
    from joblib.externals.loky import process_executor

    from activeloc.core.workers import prepare_worker

    prepare_worker()
    return process_executor._MAX_MEMORY_LEAK_SIZE


@pytest.mark.slow
def test_a_loky_worker_keeps_its_cached_study_data():
    """A prepared worker may hold a study's candidate matrix without loky restarting it as a leak."""
    from joblib import Parallel, delayed

    from activeloc.core.workers import CACHE_ALLOWANCE

    allowances = Parallel(n_jobs=2)(delayed(_leak_allowance_after_prepare)() for _ in range(2))
    assert min(allowances) >= CACHE_ALLOWANCE >= 2**30
