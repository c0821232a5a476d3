"""The annotator app that ``activeloc annotate`` serves through Voila: an :class:`AnnotationPanel`
over the video an :class:`~activeloc.ui.session.AnnotationSession` gives this page's person, with
the queue's progress above it. After a batch's last submission the localizer is refit and the
next batch chosen in a worker thread; the page stays live (drafts, re-submissions) and the panel
switches to the person's next video when it is ready.

Each page is one person: the name typed in the page (kept by the browser), else the browser tab
(:class:`BrowserSession`). People never hold the same video; their drafts are their own; the
progress, read from the queue every :data:`TICK_SECONDS`, is the same in every page.

The kernel Voila starts reads its settings from the JSON file named by the environment variable
:data:`CONFIG_VARIABLE` (written by the command): nothing comes from the page's URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anywidget
import ipywidgets as widgets
import traitlets
from IPython.utils.capture import capture_output
from markupsafe import Markup

from ..core.errors import InputError, one_line
from .panel import AnnotationPanel, error
from .coordination import CoordinationError
from .session import AnnotationSession
from .timeline import STATIC

CONFIG_VARIABLE = "ACTIVELOC_ANNOTATE"
NOTEBOOK = Path(__file__).parent / "annotate.ipynb"  # what Voila renders: it calls annotator_app()
# Voila's lab template without its CDN stylesheets, in a Jupyter data folder: <TEMPLATES>/voila/templates/<TEMPLATE>.
TEMPLATES, TEMPLATE = Path(__file__).parent, "activeloc"
TICK_SECONDS = 2.0  # how often a page reads the queue's progress (and, while waiting, looks for a video)
CONNECTING = "connecting…"
WAITING = ("the rest of this batch is being annotated by others: a video opens here once one is free or the next "
           "batch is chosen")
NOTHING_LEFT = "every Selection video is labelled: nothing left to annotate"


def _no_displays():
    """Displays (a progress bar's widget) are kept from the page: a bar closed once done leaves an
    output whose widget is gone, which the page shows as "model not found"."""
    return capture_output(stdout=False, stderr=False, display=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600} h {seconds // 60 % 60:02d} min" if seconds >= 3600 else \
        f"{seconds // 60} min {seconds % 60:02d} s"


def _kernel_loop():
    """The kernel's event loop, where widgets are updated (None outside a kernel)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class BrowserSession(anywidget.AnyWidget):
    """Who is at the page (the script ``static/session.js``): ``tab``, a random id the browser tab
    keeps across reloads; ``name``, the name the person declared (the browser keeps it); a
    message every ``heartbeat`` seconds while the page is open."""

    _esm = STATIC / "session.js"
    tab = traitlets.Unicode("").tag(sync=True)
    name = traitlets.Unicode("").tag(sync=True)
    heartbeat = traitlets.Float(60.0).tag(sync=True)


class AnnotatorApp(widgets.VBox):
    """The session's page: a header saying where the labels come from, the person's name, the
    progress line, the status and the panel (shown once the page's person is known and holds a
    video). ``person`` is who annotates here (None until the page said); ``refit_done`` the
    running refit's future (None when idle)."""

    def __init__(self, session: AnnotationSession, *, annotator: str = "", width: int = 900,
                 tick_seconds: float | None = TICK_SECONDS):
        self.session = session
        self.width = width
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="activeloc-refit")
        self.refit_done = None
        self._switched = threading.Event()
        self.person = self.holder = None
        self.panel = None
        self._last_alive = -float("inf")  # time.monotonic() of the page's last sign of life
        self._status_transient = True  # the status line says something a video opening ends
        self._queue_unreadable = False
        self.header = widgets.HTML(self._header())
        self.browser = BrowserSession(name=annotator, heartbeat=min(60.0, session.coordination.lease_seconds / 3))
        self.name_box = widgets.Text(value=annotator, description="Your name", placeholder="(optional)",
                                     continuous_update=False)
        self.progress = widgets.HTML()
        self.status = widgets.HTML()
        self.progress.add_class("activeloc-progress")
        self.status.add_class("activeloc-status")
        self.panel_box = widgets.VBox()
        super().__init__([self.header, widgets.HBox([self.name_box, self.browser]), self.progress, self.status,
                          self.panel_box])
        widgets.link((self.browser, "name"), (self.name_box, "value"))
        self.browser.observe(lambda _: self._identify(), ["tab", "name"])
        self.browser.on_msg(lambda *_: self._alive())
        with _no_displays():
            self.batch = session.batch()
        self.status.value = CONNECTING
        self._show_progress()
        self._identify()  # a name given to the server: no need to wait for the page
        self._loop = _kernel_loop()
        if tick_seconds and self._loop is not None:
            self._loop.call_later(tick_seconds, self._tick, tick_seconds)

    def _header(self) -> Markup:
        s = self.session
        return Markup("<b>activeloc annotate</b>: selector <code>{}</code>, batches of {}. The first {} Selection "
                      "videos (the initial {:.0%}, drawn as the loop draws it) are labelled with the dataset's "
                      "own annotations; every other label comes from the people annotating on this queue. "
                      "Names are declared, not checked.").format(s.selector, s.batch_size, len(s.seed_ids_),
                                                                   s.initial_ratio)

    # -- who is here --------------------------------------------------------------------------

    def identify(self, tab: str, name: str = "") -> None:
        """Set what the page's script reports: its tab's id, the name typed (tests call it)."""
        with self.browser.hold_trait_notifications():
            self.browser.name = name
            self.browser.tab = tab

    def _identify(self) -> None:
        """The person (the name, else the tab) and the page that holds leases (the name and the tab:
        two pages under one name never share a video), from what the page reported."""
        tab, name = self.browser.tab, self.browser.name.strip()
        if not tab and not name:
            return
        person = name or f"tab {tab[:8]}"
        holder = f"{name} · tab {tab[:8]}" if name and tab else person
        if holder == self.holder:
            return
        old, self.person, self.holder = self.holder, person, holder
        self._last_alive = time.monotonic()
        try:
            if self.panel is not None:  # the open video and its work go along, unless the name has its own
                drafts, model = self.session.drafts.of(person), self.panel.model
                if (model.segments or model.no_action) and drafts.load(model.video_id) is None:
                    drafts.save(model.video_id, model.draft())
                self.panel.annotator, self.panel.drafts = person, drafts
                self.session.coordination.transfer(old, holder, model.video_id)
        except (InputError, OSError) as exc:
            self._notice(f"your name could not take your work along: {one_line(exc)}")
        self._assign()

    def _alive(self) -> None:
        """A heartbeat: the page is still open, its lease goes on; if someone else took its video
        over (the lease lapsed), it is given another."""
        self._last_alive = time.monotonic()
        if self.panel is None or self.holder is None or self.refit_done is not None or not self.panel_box.children:
            return
        video = self.panel.model.video_id
        try:
            if video in self.session.pending(self.batch):
                lost = not self.session.coordination.renew(self.holder, video)
            else:  # submitted: by this person (a re-submission may follow), or by whoever took it over
                lost = video in self.batch and self.session.latest_annotator(video) not in (None, self.person)
        except (InputError, OSError) as exc:
            self._notice(f"cannot keep your lease: {one_line(exc)}")
            return
        if lost:
            self._assign()
            self._notice(f"{video}: someone else took it over after your lease lapsed (your draft is kept)",
                         keep_state=True)

    def _notice(self, text: str, keep_state: bool = False) -> None:
        """An error in the status line (before the waiting state, if ``keep_state``), cleared once a
        video opens or the queue reads again."""
        state = self.status.value if keep_state and self._status_transient else ""
        self.status.value = Markup("{} {}").format(error(text), state)
        self._status_transient = True

    # -- which video --------------------------------------------------------------------------

    def _assign(self) -> str | None:
        """Open the video the session gives this page (refitting first if the queue completed a
        batch); None if there is none for now."""
        if self.holder is None or self.refit_done is not None:
            return None
        try:
            if self.session.needs_refit():
                self._refit()
                return None
            self.batch = self.session.batch()
            video = self.session.assign(self.holder, self.batch)
        except Exception as exc:  # shown on the page (a coordination file unwritable, a queue unreadable)
            self._notice(f"cannot give you a video: {one_line(exc)}; reload the page to try again")
            return None
        if video is None:
            self.status.value = NOTHING_LEFT if not self.batch else WAITING
            self._status_transient = True
            self.panel_box.children = ()
        else:
            self._open(video)
            if self._status_transient:
                self.status.value, self._status_transient = "", False
        self._show_progress()
        return video

    def _next(self, current: str) -> str | None:
        """What "next video" opens: another free video of the batch (None: none, or a refit runs)."""
        if self.refit_done is not None:
            return None
        return self.session.assign(self.holder, self.batch, skip=current)

    def _open(self, video: str) -> None:
        if self.panel is None:
            self.panel = AnnotationPanel(self.batch, self.session.durations_, self.session.labels_, self.session.queue,
                                         self.session.drafts.of(self.person), annotator=self.person, width=self.width)
            self.panel.chooser = self._next
            self.panel.guard = lambda v: self.session.submitting(self.holder, self.person, v)
            self.panel.on_submit(self._on_submit)
        if (self.panel.model.video_id != video or self.panel.video_ids != self.batch
                or self.panel.model.drafts is not self.panel.drafts):  # another batch, video or person
            self.panel.video_ids = list(self.batch)
            self.panel.open_video(video)
        self.panel_box.children = (self.panel,)

    def refresh(self) -> None:
        """What the page does every few seconds: show the queue's progress; while the page is
        alive (a heartbeat lately), look for a video if it waits for one, or for the next batch if
        others completed this one."""
        try:
            alive = time.monotonic() - self._last_alive < 3 * self.browser.heartbeat
            if alive and self.holder is not None and self.refit_done is None and (
                    self.panel is None or not self.panel_box.children or self.session.needs_refit()):
                self._assign()
            else:
                self._show_progress()
                if self._queue_unreadable:
                    self.status.value, self._status_transient, self._queue_unreadable = "", False, False
        except Exception as exc:  # shown on the page: the kernel has no one reading its log
            self._notice(f"cannot read the queue: {one_line(exc)}")
            self._queue_unreadable = True

    def _tick(self, seconds: float) -> None:
        try:
            self.refresh()
        finally:
            self._loop.call_later(seconds, self._tick, seconds)

    def _show_progress(self) -> None:
        p = self.session.progress(self.person, self.batch)
        you = (Markup(" · you ({}): {} videos, {}").format(self.person, p.person_annotated,
                                                            _duration(p.person_seconds))
               if self.person is not None else "")
        self.progress.value = Markup(
            "<span data-annotated='{}' data-batch-done='{}'>batch: {} of {} annotated ({} being annotated){} · "
            "in total: {} videos annotated, {}; {} of {} Selection videos left</span>").format(
            p.annotated, p.batch_done, p.batch_done, p.batch, p.held, you, p.annotated, _duration(p.seconds),
            p.pool, p.selection)

    def _on_submit(self, video_id: str, submission_id: str, seconds: float) -> None:
        self._show_progress()
        if self.refit_done is None and video_id in self.batch:
            self._assign()

    # -- the next batch -----------------------------------------------------------------------

    def _refit(self) -> None:
        """Choose the next batch in the worker thread; the panel stays usable meanwhile."""
        labelled = len(self.session.labelled_at_batch_start())
        self.status.value = Markup("<span class='activeloc-refitting'>refitting the localizer on {} labelled "
                                   "videos and choosing the next batch… (you can keep editing)</span>").format(labelled)
        loop = _kernel_loop()
        self._switched.clear()
        self.refit_done = self._executor.submit(self._choose)

        def done(future):
            if loop is not None:
                loop.call_soon_threadsafe(self._switch, future)
            else:
                self._switch(future)
        self.refit_done.add_done_callback(done)

    def _choose(self) -> list[str]:
        with _no_displays():
            return self.session.batch()

    def _switch(self, future) -> None:
        try:
            try:
                self._show_batch(future)
            finally:
                self.refit_done = None
            if self.batch:
                self._assign()
        finally:
            self._switched.set()

    def _show_batch(self, future) -> None:
        try:
            self.batch = future.result()
        except Exception as exc:  # shown on the page: the kernel has no one reading its log
            self.status.value = error(f"refit failed: {one_line(exc)}")
            self.batch = []
            return
        seconds = self.session.refit_seconds_[-1] if self.session.refit_seconds_ else 0.0
        self.status.value = (f"new batch of {len(self.batch)} videos (refit and selection took {seconds:.1f} s)"
                             if self.batch else NOTHING_LEFT)

    def wait(self, timeout: float | None = None) -> None:
        """Block until a running refit has switched the panel (for scripts and tests); a failed
        refit is shown in the page, not raised."""
        future = self.refit_done
        if future is not None:
            futures.wait([future], timeout)
            self._switched.wait(timeout)  # the switch runs right after the result is set


def read_config(path=None) -> dict:
    """The settings the command wrote (``path``, default the file named by :data:`CONFIG_VARIABLE`)."""
    path = path or os.environ.get(CONFIG_VARIABLE)
    if not path:
        raise InputError(f"${CONFIG_VARIABLE} is not set: start the app with `activeloc annotate`")
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable annotate settings ({one_line(exc)})") from None


SESSION_KEYS = ("selector", "batch_size", "drafts", "initial_ratio", "random_state", "lease_seconds")


def annotator_app(config: dict | None = None) -> AnnotatorApp | widgets.HTML:
    """The app for the settings ``config`` (default :func:`read_config`); a queue that another
    server now serves with other settings gives a page that says so."""
    config = read_config() if config is None else config
    try:
        with _no_displays():
            session = AnnotationSession(config["dataset"], config["queue"],
                                        **{k: config[k] for k in SESSION_KEYS if config.get(k) is not None})
    except CoordinationError as exc:
        return widgets.HTML(error(one_line(exc, None)))
    return AnnotatorApp(session, annotator=config.get("annotator", ""))
