"""The widgets' state without a browser: the timeline's lanes from the package's objects, the
annotation panel driven through the operations its script sends, and the shipped script itself."""

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("anywidget")

from activeloc import StageWiseLocalizer, make_selector, tiou  # noqa: E402
from activeloc.active.mcle import MCLESelector  # noqa: E402
from activeloc.active.oracles import AnnotationQueue  # noqa: E402
from activeloc.active.registry import wrap_selector  # noqa: E402
from activeloc.localization.encoding import candidate_matrix  # noqa: E402
from activeloc.ui import AnnotationPanel, AnnotatorWidget, DraftStore, TimelineWidget, timeline_for  # noqa: E402
from activeloc.ui.panel import SCRIPT_OPS, SHORTCUTS  # noqa: E402
from activeloc.ui.timeline import STATIC, lane  # noqa: E402
from conftest import ROOT, shown  # noqa: E402

SCRIPT = STATIC / "timeline.js"


# -- the shipped script -------------------------------------------------------------------------

def test_script_is_shipped_and_referenced():
    import activeloc

    package = Path(activeloc.__file__).parent
    for widget in (TimelineWidget, AnnotatorWidget):
        shown = widget()
        assert shown._esm == SCRIPT.read_text() and shown._css == (STATIC / "timeline.css").read_text()
        assert "export default { render }" in shown._esm
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["activeloc"]
    for path in (SCRIPT, STATIC / "timeline.css"):
        assert any(fnmatch(path.relative_to(package).as_posix(), pattern) for pattern in data), path
    # Nothing fetched at run time: no import, no URL.
    text = SCRIPT.read_text()
    assert not re.search(r"^\s*import\b|import\(|https?://", text, re.M)


@pytest.mark.parametrize("widget", [TimelineWidget, AnnotatorWidget])
def test_script_reads_only_synced_traits(widget):
    text = SCRIPT.read_text()
    used = set(re.findall(r"model\.(?:get|set)\(\"(\w+)\"", text))
    used |= {name for events in re.findall(r"\[\"(change:[^\"]+)\"", text) for name in re.findall(r"change:(\w+)", events)}
    synced = set(widget().keys)
    common = {"mode", "video_id", "duration", "lanes", "view", "selected", "render_ms", "width"}
    assert common <= used
    if widget is AnnotatorWidget:
        assert used <= synced
    else:  # the timeline mode never reaches the annotator's traits
        assert used - synced == {"segments", "flagged", "playhead", "playing", "video_url", "shortcuts", "nudge"}


def test_shortcuts_cover_the_temporal_annotator_keys():
    ops = {(s["op"], s.get("edge"), s.get("sign")) for s in SHORTCUTS.values()}
    assert {("add_at", None, None), ("nudge", "start", -1), ("nudge", "start", 1), ("nudge", "end", -1),
            ("nudge", "end", 1), ("delete", None, None), ("undo", None, None), ("redo", None, None),
            ("next", None, None), ("play", None, None)} <= ops


# -- the timeline -------------------------------------------------------------------------------

def test_lane_columns():
    out = lane("c", "candidates", [0, 1], [2, 3], value=np.array([0.5, np.nan]))
    assert out == {"name": "c", "kind": "candidates", "t0": [0.0, 1.0], "t1": [2.0, 3.0], "value": [0.5, None]}
    with pytest.raises(ValueError, match="column 'label' has 1 values for 2 segments"):
        lane("c", "truth", [0, 1], [2, 3], label=["a"])
    with pytest.raises(ValueError, match="kind must be one of"):
        lane("c", "boxes", [0], [1])


def test_timeline_for_a_labelled_video(data, fitted):
    localizer, labelled, _ = fitted
    vid = labelled.video_ids[3]
    w = timeline_for(labelled, vid, localizer, detections=3)
    lanes = {ln["name"]: ln for ln in w.lanes}
    assert list(lanes) == ["ground truth", "candidates", "detections"]
    truth = labelled.instances[labelled.instances["video_id"] == vid].sort_values("t_start")
    assert lanes["ground truth"]["t0"] == truth["t_start"].tolist() and lanes["ground truth"]["label"] == truth["label"].tolist()
    cm = candidate_matrix(labelled, localizer.proposals, localizer.encoder)
    rows, _ = cm.rows([vid])
    scores = localizer.attention_scores(labelled.subset([vid]))[vid]
    cand = lanes["candidates"]
    assert cand["t0"] == cm.segments[rows, 0].tolist() and cand["t1"] == cm.segments[rows, 1].tolist()
    np.testing.assert_allclose(cand["value"], scores)
    det = localizer.predict(labelled.subset([vid]).without_labels()).nlargest(3, "score")
    assert lanes["detections"]["value"] == pytest.approx(det["score"].tolist())
    assert lanes["detections"]["label"] == det["label"].tolist()
    same = [truth.loc[truth["label"] == label, ["t_start", "t_end"]].to_numpy() for label in det["label"]]
    best = [tiou([[a, b]], s).max() if len(s) else 0.0 for a, b, s in zip(det["t_start"], det["t_end"], same)]
    assert lanes["detections"]["info"] == [f"score {s:.3f}, tIoU {b:.2f} with its class's truth"
                                           for s, b in zip(det["score"], best)]
    assert w.duration == labelled.durations()[vid] and w.view == [0.0, w.duration] and w.video_id == vid
    # A click in the browser sets `selected`; the widget answers with that segment's values.
    assert w.selected_segment() is None
    w.selected = {"lane": "candidates", "index": 2}
    assert w.selected_segment()["t0"] == cand["t0"][2] and w.selected_segment()["value"] == pytest.approx(scores[2])


def test_timeline_for_a_pool_video_shows_no_truth_and_the_selector_evidence(data, fitted):
    localizer, labelled, pool = fitted
    vid = pool.video_ids[0]
    assert [ln["name"] for ln in timeline_for(pool, vid).lanes] == []
    w = timeline_for(pool, vid, localizer, selector=make_selector("uncertainty"), evidence_k=4)
    lanes = {ln["name"]: ln for ln in w.lanes}
    assert "ground truth" not in lanes
    scores = np.asarray(lanes["candidates"]["value"])
    sureness = 1 - 2 * np.abs(scores - 0.5)
    top = np.argsort(-sureness, kind="stable")[:4]
    assert lanes["evidence"]["t0"] == [lanes["candidates"]["t0"][i] for i in top]
    assert lanes["evidence"]["value"] == pytest.approx(sureness[top].tolist())
    assert lanes["evidence"]["info"][0].startswith("uncertainty ")
    # MCLE: of the candidates in either model's top-k, where the prior and the current attention
    # disagree most, by the signed conflict (a prior set by hand here); its diverse variant shows the same.
    mcle = MCLESelector()
    sel = data.split("selection")
    mcle.prior_ = StageWiseLocalizer(random_state=0).fit(sel.subset(sel.video_ids[200:260]))
    prior = np.asarray(mcle.prior_.attention_scores(pool.subset([vid]))[vid], float)
    attended = np.zeros(len(scores), dtype=bool)
    attended[np.argsort(-scores, kind="stable")[:localizer.top_k]] = True
    attended[np.argsort(-prior, kind="stable")[:localizer.top_k]] = True
    conflict = (-(2 * scores - 1) * (2 * prior - 1))[attended]
    for selector in (mcle, wrap_selector("mcle-diverse", mcle)):
        lanes = {ln["name"]: ln for ln in timeline_for(pool, vid, localizer, selector=selector, evidence_k=3).lanes}
        assert lanes["evidence"]["value"] == pytest.approx(np.sort(conflict)[::-1][:3].tolist())
    assert "evidence" not in {ln["name"] for ln in timeline_for(pool, vid, localizer, selector=make_selector("random")).lanes}
    with pytest.raises(KeyError, match="not among the dataset"):
        timeline_for(pool, "nope")


def test_a_thousand_candidates_is_one_widget():
    rng = np.random.default_rng(0)
    t0 = rng.uniform(0, 500, 1000)
    w = TimelineWidget(duration=600.0, lanes=[lane("candidates", "candidates", t0, t0 + 20, value=rng.random(1000))])
    assert len(w.lanes[0]["t0"]) == 1000 and w.render_ms == -1.0  # the browser writes it


# -- the annotation panel -----------------------------------------------------------------------

@pytest.fixture
def panel(data, tmp_path):
    pool = data.split("selection").video_ids[:3]
    return AnnotationPanel.for_dataset(data, pool, AnnotationQueue(tmp_path / "queue.jsonl"),
                                       DraftStore(tmp_path / "drafts"), annotator="tester",
                                       video_urls={pool[1]: "files/v.mp4"}, nudge=0.5)


def test_panel_edits_through_the_scripts_operations(panel, data):
    labels = data.ground_truth.labels
    tl = panel.timeline
    assert tl.video_id == panel.video_ids[0] and tl.segments == [] and tl.selected == -1 and tl.video_url == ""
    assert panel.label_box.options == tuple(labels)
    panel.label_box.value = labels[1]  # the label new segments take
    panel.apply({"op": "add", "t0": 4.0, "t1": 9.0})
    assert tl.segments == [{"t0": 4.0, "t1": 9.0, "label": labels[1]}] and tl.selected == 0
    panel.apply({"op": "nudge", "edge": "end", "sign": 1})
    panel.apply({"op": "nudge", "edge": "start", "sign": -1})
    assert (tl.segments[0]["t0"], tl.segments[0]["t1"]) == (3.5, 9.5)
    panel.apply({"op": "edges", "index": 0, "t1": 12.0})
    panel.apply({"op": "move", "index": 0, "delta": 1.0})
    assert (tl.segments[0]["t0"], tl.segments[0]["t1"]) == (4.5, 13.0)
    tl.playhead = 20.0
    panel.apply({"op": "add_at", "playhead": 20.0})
    assert tl.segments[1] == {"t0": 20.0, "t1": 22.0, "label": labels[1]} and tl.selected == 1
    panel.label_box.value = labels[2]  # picking a label relabels the selected segment
    assert tl.segments[1]["label"] == labels[2]
    tl.selected = 0
    assert panel.label_box.value == labels[1]  # selecting shows its label
    panel.apply({"op": "delete"})
    assert [s["t0"] for s in tl.segments] == [20.0] and tl.selected == -1
    panel.apply({"op": "undo"})
    assert len(tl.segments) == 2
    panel.apply({"op": "redo"})
    assert len(tl.segments) == 1
    panel.apply({"op": "fly"})
    assert "unknown operation 'fly'" in shown(panel.message.value)
    panel.apply({"op": "edges", "index": 7, "t0": 1.0})
    assert "no segment 7" in shown(panel.message.value)


def test_panel_flags_validates_submits_and_resumes(panel, tmp_path, data):
    labels = data.ground_truth.labels
    first, second = panel.video_ids[:2]
    assert panel.submit() is None and "no segment" in shown(panel.message.value)
    panel.apply({"op": "add", "t0": 1.0, "t1": 5.0})
    assert panel.timeline.flagged == [0]  # no label yet
    panel.label_box.value = labels[0]
    panel.apply({"op": "add", "t0": 3.0, "t1": 8.0})
    assert panel.timeline.flagged == [1]  # same-label overlap
    assert panel.submit() is None and panel.submit_button.description == "Submit anyway"
    assert panel.submit() is not None  # the second click keeps the overlap
    latest = AnnotationQueue(tmp_path / "queue.jsonl").latest([first])[first]
    assert latest == [{"segment": [1.0, 5.0], "label": labels[0]}, {"segment": [3.0, 8.0], "label": labels[0]}]
    assert panel.seconds[first] >= 0
    panel.apply({"op": "next"})
    assert panel.timeline.video_id == second and panel.timeline.video_url == "files/v.mp4"
    panel.no_action_box.value = True
    panel.apply({"op": "add", "t0": 2.0, "t1": 3.0})
    # A reload: a new panel over the same queue and drafts finds both where they were left.
    again = AnnotationPanel.for_dataset(data, panel.video_ids, AnnotationQueue(tmp_path / "queue.jsonl"),
                                        DraftStore(tmp_path / "drafts"))
    assert [(s["t0"], s["t1"]) for s in again.timeline.segments] == [(1.0, 5.0), (3.0, 8.0)]
    again.next_video()
    assert again.timeline.segments == [{"t0": 2.0, "t1": 3.0, "label": labels[0]}] and again.no_action_box.value
    again.apply({"op": "undo"})
    assert again.timeline.segments == [] and again.no_action_box.value
    assert again.submit() is not None
    assert AnnotationQueue(tmp_path / "queue.jsonl").latest([second]) == {second: []}
    again.next_video()
    assert again.next_video() is None and "no other video" in shown(again.message.value)


def test_every_shortcut_has_a_handler(panel):
    text = SCRIPT.read_text()
    panel.apply({"op": "add", "t0": 1.0, "t1": 2.0})
    for key, action in SHORTCUTS.items():
        if action["op"] in SCRIPT_OPS:
            assert f'action.op === "{action["op"]}"' in text, key
        else:
            panel.message.value = ""
            panel.apply(dict(action))
            assert "unknown operation" not in shown(panel.message.value), key
