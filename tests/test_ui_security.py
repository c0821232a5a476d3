"""Data is never code: a dataset whose every video id and class label is a script payload goes
through every widget (timeline, annotation panel, app with its progress and messages, run
inspector), and every piece of HTML the widgets send to the page holds the payloads as text only:
no element or attribute of theirs. The browser tests run the same dataset in real pages."""

from html.parser import HTMLParser

import ipywidgets as widgets
import pytest

pytest.importorskip("anywidget", reason="the ui extra is not installed")

from activeloc.active.oracles import AnnotationQueue  # noqa: E402
from activeloc.experiments import make_cells, run_grid  # noqa: E402
from activeloc.experiments.inputs import load_study_data  # noqa: E402
from activeloc.localization.localizer import StageWiseLocalizer  # noqa: E402
from activeloc.ui import AnnotationPanel, DraftStore, RunInspector, timeline_for  # noqa: E402
from activeloc.ui.app import AnnotatorApp  # noqa: E402
from activeloc.ui.session import AnnotationSession  # noqa: E402
from activeloc.ui.timeline import STATIC  # noqa: E402
from conftest import hostile_dataset_folder, shown  # noqa: E402

# The elements and attributes the package's own HTML uses; a payload would bring others.
TAGS = {"b", "i", "code", "span", "div", "ul", "li", "br", "table", "tr", "th", "td", "h4", "style"}
ATTRIBUTES = {"class", "title", "style", "data-annotated", "data-batch-done"}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return hostile_dataset_folder(tmp_path_factory.mktemp("hostile") / "dataset")


def elements(markup: str) -> list[tuple[str, list[str]]]:
    """(tag, attribute names) of every element of ``markup``."""
    found = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: found.append((tag, [a for a, _ in attrs]))
    parser.feed(str(markup))
    parser.close()
    return found


def html_values(widget) -> list[str]:
    """Every HTML value of ``widget``'s tree."""
    out = [widget.value] if isinstance(widget, widgets.HTML) else []
    for child in getattr(widget, "children", ()):
        out += html_values(child)
    return out


def assert_inert(widget) -> list[str]:
    """Every HTML value of the tree is only the package's own markup; returns what they show."""
    values = html_values(widget)
    assert values
    for value in values:
        for tag, attributes in elements(value):
            assert tag in TAGS and set(attributes) <= ATTRIBUTES, (tag, attributes, value)
    return [shown(v) for v in values]


def test_the_elements_check_sees_a_payload():
    assert elements("<b>x</b><img src=x onerror=alert(1)>") == [("b", []), ("img", ["src", "onerror"])]


def test_the_scripts_never_write_markup():
    for script in STATIC.glob("*.js"):
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, f"{script.name} uses {sink}"


def test_panel_shows_hostile_ids_and_labels_as_text(hostile, tmp_path):
    selection = load_study_data(hostile).selection
    videos = selection.video_ids[:2]
    queue = AnnotationQueue(tmp_path / "q.jsonl")
    panel = AnnotationPanel.for_dataset(selection, videos, queue, DraftStore(tmp_path / "drafts"))
    assert videos[0] in "".join(assert_inert(panel))  # the title shows the id as it is
    label = selection.ground_truth.labels[0]
    panel.label_box.value = label
    assert panel.label_box.options[0] == label  # the box's options are text (the page puts them in as values)
    panel.apply({"op": "add", "t0": 1.0, "t1": 2.0})
    panel.apply({"op": "add", "t0": 1.5, "t1": 3.0})
    assert panel.timeline.segments[0]["label"] == label  # the script draws it on a canvas, and tips by text nodes
    assert panel.submit() is None  # two overlapping segments of one label: a warning naming the label
    assert repr(label) in "".join(assert_inert(panel))
    panel.apply({"op": f"<img src=x onerror={label}>"})  # an operation the page sends back is shown as text too
    assert_inert(panel)
    before = panel.model.segments
    for bad in ({"op": "add", "t0": 1, "t1": 10**400}, {"op": "add", "t0": float("nan"), "t1": 2},
                {"op": "move", "index": 0, "delta": float("inf")}, {"op": "edges", "index": 0, "t1": "x"}):
        panel.apply(bad)  # refused, and said in the page
        assert panel.model.segments == before and "activeloc-error" in panel.message.value, bad
    assert panel.submit()  # confirmed
    assert videos[0] in "".join(assert_inert(panel))
    assert queue.records()[-1]["video_id"] == videos[0]


def test_app_shows_hostile_names_progress_and_errors_as_text(hostile, tmp_path, monkeypatch):
    session = AnnotationSession(hostile, tmp_path / "q.jsonl", batch_size=2)
    name = "<img src=x onerror=alert('name')>"
    app = AnnotatorApp(session, annotator=name, tick_seconds=None)
    texts = "".join(assert_inert(app))
    assert name in texts and app.panel.model.video_id in texts
    monkeypatch.setattr(session, "_choose", lambda labelled: (_ for _ in ()).throw(RuntimeError("<svg onload=alert(1)>")))
    app.panel.no_action_box.value = True
    app.panel.submit()
    app.panel.no_action_box.value = True
    app.panel.submit()  # the batch's last video: the refit fails with a hostile message
    app.wait(60)
    assert "refit failed: <svg onload=alert(1)>" in "".join(assert_inert(app))


def test_timeline_and_inspector_show_hostile_data_as_text(hostile, tmp_path):
    data = load_study_data(hostile)
    selection = data.selection
    localizer = StageWiseLocalizer(random_state=0).fit(selection.subset(selection.video_ids[:60]))
    video = selection.video_ids[0]
    timeline = timeline_for(selection, video, localizer)
    assert timeline.video_id == video
    truth = next(ln for ln in timeline.lanes if ln["kind"] == "truth")
    assert set(truth["label"]) <= set(selection.ground_truth.labels)  # data, for the script to put in as text

    out = tmp_path / "grid"
    run_grid(make_cells(hostile, ["uncertainty"], [16], [0.0], [0], selection_videos=60, testing_videos=30,
                        knowledge_videos=60), out)
    inspector = RunInspector(out)
    texts = "".join(assert_inert(inspector))
    chosen = inspector.inspection.video_ids
    buttons = [w for w in inspector.batch.children if isinstance(w, widgets.HBox)
               for w in w.children if isinstance(w, widgets.Button)]
    assert [b.description for b in buttons] == chosen  # a button's description is text in ipywidgets 8
    inspector.open_video(chosen[0])
    assert chosen[0] in "".join(assert_inert(inspector)) and "uncertainty" in texts
