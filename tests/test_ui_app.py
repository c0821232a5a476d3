"""The annotator app without a browser: the session derived from the queue (seed set, batches,
resume), the refit after a batch, progress, and the `activeloc annotate` command's checks."""

import fnmatch
import json
import threading
import time
import tomllib

import pytest

pytest.importorskip("anywidget", reason="the ui extra is not installed")

from activeloc.active.loop import ActiveLearningLoop  # noqa: E402
from activeloc.active.oracles import AnnotationQueue, HumanOracle, SimulatedOracle  # noqa: E402
from activeloc.cli import main  # noqa: E402
from activeloc.core.errors import InputError  # noqa: E402
from activeloc.experiments.grid import default_localizer  # noqa: E402
from activeloc.experiments.inputs import load_study_data  # noqa: E402
from activeloc.active.registry import make_selector  # noqa: E402
from activeloc.ui.app import (CONFIG_VARIABLE, NOTEBOOK, TEMPLATE, TEMPLATES, AnnotatorApp, annotator_app,  # noqa: E402
                              read_config)
from activeloc.ui.session import AnnotationSession  # noqa: E402

from conftest import ROOT, write_dataset_folder  # noqa: E402

BATCH = 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_dataset_folder(tmp_path_factory.mktemp("annotate") / "dataset", n=300, classes=8, feature_dim=8)


def truth_of(session, video_id):
    inst = session.selection.instances
    inst = inst[inst["video_id"] == video_id]
    return [{"segment": [a, b], "label": c} for a, b, c in zip(inst["t_start"], inst["t_end"], inst["label"])]


def annotate(session, video_ids):
    """A person who answers with the dataset's truth (an empty video: no instance)."""
    for v in video_ids:
        session.queue.submit(v, truth_of(session, v))


def test_seed_set_and_batches_are_the_loops_with_a_perfect_annotator(folder, tmp_path):
    session = AnnotationSession(folder, tmp_path / "queue.jsonl", batch_size=BATCH, random_state=3)
    data = load_study_data(folder)
    loop = ActiveLearningLoop(default_localizer(), make_selector("uncertainty"), SimulatedOracle(data.selection.ground_truth),
                              batch_size=BATCH, max_steps=3, random_state=3)
    result = loop.run(data.selection, data.testing, progress=False)
    seed = session.seed_ids_
    assert result.labelled[:len(seed)] == seed  # drawn as the loop draws it
    assert len(seed) == round(0.1 * len(data.selection.video_ids))
    first = session.batch()
    assert first == result.selections.query("step == 0")["video_id"].tolist()
    annotate(session, first)
    assert session.batch() == result.selections.query("step == 1")["video_id"].tolist()


def test_resume_from_the_queue_alone(folder, tmp_path):
    queue = tmp_path / "queue.jsonl"
    session = AnnotationSession(folder, queue, batch_size=BATCH)
    first = session.batch()
    assert len(first) == BATCH and not set(first) & set(session.seed_ids_)
    assert session.pending() == first
    annotate(session, first[:2])
    assert session.batch() == first and session.pending() == first[2:]  # mid-batch: same batch, the rest
    restarted = AnnotationSession(folder, queue, batch_size=BATCH)  # a restart: nothing but the queue
    assert restarted.batch() == first and restarted.pending() == first[2:]
    annotate(session, first[2:])
    second = session.batch()
    assert len(second) == BATCH and not set(second) & (set(first) | set(session.seed_ids_))
    assert session.labelled_at_batch_start() == session.seed_ids_ + first
    again = AnnotationSession(folder, AnnotationQueue(queue), batch_size=BATCH)
    assert again.labelled_at_batch_start() == session.labelled_at_batch_start()
    assert again.batch() == second
    other = AnnotationSession(folder, tmp_path / "elsewhere.jsonl", batch_size=BATCH, random_state=1)
    assert other.seed_ids_ != session.seed_ids_  # the seed decides the initial set


def test_training_labels_are_peoples_where_queued(folder, tmp_path):
    session = AnnotationSession(folder, tmp_path / "queue.jsonl", batch_size=BATCH)
    video, seed_video = session.batch()[0], session.seed_ids_[0]
    session.queue.submit(video, [])  # "no action here"
    session.queue.submit(seed_video, [{"segment": [1.0, 2.0], "label": session.labels_[0]}])
    got = session.annotations([seed_video, video, session.seed_ids_[1]])
    assert got[got["video_id"] == video].empty
    assert got[got["video_id"] == seed_video][["t_start", "t_end", "label"]].values.tolist() == \
        [[1.0, 2.0, session.labels_[0]]]  # a person's answer replaces the dataset's
    own = session.selection.instances
    assert len(got[got["video_id"] == session.seed_ids_[1]]) == (own["video_id"] == session.seed_ids_[1]).sum()
    assert session.annotated() == [video]  # a queued seed video starts no batch


def test_app_submits_what_the_oracle_reads_and_refits_after_a_batch(folder, tmp_path, monkeypatch):
    session = AnnotationSession(folder, tmp_path / "queue.jsonl", batch_size=2)
    app = AnnotatorApp(session, annotator="ann")
    first = list(app.batch)
    panel = app.panel
    assert panel.video_ids == first and panel.model.video_id == first[0]
    panel.label_box.value = session.labels_[1]
    panel.apply({"op": "add", "t0": 3.0, "t1": 7.5})
    assert panel.submit()
    record = session.queue.records()[-1]
    assert (record["video_id"], record["annotator"]) == (first[0], "ann")
    read = HumanOracle(session.queue).annotate([first[0]])
    assert read[["t_start", "t_end", "label"]].values.tolist() == [[3.0, 7.5, session.labels_[1]]]
    assert panel.model.video_id == first[1]  # on to the batch's next video
    progress = session.progress("ann", first)
    assert (progress.annotated, progress.person_annotated, progress.batch_done) == (1, 1, 1)
    assert 0 < progress.seconds == progress.person_seconds
    assert "1 of 2 annotated" in app.progress.value

    gate, choose = threading.Event(), session.batch
    monkeypatch.setattr(session, "batch", lambda: gate.wait(60) and choose())  # a refit that lasts until let go
    panel.no_action_box.value = True
    assert panel.submit()  # the batch's last video: refit and select in the worker thread
    assert app.refit_done is not None and not app.refit_done.done() and "refitting" in app.status.value
    panel.apply({"op": "add", "t0": 1.0, "t1": 2.0})  # meanwhile the panel still edits, drafts and submits
    assert session.drafts.of("ann").load(first[1])["state"]["segments"] == [{"segment": [1.0, 2.0], "label": session.labels_[1]}]
    panel.apply({"op": "undo"})
    assert panel.submit() and len(session.queue.records()) == 2  # the same answer again: no new record
    gate.set()
    app.wait(60)
    second = app.batch
    assert len(second) == 2 and not set(second) & set(first) and panel.video_ids == second
    assert panel.model.video_id == second[0] and "new batch of 2" in app.status.value
    assert len(session.refit_seconds_) == 2 and len(session.queue.records()) == 2
    assert session.labelled_at_batch_start() == session.seed_ids_ + first

    panel.apply({"op": "next"})  # ann moves to the batch's other video
    assert panel.model.video_id == second[1]
    later = AnnotationSession(folder, session.queue, batch_size=2)
    p = later.progress("someone else")
    assert (p.annotated, p.person_annotated, p.batch_done) == (2, 0, 0)  # time and counts survive a restart
    assert later.progress("ann").person_annotated == 2
    # The time is the queue's: each record carries the seconds the panel measured for it.
    # (The second video's repeated answer wrote nothing, its time included.)
    records = session.queue.records()
    assert records[0]["seconds"] == pytest.approx(panel.seconds[first[0]]) and records[1]["seconds"] > 0
    assert p.seconds == pytest.approx(records[0]["seconds"] + records[1]["seconds"]) and p.seconds > progress.seconds
    assert p.person_seconds == 0 and p.pool == p.selection - p.seed - 2
    resumed = AnnotatorApp(later, annotator="ann")  # ann's lease on her video goes on after a restart
    assert resumed.batch == second and resumed.panel.model.video_id == second[1]


def test_app_resumes_on_the_first_pending_video_with_its_draft(folder, tmp_path):
    session = AnnotationSession(folder, tmp_path / "queue.jsonl", batch_size=3)
    app = AnnotatorApp(session)
    assert app.panel is None and app.status.value == "connecting…"  # until the page says who is there
    app.identify("0123456789abcdef")
    batch = app.batch
    app.panel.no_action_box.value = True
    app.panel.submit()
    app.panel.apply({"op": "add", "t0": 1.0, "t1": 2.0})  # a draft on the second video, not submitted
    reloaded = AnnotatorApp(AnnotationSession(folder, session.queue, batch_size=3))  # a page reload: a new kernel
    reloaded.identify("0123456789abcdef")  # the same tab
    assert reloaded.panel.model.video_id == batch[1]
    assert [(s.t0, s.t1) for s in reloaded.panel.model.segments] == [(1.0, 2.0)]
    assert "1 of 3 annotated" in reloaded.progress.value


def test_config_comes_from_the_file_the_command_names(folder, tmp_path, monkeypatch):
    monkeypatch.delenv(CONFIG_VARIABLE, raising=False)
    with pytest.raises(InputError, match="activeloc annotate"):
        read_config()
    config = {"dataset": str(folder), "queue": str(tmp_path / "q.jsonl"), "selector": "random", "batch_size": 3,
              "random_state": 2, "drafts": str(tmp_path / "drafts")}
    (tmp_path / "settings.json").write_text(json.dumps(config))
    monkeypatch.setenv(CONFIG_VARIABLE, str(tmp_path / "settings.json"))
    app = annotator_app()
    assert (app.session.selector, app.session.batch_size, app.session.random_state) == ("random", 3, 2)
    assert app.session.drafts.folder == tmp_path / "drafts" and len(app.batch) == 3


def test_the_served_notebook_ships_in_the_package_and_only_calls_it():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["activeloc"]
    assert any(fnmatch.fnmatch("ui/" + NOTEBOOK.name, p) for p in patterns)
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    assert ["".join(c["source"]) for c in cells] == ["from activeloc.ui.app import annotator_app\n\nannotator_app()"]
    # So does the page's template, where Voila looks for it in a Jupyter data folder.
    template = TEMPLATES / "voila" / "templates" / TEMPLATE
    for name in ("conf.json", "index.html.j2"):
        assert any(fnmatch.fnmatch(str((template / name).relative_to(ROOT / "lib" / "activeloc")), p) for p in patterns)
    assert json.loads((template / "conf.json").read_text()) == {"base_template": "lab"}
    assert "https://" not in (template / "index.html.j2").read_text()


@pytest.mark.parametrize("options, message", [
    (["--dataset", "{tmp}/nowhere"], "--dataset {tmp}/nowhere: {tmp}/nowhere/"),
    (["--selector", "psychic"], "argument --selector: "),
    (["--batch-size", "0"], "argument --batch-size: '0' is not a whole number from 1"),
    (["--port", "70000"], "argument --port: '70000' is not a port"),
])
def test_annotate_errors_are_one_line_naming_the_option(folder, tmp_path, capsys, options, message):
    argv = ["annotate", "--dataset", str(folder), "--queue", str(tmp_path / "q.jsonl")]
    argv += [o.format(tmp=tmp_path) for o in options]
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert message.format(tmp=tmp_path) in err
