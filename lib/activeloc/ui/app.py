"""The annotator app that ``activeloc annotate`` serves through Voila: an :class:`AnnotationPanel`
over the batch an :class:`~activeloc.ui.session.AnnotationSession` chose, with the session's
progress above it. After a batch's last submission the localizer is refit and the next batch
chosen in a worker thread; the page stays live (drafts, re-submissions) and the panel switches to
the new batch when it is ready.

The kernel Voila starts reads its settings from the JSON file named by the environment variable
:data:`CONFIG_VARIABLE` (written by the command): nothing comes from the page's URL.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ipywidgets as widgets
from IPython.utils.capture import capture_output

from ..core.errors import InputError, one_line
from .panel import AnnotationPanel
from .session import AnnotationSession

CONFIG_VARIABLE = "ACTIVELOC_ANNOTATE"
NOTEBOOK = Path(__file__).parent / "annotate.ipynb"  # what Voila renders: it calls annotator_app()
# Voila's lab template without its CDN stylesheets, in a Jupyter data folder: <TEMPLATES>/voila/templates/<TEMPLATE>.
TEMPLATES, TEMPLATE = Path(__file__).parent, "activeloc"


def _no_displays():
    """Displays (a progress bar's widget) are kept from the page: a bar closed once done leaves an
    output whose widget is gone, which the page shows as "model not found"."""
    return capture_output(stdout=False, stderr=False, display=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600} h {seconds // 60 % 60:02d} min" if seconds >= 3600 else \
        f"{seconds // 60} min {seconds % 60:02d} s"


class AnnotatorApp(widgets.VBox):
    """The session's page: a header saying where the labels come from, the progress line, and the
    panel. ``refit_done`` is the running refit's future (None when idle)."""

    def __init__(self, session: AnnotationSession, *, annotator: str = "", width: int = 900):
        self.session = session
        self.annotator = annotator
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="activeloc-refit")
        self.refit_done = None
        with _no_displays():
            self.batch = session.batch()
        self.header = widgets.HTML(self._header())
        self.progress = widgets.HTML()
        self.status = widgets.HTML()
        self.progress.add_class("activeloc-progress")
        self.status.add_class("activeloc-status")
        pending = session.pending(self.batch)
        if self.batch:
            self.panel = AnnotationPanel(self.batch, session.durations_, session.labels_, session.queue,
                                         session.drafts, annotator=annotator, width=width)
            self.panel.on_submit(self._on_submit)
            if pending and pending[0] != self.batch[0]:
                self.panel.open_video(pending[0])
            children = [self.header, self.progress, self.status, self.panel]
        else:
            self.panel = None
            children = [self.header, self.progress, self.status]
        super().__init__(children)
        self._show_progress()
        if not self.batch:
            self.status.value = "every Selection video is labelled: nothing left to annotate"
        elif not pending:  # stopped between a batch's last submission and its refit
            self._refit()

    def _header(self) -> str:
        s = self.session
        return (f"<b>activeloc annotate</b>: selector <code>{html.escape(s.selector)}</code>, batches of "
                f"{s.batch_size}. The first {len(s.seed_ids_)} Selection videos (the initial "
                f"{s.initial_ratio:.0%}, drawn as the loop draws it) are labelled with the dataset's own "
                "annotations; every other label comes from this page.")

    def _show_progress(self) -> None:
        p = self.session.progress(self.batch)
        self.progress.value = (
            f"<span data-annotated='{p.annotated}' data-session='{p.session_annotated}'>"
            f"batch: {p.batch_done} of {p.batch} annotated · this session: {p.session_annotated} videos, "
            f"{_duration(p.session_seconds)} · in total: {p.annotated} videos annotated, "
            f"{_duration(p.seconds)}; {p.pool} of {p.selection} Selection videos left</span>")

    def _on_submit(self, video_id: str, submission_id: str, seconds: float) -> None:
        self._show_progress()
        if self.refit_done is not None:
            return  # a re-submission while the next batch is being chosen
        pending = self.session.pending(self.batch)
        if pending:
            self.panel.open_video(pending[0])
        else:
            self._refit()

    def _refit(self) -> None:
        """Choose the next batch in the worker thread; the panel stays usable meanwhile."""
        labelled = len(self.session.labelled_at_batch_start())
        self.status.value = (f"<span class='activeloc-refitting'>refitting the localizer on {labelled} labelled "
                             "videos and choosing the next batch… (you can keep editing)</span>")
        try:
            loop = asyncio.get_running_loop()  # the kernel's: widgets are updated from its thread
        except RuntimeError:
            loop = None
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
            self._show_batch(future)
        finally:
            self.refit_done = None

    def _show_batch(self, future) -> None:
        try:
            batch = future.result()
        except Exception as exc:  # shown on the page: the kernel has no one reading its log
            self.status.value = f"<span class='activeloc-error'>refit failed: {html.escape(one_line(exc))}</span>"
            return
        self.batch = batch
        seconds = self.session.refit_seconds_[-1] if self.session.refit_seconds_ else 0.0
        if batch:
            self.panel.set_videos(batch, first=(self.session.pending(batch) or batch)[0])
            self.status.value = f"new batch of {len(batch)} videos (refit and selection took {seconds:.1f} s)"
        else:
            self.status.value = "every Selection video is labelled: nothing left to annotate"
        self._show_progress()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a running refit has switched the panel (for scripts and tests)."""
        future = self.refit_done
        if future is not None:
            future.result(timeout)
            while self.refit_done is future:  # the switch runs right after the result is set
                time.sleep(0.01)


def read_config(path=None) -> dict:
    """The settings the command wrote (``path``, default the file named by :data:`CONFIG_VARIABLE`)."""
    path = path or os.environ.get(CONFIG_VARIABLE)
    if not path:
        raise InputError(f"${CONFIG_VARIABLE} is not set: start the app with `activeloc annotate`")
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable annotate settings ({one_line(exc)})") from None


SESSION_KEYS = ("selector", "batch_size", "drafts", "initial_ratio", "random_state", "started_at")


def annotator_app(config: dict | None = None) -> AnnotatorApp:
    """The app for the settings ``config`` (default :func:`read_config`)."""
    config = read_config() if config is None else config
    with _no_displays():
        session = AnnotationSession(config["dataset"], config["queue"],
                                    **{k: config[k] for k in SESSION_KEYS if config.get(k) is not None})
    return AnnotatorApp(session, annotator=config.get("annotator", ""))
