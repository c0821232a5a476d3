"""The annotation panel: :class:`AnnotatorWidget` (the timeline script in its editable mode: drag
to draw, drag edges or bodies, keyboard shortcuts, an HTML5 player in step with the playhead)
over an :class:`~activeloc.ui.annotation.AnnotationModel`, with ipywidgets controls around it (a
searchable label box, "no action here", submit, next video).

The script never edits segments itself: it sends an operation (``{"op": "add", "t0": .., "t1":
..}``) and the model applies it, so undo, redo, validation and drafts have one implementation, in
Python. The keys are :data:`SHORTCUTS`, handed to the script as a traitlet.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import ipywidgets as widgets
import traitlets
from markupsafe import Markup

from ..active.oracles import AnnotationQueue
from ..core.errors import InputError, one_line
from .annotation import AnnotationModel, DraftStore, SubmitRefused
from .timeline import CanvasWidget

# Key (as the script names it: modifiers "ctrl+", "shift+" with ctrl, then the key in lower case,
# "space" for the space bar) -> operation. "play" and "seek" the script handles itself.
SHORTCUTS = {
    "a": {"op": "add_at"},
    "[": {"op": "nudge", "edge": "start", "sign": -1},
    "]": {"op": "nudge", "edge": "start", "sign": 1},
    ",": {"op": "nudge", "edge": "end", "sign": -1},
    ".": {"op": "nudge", "edge": "end", "sign": 1},
    "delete": {"op": "delete"},
    "backspace": {"op": "delete"},
    "ctrl+z": {"op": "undo"},
    "ctrl+shift+z": {"op": "redo"},
    "ctrl+y": {"op": "redo"},
    "n": {"op": "next"},
    "space": {"op": "play"},
    "arrowleft": {"op": "seek", "sign": -1},
    "arrowright": {"op": "seek", "sign": 1},
}
SCRIPT_OPS = {"play", "seek"}


class AnnotatorWidget(CanvasWidget):
    """The editable timeline: ``segments`` (``{"t0", "t1", "label"}`` each, the model's, read-only
    for the script) below the context ``lanes``, ``selected`` (an index, -1 for none), ``playhead``
    and ``playing``, ``video_url`` (a local video's URL, "" for none), ``flagged`` (indices
    validation flags)."""

    mode = traitlets.Unicode("annotator").tag(sync=True)
    segments = traitlets.List(traitlets.Dict()).tag(sync=True)
    flagged = traitlets.List(traitlets.Int()).tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)
    playhead = traitlets.Float(0.0).tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    video_url = traitlets.Unicode("").tag(sync=True)
    shortcuts = traitlets.Dict(SHORTCUTS).tag(sync=True)
    nudge = traitlets.Float(0.5).tag(sync=True)


class AnnotationPanel(widgets.VBox):
    """Annotate ``video_ids`` one after the other; submissions go to ``queue``, drafts to ``drafts``.

    ``durations``: seconds per video (a mapping or Series); ``labels``: the classes to pick from;
    ``video_urls``: a URL per video with a local file (the player shows only for those);
    ``lanes_for``: a function of a video id giving context lanes (e.g. a timeline's candidates).
    ``seconds`` records the time spent on each submitted video (from opening it to submitting; the
    queue record carries it too);
    :meth:`on_submit` registers a function called after each submission.

    ``chooser``: a function of the current video id giving the video "next" opens (default: the
    next of ``video_ids``; None stays); ``guard``: a function of a video id giving the context a
    submission is written in (the annotator app's lease check: it may refuse with an InputError).
    Every data string (ids, labels, messages) reaches the page escaped (``markupsafe``), and a
    failed draft save or submit is shown in the page, the segments staying as they are.
    """

    def __init__(self, video_ids, durations, labels, queue: AnnotationQueue, drafts: DraftStore, *,
                 annotator: str = "", video_urls=None, lanes_for=None, segment_length: float = 2.0,
                 nudge: float = 0.5, width: int = 900):
        self.video_ids = list(video_ids)
        if not self.video_ids:
            raise ValueError("no video to annotate")
        self.durations = dict(durations)
        self.labels = list(labels)
        self.queue, self.drafts, self.annotator = queue, drafts, annotator
        self.video_urls = dict(video_urls or {})
        self.lanes_for = lanes_for
        self.segment_length = segment_length
        self.seconds: dict[str, float] = {}
        self.chooser = self._next_in_list
        self.guard = lambda video_id: nullcontext()
        self.timeline = AnnotatorWidget(nudge=nudge, width=width)
        self.label_box = widgets.Combobox(options=self.labels, placeholder="label (type to search)",
                                          ensure_option=True, description="Label")
        self.no_action_box = widgets.Checkbox(description="no action here", indent=False)
        self.submit_button = widgets.Button(description="Submit", button_style="primary")
        self.next_button = widgets.Button(description="Next video")
        self.title = widgets.HTML().add_class("activeloc-title")
        self.message = widgets.HTML().add_class("activeloc-message")
        super().__init__([self.title, self.timeline,
                          widgets.HBox([self.label_box, self.no_action_box, self.submit_button, self.next_button]),
                          self.message])
        self._confirming = False  # a submit with warnings shown once, waiting for a second click
        self._shown_save_error = None
        self._submit_callbacks = []
        self._syncing = False
        self.timeline.on_msg(self._on_message)
        self.timeline.observe(self._on_selected, "selected")
        self.label_box.observe(self._on_label, "value")
        self.no_action_box.observe(self._on_no_action, "value")
        self.submit_button.on_click(lambda _: self.submit())
        self.next_button.on_click(lambda _: self.next_video())
        self.open_video(self.video_ids[0])

    @classmethod
    def for_dataset(cls, dataset, video_ids, queue: AnnotationQueue, drafts: DraftStore, **kwargs) -> AnnotationPanel:
        """A panel over ``dataset``'s classes and durations (its annotations are never shown)."""
        return cls(video_ids, dataset.durations(), dataset.ground_truth.labels, queue, drafts, **kwargs)

    # -- videos -------------------------------------------------------------------------------

    def open_video(self, video_id: str) -> None:
        """Show ``video_id``: its draft, else its latest submission, else nothing."""
        if video_id not in self.durations:
            raise KeyError(f"video {video_id!r}: no duration given")
        self.model = AnnotationModel.open(video_id, self.durations[video_id], self.labels, drafts=self.drafts,
                                          queue=self.queue)
        self._opened_at = time.monotonic()
        duration = self.model.duration
        lanes = self.lanes_for(video_id) if self.lanes_for is not None else []
        with self.timeline.hold_sync():
            self.timeline.video_id = video_id
            self.timeline.duration = duration
            self.timeline.lanes = lanes
            self.timeline.view = [0.0, duration]
            self.timeline.playhead = 0.0
            self.timeline.playing = False
            self.timeline.video_url = self.video_urls.get(video_id, "")
            self.timeline.selected = -1
        position = self.video_ids.index(video_id) + 1 if video_id in self.video_ids else "?"
        self.title.value = Markup("<b>{}</b> ({:.1f} s), video {} of {}").format(video_id, duration, position,
                                                                                len(self.video_ids))
        self.message.value = ""
        self._refresh()
        self._show_save_error()

    def next_video(self) -> str | None:
        """Open the video :attr:`chooser` gives (the draft of this one stays); None if it gives none."""
        try:
            video_id = self.chooser(self.model.video_id)
        except (InputError, OSError) as exc:
            self.message.value = error(f"cannot open another video: {one_line(exc, None)}")
            return None
        if video_id is None:
            self.message.value = "no other video to open in this batch"
            return None
        self.open_video(video_id)
        return self.model.video_id

    def _next_in_list(self, current: str) -> str | None:
        i = self.video_ids.index(current) if current in self.video_ids else -1
        return self.video_ids[i + 1] if i + 1 < len(self.video_ids) else None

    # -- editing ------------------------------------------------------------------------------

    def apply(self, message: dict) -> None:
        """Apply one operation of the script (or of a test) to the model; a bad one is shown, not raised."""
        op = message.get("op")
        model, selected = self.model, self.timeline.selected
        label = self.label_box.value if self.label_box.value in self.labels else None
        try:
            if op == "add":
                selected = model.add(message["t0"], message["t1"], label)
            elif op == "add_at":
                selected = model.add_at(float(message.get("playhead", self.timeline.playhead)), self.segment_length,
                                        label)
            elif op == "edges":
                model.set_edges(int(message["index"]), message.get("t0"), message.get("t1"))
                selected = int(message["index"])
            elif op == "move":
                model.move(int(message["index"]), float(message["delta"]))
                selected = int(message["index"])
            elif op == "nudge":
                if selected >= 0:
                    model.nudge(selected, message["edge"], message["sign"] * self.timeline.nudge)
            elif op == "delete":
                if selected >= 0:
                    model.delete(selected)
                    selected = -1
            elif op == "undo":
                model.undo()
            elif op == "redo":
                model.redo()
            elif op == "next":
                self.next_video()
                return
            else:
                raise ValueError(f"unknown operation {op!r}")
        except (ValueError, IndexError, KeyError, TypeError, OverflowError) as exc:  # what a page may send
            self.message.value = error(one_line(exc))
            return
        self._confirming = False
        self.timeline.selected = selected if selected < len(model.segments) else -1
        self._refresh()
        self._show_save_error()

    def _on_message(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict):
            self.apply(content)

    def _on_selected(self, change) -> None:
        i = change["new"]
        if not self._syncing and 0 <= i < len(self.model.segments):
            self._syncing = True
            self.label_box.value = self.model.segments[i].label or ""
            self._syncing = False

    def _on_label(self, change) -> None:
        i = self.timeline.selected
        if self._syncing or change["new"] not in self.labels or not 0 <= i < len(self.model.segments):
            return
        self.model.set_label(i, change["new"])
        self._refresh()
        self._show_save_error()

    def _on_no_action(self, change) -> None:
        if not self._syncing:
            self.model.set_no_action(change["new"])
            self._refresh()
            self._show_save_error()

    def _show_save_error(self) -> None:
        """The draft's save error in the message line, or, once saved again, the line cleared of it."""
        if self.model.save_error:
            self.message.value = error(self.model.save_error)
        elif self.message.value == self._shown_save_error:
            self.message.value = ""
        self._shown_save_error = self.message.value if self.model.save_error else None

    def _refresh(self) -> None:
        """The view of the model: segments, flags, the checkbox."""
        model = self.model
        self._syncing = True
        self.timeline.segments = [{"t0": s.t0, "t1": s.t1, "label": s.label} for s in model.segments]
        self.timeline.flagged = sorted({i.index for i in model.validate() if i.index is not None})
        self.no_action_box.value = model.no_action
        self._syncing = False
        self.submit_button.description = "Submit anyway" if self._confirming else "Submit"

    # -- submitting ---------------------------------------------------------------------------

    def on_submit(self, callback) -> None:
        """Call ``callback(video_id, submission_id, seconds)`` after each accepted submission."""
        self._submit_callbacks.append(callback)

    def submit(self) -> str | None:
        """Validate and submit the current video; warnings need a second submit. Returns the
        submission id, or None when refused (the panel says why)."""
        video_id, seconds = self.model.video_id, time.monotonic() - self._opened_at
        try:
            with self.guard(video_id):
                submission = self.model.submit(self.queue, annotator=self.annotator,
                                               accept_warnings=self._confirming, seconds=seconds)
        except SubmitRefused as exc:
            self._confirming = all(i.severity == "warning" for i in exc.issues)
            items = Markup("").join(Markup("<li>{}</li>").format(i.message) for i in exc.issues)
            hint = Markup("<br>submit again to keep them") if self._confirming else ""
            self.message.value = Markup("{}<ul>{}</ul>{}").format(error("not submitted:"), items, hint)
            self._refresh()
            return None
        except (InputError, OSError) as exc:  # held by someone else, a full disk, a read-only queue
            self._confirming = False
            hint = ("the segments stay as they are (and in the draft, if it could be saved): submit again once "
                    "it can be written" if isinstance(exc, OSError) else "the segments stay as they are")
            self.message.value = error(f"not submitted: {one_line(exc, None)}; {hint}")
            self._refresh()
            return None
        self._confirming = False
        self.seconds[video_id] = seconds
        self.message.value = Markup("submitted {} ({} segments)").format(video_id, len(self.model.segments))
        self._refresh()
        for callback in self._submit_callbacks:
            callback(video_id, submission, seconds)
        return submission


def error(text: str) -> Markup:
    """A message shown as an error, its text escaped."""
    return Markup("<span class='activeloc-error'>{}</span>").format(text)
