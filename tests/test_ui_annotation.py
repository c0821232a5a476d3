"""The annotation panel's logic without a browser: edits, undo and redo, validation, drafts, submit."""

import json
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activeloc.active.oracles import AnnotationQueue, HumanOracle
from activeloc.core.errors import InputError
from activeloc.ui.annotation import MIN_LENGTH, AnnotationModel, DraftStore, Segment, State, SubmitRefused

LABELS = ["jump", "run", "swim"]


def model(tmp_path=None, duration=100.0):
    drafts = DraftStore(tmp_path / "drafts") if tmp_path is not None else None
    return AnnotationModel("v1", duration, LABELS, drafts=drafts)


def test_edits_by_hand():
    m = model()
    assert m.add(30, 10, "run") == 0  # ends in either order
    assert m.segments == (Segment(10.0, 30.0, "run"),)
    m.move(0, 80)  # stops at the video's end, length kept
    assert m.segments[0] == Segment(80.0, 100.0, "run")
    m.move(0, -500)
    assert m.segments[0] == Segment(0.0, 20.0, "run")
    m.nudge(0, "start", 5)
    m.nudge(0, "end", 1.5)
    assert m.segments[0] == Segment(5.0, 21.5, "run")
    m.nudge(0, "start", 100)  # never past the other edge
    assert m.segments[0].t0 == pytest.approx(21.5 - MIN_LENGTH)
    m.nudge(0, "end", 1e6)
    assert m.segments[0].t1 == 100.0
    m.set_edges(0, t0=40, t1=60)
    m.set_label(0, "swim")
    assert m.segments == (Segment(40.0, 60.0, "swim"),)
    assert m.add_at(99.0, length=2.0) == 1  # at the playhead, kept inside the video
    assert m.segments[1] == Segment(98.0, 100.0, None)
    m.delete(0)
    assert m.segments == (Segment(98.0, 100.0, None),)
    with pytest.raises(InputError, match="unknown label 'fly'"):
        m.set_label(0, "fly")
    with pytest.raises(IndexError, match="no segment 3"):
        m.delete(3)
    with pytest.raises(ValueError, match="edge must be"):
        m.nudge(0, "middle", 1)


def test_undo_redo_by_hand():
    m = model()
    assert not m.undo() and not m.redo()
    m.add(1, 2, "run")
    m.set_label(0, "jump")
    m.set_label(0, "jump")  # changes nothing: no undo step
    assert len(m.undo_stack) == 2
    assert m.undo() and m.segments == (Segment(1.0, 2.0, "run"),)
    assert m.undo() and m.segments == ()
    assert m.redo() and m.redo() and m.segments == (Segment(1.0, 2.0, "jump"),)
    m.undo()
    m.delete(0)  # a new edit after an undo drops what could be redone
    assert not m.redo()


def test_validation_by_hand():
    m = model(duration=50.0)
    assert [i.message for i in m.validate()] == ['no segment: draw one, or tick "no action here"']
    m.set_no_action(True)
    assert m.validate() == []
    m.add(-1, 10, "run")
    m.add(5, 5, "run")
    m.add(20, 60, None)
    errors = [(i.severity, i.index, i.message) for i in m.validate()]
    assert ("error", 0, "segment 1 [-1.00, 10.00] is not inside the video (0 to 50.00 s)") in errors
    assert ("error", 1, "segment 2 [5.00, 5.00] has no positive length") in errors
    assert ("error", 2, "segment 3 [20.00, 60.00] is not inside the video (0 to 50.00 s)") in errors
    assert ("error", 2, "segment 3 [20.00, 60.00] has no label") in errors
    assert ("error", None, '"no action here" is ticked but there are segments') in errors
    # The same label overlapping is a warning; different labels may overlap.
    m2 = model()
    m2.add(10, 20, "run")
    m2.add(15, 25, "run")
    m2.add(12, 18, "jump")
    m2.add(30, 40, "run")
    assert [(i.severity, i.index) for i in m2.validate()] == [("warning", 1)]


def test_submit_writes_the_queue_and_drops_the_draft(tmp_path):
    queue = AnnotationQueue(tmp_path / "queue.jsonl")
    m = model(tmp_path)
    with pytest.raises(SubmitRefused, match="no segment"):
        m.submit(queue)
    m.add(30, 40, "run")
    m.add(10, 20, "jump")
    m.add(15, 22, "jump")
    with pytest.raises(SubmitRefused, match="overlap with the same label 'jump'"):
        m.submit(queue)  # a warning refuses until accepted
    assert not queue.path.exists()
    assert DraftStore(tmp_path / "drafts").load("v1") is not None
    m.submit(queue, annotator="ann", accept_warnings=True)
    records = [json.loads(line) for line in queue.path.read_text().splitlines()]
    assert [r["instances"] for r in records] == [[{"segment": [10.0, 20.0], "label": "jump"},
                                                 {"segment": [15.0, 22.0], "label": "jump"},
                                                 {"segment": [30.0, 40.0], "label": "run"}]]
    assert records[0]["annotator"] == "ann" and records[0]["video_id"] == "v1"
    assert DraftStore(tmp_path / "drafts").load("v1") is None
    # What the human oracle reads, and what a reopened panel starts from.
    answer = HumanOracle(AnnotationQueue(queue.path)).annotate(["v1"])
    assert answer[["t_start", "t_end", "label"]].values.tolist() == [[10.0, 20.0, "jump"], [15.0, 22.0, "jump"],
                                                                       [30.0, 40.0, "run"]]
    again = AnnotationModel.open("v1", 100.0, LABELS, drafts=DraftStore(tmp_path / "drafts"), queue=queue)
    assert set(again.segments) == set(m.segments) and again.undo_stack == []


def test_no_action_submits_an_empty_annotation(tmp_path):
    queue = AnnotationQueue(tmp_path / "queue.jsonl")
    m = model(tmp_path)
    m.set_no_action(True)
    m.submit(queue)
    assert queue.latest(["v1"]) == {"v1": []}
    assert AnnotationModel.open("v1", 100.0, LABELS, queue=queue).no_action


def test_every_change_is_a_draft_and_a_crash_loses_nothing(tmp_path):
    m = model(tmp_path)
    m.add(1, 4, "run")
    m.nudge(0, "end", 0.5)
    # A new process (a reload): the draft, history included.
    back = AnnotationModel.open("v1", 100.0, LABELS, drafts=DraftStore(tmp_path / "drafts"))
    assert back.state == m.state and back.undo_stack == m.undo_stack
    assert back.undo() and back.segments == (Segment(1.0, 4.0, "run"),)
    # No temporary left behind by the atomic writes.
    assert [p.name for p in (tmp_path / "drafts").iterdir()] == [DraftStore(tmp_path / "drafts").path("v1").name]


def test_unreadable_draft_is_set_aside(tmp_path):
    store = DraftStore(tmp_path)
    store.path("v/1").write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable draft"):
        assert store.load("v/1") is None
    assert [p.name.endswith(".unreadable") for p in tmp_path.iterdir()] == [True]
    store.save("v/1", {"state": State().to_json()})
    store.save("v_1", {"state": State().to_json()})  # sanitised alike, kept apart
    assert sorted(store.video_ids()) == ["v/1", "v_1"]


def test_bad_duration():
    with pytest.raises(InputError, match="duration must be a positive number"):
        AnnotationModel("v1", 0.0, LABELS)


# -- properties ---------------------------------------------------------------------------------

times = st.floats(-10, 110, allow_nan=False)
edits = st.lists(st.one_of(
    st.tuples(st.just("add"), times, times, st.sampled_from([None, *LABELS])),
    st.tuples(st.just("move"), st.integers(0, 9), st.floats(-50, 50, allow_nan=False)),
    st.tuples(st.just("nudge"), st.integers(0, 9), st.sampled_from(["start", "end"]), st.floats(-5, 5, allow_nan=False)),
    st.tuples(st.just("set_edges"), st.integers(0, 9), times, times),
    st.tuples(st.just("delete"), st.integers(0, 9)),
    st.tuples(st.just("set_label"), st.integers(0, 9), st.sampled_from(LABELS)),
    st.tuples(st.just("set_no_action"), st.booleans()),
), max_size=25)


def apply_edits(m, ops):
    for op, *args in ops:
        if op in ("add", "set_no_action"):
            getattr(m, op)(*args)
        elif m.segments:
            getattr(m, op)(args[0] % len(m.segments), *args[1:])


@settings(max_examples=60, deadline=None)
@given(edits, st.integers(0, 30))
def test_undo_then_redo_returns_the_same_state(ops, k):
    m = model()
    apply_edits(m, ops)
    final, steps = m.state, len(m.undo_stack)
    history = [*m.undo_stack, final]  # the state after each edit, the empty start first
    for _ in range(k):
        m.undo()
    assert m.state == history[max(steps - k, 0)]
    assert history[0] == State()
    for _ in range(k):
        m.redo()
    assert m.state == final
    assert not m.redo() and len(m.undo_stack) == steps


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits, st.integers(0, 5))
def test_drafts_round_trip(tmp_path, ops, undos):
    drafts = DraftStore(tmp_path / "drafts")
    drafts.discard("v1")
    m = AnnotationModel("v1", 100.0, LABELS, drafts=drafts)
    apply_edits(m, ops)
    for _ in range(undos):
        m.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = AnnotationModel.open("v1", 100.0, LABELS, drafts=drafts)
    if not m.undo_stack and not m.redo_stack:  # nothing was ever changed: no draft
        assert not drafts.path("v1").exists() and back.state == State()
    assert (back.state, back.undo_stack, back.redo_stack) == (m.state, m.undo_stack, m.redo_stack)


@settings(max_examples=100, deadline=None)
@given(person=st.text(), video=st.text(min_size=1))
def test_a_draft_lands_inside_its_persons_folder_whatever_the_names(person, video):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        store = DraftStore(Path(folder) / "drafts").of(person)
        store.save(video, {"state": State().to_json()})
        assert store.path(video).resolve().parent.parent == (Path(folder) / "drafts").resolve()
        assert store.load(video)["video_id"] == video and store.video_ids() == [video]
