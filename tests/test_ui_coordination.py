"""Several annotators on one queue without a browser: leases (by hand, with a clock the test
moves, and across processes), two servers' sessions and three people's pages sharing one queue,
settings that must match, drafts per person, and faults (a full disk) shown in the page with
nothing lost. The browser test does the same with two servers and two browser contexts."""

import errno
import json
import multiprocessing
import re

import pytest

pytest.importorskip("anywidget", reason="the ui extra is not installed")

from activeloc.cli import main  # noqa: E402
from activeloc.ui import annotation  # noqa: E402
from activeloc.ui.app import WAITING, AnnotatorApp  # noqa: E402
from activeloc.ui.coordination import Coordination, CoordinationError  # noqa: E402
from activeloc.ui.session import AnnotationSession  # noqa: E402
from conftest import shown, write_dataset_folder  # noqa: E402

SETTINGS = {"dataset": "d", "selector": "random", "batch_size": 2, "random_state": 0, "initial_ratio": 0.1}


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_dataset_folder(tmp_path_factory.mktemp("coordination") / "dataset", n=300, classes=8, feature_dim=8)


def test_leases_by_hand(tmp_path):
    clock = Clock()
    c = Coordination(tmp_path / "q.jsonl", SETTINGS, lease_seconds=60, clock=clock)
    assert c.claim("ann", ["a", "b", "c"]) == "a"
    assert c.claim("ann", ["a", "b", "c"]) == "a"  # what she holds, again
    assert c.claim("bob", ["a", "b", "c"]) == "b"
    assert c.claim("cy", ["a", "b"]) is None  # both held
    assert c.holders() == {"a": "ann", "b": "bob"}
    clock.now += 59
    assert c.renew("ann", "a") and not c.renew("cy", "a")
    clock.now += 59  # bob's lapsed (118 s), ann's not (renewed at 59 s)
    assert c.claim("cy", ["a", "b"]) == "b"
    with pytest.raises(Exception, match="'cy' took it over after your lease lapsed"):
        with c.submitting("bob", "bob", "b", latest_by=lambda: None):
            pass
    with c.submitting("cy", "cy", "b", latest_by=lambda: None):
        pass
    assert c.holders() == {"a": "ann"}  # a submission ends the lease
    with pytest.raises(Exception, match="'cy' took it over"):  # bob's stale work never replaces cy's
        with c.submitting("bob", "bob", "b", latest_by=lambda: "cy"):
            pass
    with c.submitting("cy · tab 2", "cy", "b", latest_by=lambda: "cy"):  # her own re-submission, from another tab
        pass
    assert c.claim("ann", ["a", "c"], skip="a") == "c" and c.holders() == {"c": "ann"}  # next: a free one
    assert c.claim("bob", ["a", "c"]) == "a"
    assert c.claim("ann", ["a", "c"], skip="c") is None and c.holders() == {"c": "ann", "a": "bob"}  # none free
    assert c.transfer("ann", "ann · tab 1", "c") and not c.transfer("ann", "cy", "a")
    assert c.holders() == {"c": "ann · tab 1", "a": "bob"}


def _claim(path, person, out):
    out.put((person, Coordination(path, SETTINGS).claim(person, [f"v{i}" for i in range(8)])))


def test_processes_claiming_at_once_never_share_a_video(tmp_path):
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [ctx.Process(target=_claim, args=(tmp_path / "q.jsonl", f"p{i}", out)) for i in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    claimed = dict(out.get(timeout=5) for _ in workers)
    assert sorted(claimed.values()) == [f"v{i}" for i in range(8)]
    assert Coordination(tmp_path / "q.jsonl", SETTINGS).holders() == {v: p for p, v in claimed.items()}


def test_a_server_with_other_settings_is_refused_naming_the_difference(folder, tmp_path, capsys):
    queue = tmp_path / "q.jsonl"
    session = AnnotationSession(folder, queue, batch_size=2)
    AnnotationSession(folder, queue, batch_size=3)  # nothing queued, nobody holding: the queue is free to rebind
    session = AnnotationSession(folder, queue, batch_size=2)
    session.queue.submit(session.batch()[0], [])
    with pytest.raises(CoordinationError, match=r"served with batch_size 2 .*this server has batch_size 3"):
        AnnotationSession(folder, queue, batch_size=3)
    status = main(["annotate", "--dataset", str(folder), "--queue", str(queue), "--batch-size", "2",
                   "--selector", "random"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "served with selector 'uncertainty'" in err, err


def pages(folder, queue, people, clock):
    """One server (session) per person, each with its page."""
    apps = []
    for person in people:
        session = AnnotationSession(folder, queue, batch_size=2, lease_seconds=60)
        session.coordination.clock = clock
        apps.append(AnnotatorApp(session, annotator=person, tick_seconds=None))
    return apps


def test_two_servers_three_people_one_queue(folder, tmp_path):
    clock = Clock()
    ann, bob, cy = pages(folder, tmp_path / "q.jsonl", ["ann", "bob", "cy"], clock)
    first = ann.batch
    assert bob.batch == first == cy.batch  # the same settings, the same queue: the same batch
    assert {ann.panel.model.video_id, bob.panel.model.video_id} == set(first)  # never the same video
    assert cy.panel is None and cy.status.value == WAITING  # the batch is held by others
    assert "(2 being annotated)" in shown(cy.progress.value)

    ann.panel.apply({"op": "add", "t0": 1.0, "t1": 2.0})  # drafts are per person
    video = ann.panel.model.video_id
    assert ann.session.drafts.of("ann").load(video) is not None and ann.session.drafts.of("cy").load(video) is None

    clock.now += 61  # ann's page went quiet: her lease lapsed; cy's page looks again and takes it
    bob._alive()
    cy._assign()
    assert cy.panel.model.video_id == video and cy.panel.model.segments == ()  # not ann's draft
    ann.panel.label_box.value = ann.session.labels_[0]
    ann.panel.apply({"op": "edges", "index": 0, "t1": 2.5})
    assert ann.panel.submit() is None  # refused: cy holds it now; ann's segments stay
    assert "'cy' took it over" in shown(ann.panel.message.value) and len(ann.panel.model.segments) == 1
    assert ann.session.queue.records() == []
    ann._alive()  # ann's next heartbeat finds her video gone and gives her none (the batch is held)
    assert "took it over after your lease lapsed" in shown(ann.status.value) and WAITING in shown(ann.status.value)
    assert not ann.panel_box.children

    cy.panel.no_action_box.value = True
    assert cy.panel.submit()
    bob.panel.no_action_box.value = True
    assert bob.panel.submit()  # the batch's last video: bob's server refits and chooses the next batch
    bob.wait(60)
    second = bob.batch
    assert not set(second) & set(first) and bob.panel.model.video_id in second
    for app in (ann, cy):  # the others' pages find the new batch on their next tick
        app.refresh()
        app.wait(60)
        assert app.batch == second
    assert len({a.panel.model.video_id for a in (ann, bob, cy) if a.panel_box.children}) == 2
    for app in (ann, bob, cy):  # each page's next tick
        app.refresh()
    progress = {re.sub(r" · you \([^)]*\): [^·]*", " ", shown(a.progress.value)) for a in (ann, bob, cy)}
    assert len(progress) == 1 and "batch: 0 of 2 annotated" in progress.pop()  # the queue's, in every page
    records = ann.session.queue.records()
    assert [(r["video_id"], r["annotator"]) for r in records] == [(video, "cy"), (records[1]["video_id"], "bob")]


def test_a_full_disk_shows_in_the_page_and_loses_nothing(folder, tmp_path, monkeypatch):
    session = AnnotationSession(folder, tmp_path / "q.jsonl", batch_size=2)
    app = AnnotatorApp(session, annotator="ann", tick_seconds=None)
    panel = app.panel
    write = annotation.write_json_atomic

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(annotation, "write_json_atomic", full)
    panel.label_box.value = session.labels_[0]
    panel.apply({"op": "add", "t0": 1.0, "t1": 2.0})
    message = shown(panel.message.value)
    assert "draft not saved to" in message and "No space left on device" in message
    assert len(panel.timeline.segments) == len(panel.model.segments) == 1  # the page shows what is kept
    queue_submit = session.queue.submit
    monkeypatch.setattr(session.queue, "submit", lambda *a, **k: full())
    assert panel.submit() is None
    assert "not submitted" in shown(panel.message.value) and session.queue.path.exists() is False
    monkeypatch.setattr(annotation, "write_json_atomic", write)  # space again
    monkeypatch.setattr(session.queue, "submit", queue_submit)
    panel.apply({"op": "add", "t0": 3.0, "t1": 4.0})
    assert "draft not saved" not in shown(panel.message.value)
    assert json.loads(session.drafts.of("ann").path(panel.model.video_id).read_text())["state"]["segments"] == [
        {"segment": [1.0, 2.0], "label": session.labels_[0]}, {"segment": [3.0, 4.0], "label": session.labels_[0]}]
    shown_segments = [[s["t0"], s["t1"]] for s in panel.timeline.segments]
    video = panel.model.video_id
    assert panel.submit()
    assert [i["segment"] for i in session.queue.latest([video])[video]] == shown_segments  # exactly what the page showed


def test_two_tabs_of_one_server_and_a_person_who_names_herself(folder, tmp_path):
    session = AnnotationSession(folder, tmp_path / "q.jsonl", batch_size=3)
    one, two = (AnnotatorApp(session, tick_seconds=None) for _ in range(2))
    one.identify("a" * 16)
    two.identify("b" * 16)
    held = {one.panel.model.video_id, two.panel.model.video_id}
    assert len(held) == 2 and session.coordination.holders() == {
        one.panel.model.video_id: "tab aaaaaaaa", two.panel.model.video_id: "tab bbbbbbbb"}
    one.panel.apply({"op": "next"})  # moves to the batch's free video; her old one is free again
    (free,) = set(session.batch()) - held
    assert one.panel.model.video_id == free and len(set(session.coordination.holders())) == 2
    one.panel.apply({"op": "add", "t0": 1.0, "t1": 2.0})
    one.name_box.value = "dana"  # she names herself: her leases and drafts are now under her name
    assert one.person == "dana" and one.panel.annotator == "dana" and one.panel.model.drafts.folder.name.startswith("dana-")
    assert session.coordination.holders()[one.panel.model.video_id] == "dana · tab aaaaaaaa"
    assert [(s.t0, s.t1) for s in one.panel.model.segments] == [(1.0, 2.0)]  # her work came along


def test_two_pages_under_one_name_never_share_a_video_and_stale_work_loses_a_race(folder, tmp_path):
    session = AnnotationSession(folder, tmp_path / "q.jsonl", batch_size=3)
    one, two = (AnnotatorApp(session, annotator="ann", tick_seconds=None) for _ in range(2))
    one.identify("a" * 16, "ann")
    two.identify("b" * 16, "ann")
    assert one.panel.model.video_id != two.panel.model.video_id  # the leases are the pages', the name is shared
    assert one.panel.drafts.folder == two.panel.drafts.folder  # and so are her drafts (one file per video)

    # Bob's page took a video over after another person's lease lapsed; the lapsed page's guard is
    # entered only after Bob's submission: it reads the queue under the lock and refuses.
    bob = AnnotatorApp(session, annotator="bob", tick_seconds=None)
    video = one.panel.model.video_id
    session.coordination.release(one.holder, video)
    assert session.coordination.transfer(None, bob.holder, video)
    session.queue.submit(video, [], annotator="bob")
    session.coordination.release(bob.holder, video)
    one.panel.no_action_box.value = True
    assert one.panel.submit() is None and "'bob' took it over" in shown(one.panel.message.value)
    assert [r["annotator"] for r in session.queue.records()] == ["bob"]
    one._alive()  # her page learns it and moves on to a video nobody holds
    assert one.panel.model.video_id not in (video, two.panel.model.video_id) or not one.panel_box.children
    assert "took it over" in shown(one.status.value)


def test_a_submission_stands_when_its_lease_cannot_be_released(folder, tmp_path, monkeypatch):
    from activeloc.ui import coordination

    session = AnnotationSession(folder, tmp_path / "q.jsonl", batch_size=2)
    app = AnnotatorApp(session, annotator="ann", tick_seconds=None)
    video = app.panel.model.video_id
    monkeypatch.setattr(coordination, "write_json_atomic",
                        lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    app.panel.no_action_box.value = True
    assert app.panel.submit() and session.queue.latest([video]) == {video: []}
    assert "submitted" in shown(app.panel.message.value)
    assert session.coordination.holders().get(video) == "ann"  # the lease stays, and lapses in time
