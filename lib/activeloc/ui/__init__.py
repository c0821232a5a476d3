"""Widgets over videos and runs (the ``ui`` extra: ipywidgets, anywidget, voila), the top layer.

:func:`timeline_for` draws one video's lanes (:class:`TimelineWidget`); :class:`AnnotationPanel`
edits one video's segments after another and submits them to the annotation queue, its logic in
the plain-Python :class:`AnnotationModel` (importable without the widget libraries);
:class:`RunInspector` shows any step of a finished run, its batch explained.
:class:`AnnotatorApp` is what ``activeloc annotate`` serves: the panel over the batches an
:class:`AnnotationSession` chooses, the learner refit after each.
"""

from .annotation import AnnotationModel, DraftStore, Issue, Segment, State, SubmitRefused

_WIDGETS = {"TimelineWidget": "timeline", "timeline_for": "timeline", "RunInspector": "inspector",
            "AnnotatorWidget": "panel", "AnnotationPanel": "panel", "SHORTCUTS": "panel",
            "AnnotationSession": "session", "AnnotatorApp": "app", "annotator_app": "app"}


def __getattr__(name):  # the widgets need anywidget: imported when first asked for
    if name in _WIDGETS:
        from importlib import import_module

        return getattr(import_module(f".{_WIDGETS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AnnotationModel", "DraftStore", "Issue", "Segment", "State", "SubmitRefused", *_WIDGETS]
