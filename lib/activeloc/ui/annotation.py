"""The annotation panel's logic, without a browser: one video's segments being edited, their undo
and redo history, validation before submit, drafts kept on disk after every change, and the
submission to the :class:`~activeloc.active.oracles.AnnotationQueue` the human oracle reads.

A state is a tuple of :class:`Segment` (immutable) plus the "no action here" flag, so undo and
redo swap whole states and two states compare with ``==``. Every change writes the draft
atomically (:func:`~activeloc.core.io.write_json_atomic`), history included, so a reload or a
crash loses neither the segments nor the undo stack.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..active.oracles import AnnotationQueue
from ..core.errors import InputError, one_line
from ..core.io import set_aside, write_json_atomic

HISTORY_LIMIT = 500  # undo steps kept (in memory and in the draft)
MIN_LENGTH = 0.01  # seconds: the shortest segment a nudge or an edge drag leaves


@dataclass(frozen=True)
class Segment:
    """One temporal instance: ``[t0, t1]`` seconds and its label (None until one is picked)."""

    t0: float
    t1: float
    label: str | None = None

    def to_json(self) -> dict:
        return {"segment": [self.t0, self.t1], "label": self.label}

    @classmethod
    def from_json(cls, item: dict) -> Segment:
        t0, t1 = item["segment"]
        return cls(float(t0), float(t1), item.get("label"))


@dataclass(frozen=True)
class State:
    segments: tuple[Segment, ...] = ()
    no_action: bool = False

    def to_json(self) -> dict:
        return {"segments": [s.to_json() for s in self.segments], "no_action": self.no_action}

    @classmethod
    def from_json(cls, item: dict) -> State:
        return cls(tuple(Segment.from_json(s) for s in item["segments"]), bool(item["no_action"]))


@dataclass(frozen=True)
class Issue:
    """A validation finding: ``severity`` "error" blocks a submit, "warning" needs it confirmed."""

    severity: str
    message: str
    index: int | None = None  # the segment at fault, if one


class SubmitRefused(InputError, ValueError):
    """A submit that validation stopped; ``issues`` says why."""

    def __init__(self, video_id: str, issues: list[Issue]):
        self.issues = issues
        super().__init__(f"video {video_id!r}: not submitted: " + "; ".join(i.message for i in issues))


def encoded_name(text: str) -> str:
    """``text`` as a file name that is always safe (at most 89 characters of ``[A-Za-z0-9_.-]``,
    never ``.`` or ``..``) and still readable: for names only this package reads (drafts, people)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:80]
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]  # names that sanitise alike stay apart
    return f"{safe}-{digest}"


class DraftStore:
    """One JSON file per video in ``folder``, written atomically: the panel's unsubmitted work."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def path(self, video_id: str) -> Path:
        return self.folder / f"{encoded_name(video_id)}.json"

    def of(self, person: str) -> DraftStore:
        """The drafts of one person (a subfolder): nobody sees another's unsubmitted work."""
        return DraftStore(self.folder / encoded_name(person))

    def save(self, video_id: str, draft: dict) -> None:
        write_json_atomic({**draft, "video_id": video_id, "saved_at": time.time()}, self.path(video_id))

    def load(self, video_id: str) -> dict | None:
        """The video's draft, or None; an unreadable one is set aside (``.unreadable``) with a warning."""
        path = self.path(video_id)
        try:
            draft = json.loads(path.read_text(encoding="utf-8"))
            if draft.get("video_id") != video_id:
                raise ValueError(f"it belongs to video {draft.get('video_id')!r}")
            State.from_json(draft["state"])
            return draft
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = set_aside(path)
            warnings.warn(f"{path}: unreadable draft ({one_line(exc)}); moved to {aside.name}, starting afresh",
                          stacklevel=2)
            return None

    def discard(self, video_id: str) -> None:
        self.path(video_id).unlink(missing_ok=True)

    def video_ids(self) -> list[str]:
        """The videos with a draft (read from the drafts themselves)."""
        ids = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                ids.append(json.loads(path.read_text(encoding="utf-8"))["video_id"])
            except (ValueError, KeyError, TypeError):
                continue
        return ids


class AnnotationModel:
    """One video's annotation being edited.

    ``labels``: the classes a segment may take (the dataset's). ``drafts``: where every change is
    saved (None: nowhere). Edits return nothing and record one undo step each; an edit that
    changes nothing records none. Times are seconds; moves and nudges keep a segment inside
    ``[0, duration]`` and at least :data:`MIN_LENGTH` long, while :meth:`add` and
    :meth:`set_edges` take the times given (validation then says what is wrong with them).
    """

    def __init__(self, video_id: str, duration: float, labels, *, drafts: DraftStore | None = None,
                 state: State | None = None):
        if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
            raise InputError(f"video {video_id!r}: duration must be a positive number of seconds, got {duration!r}")
        self.video_id = video_id
        self.duration = float(duration)
        self.labels = list(labels)
        self.drafts = drafts
        self.state = state or State()
        self.undo_stack: list[State] = []
        self.redo_stack: list[State] = []
        self.save_error: str | None = None  # why the last draft could not be written (None: it was)

    @classmethod
    def open(cls, video_id: str, duration: float, labels, *, drafts: DraftStore | None = None,
             queue: AnnotationQueue | None = None) -> AnnotationModel:
        """The video's draft if there is one (history included), else its latest submission in
        ``queue``, else nothing: where a person left off."""
        model = cls(video_id, duration, labels, drafts=drafts)
        draft = drafts.load(video_id) if drafts is not None else None
        if draft is not None:
            model.state = State.from_json(draft["state"])
            model.undo_stack = [State.from_json(s) for s in draft.get("undo", [])]
            model.redo_stack = [State.from_json(s) for s in draft.get("redo", [])]
        elif queue is not None:
            submitted = queue.latest([video_id]).get(video_id)
            if submitted is not None:
                model.state = State(tuple(Segment.from_json(i) for i in submitted), not submitted)
        return model

    # -- reading ------------------------------------------------------------------------------

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self.state.segments

    @property
    def no_action(self) -> bool:
        return self.state.no_action

    def draft(self) -> dict:
        """What :class:`DraftStore` keeps: the state and both history stacks."""
        return {"duration": self.duration, "state": self.state.to_json(),
                "undo": [s.to_json() for s in self.undo_stack], "redo": [s.to_json() for s in self.redo_stack]}

    # -- editing ------------------------------------------------------------------------------

    def _seconds(self, value) -> float:
        """``value`` as a finite number of seconds (a page may send anything)."""
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"video {self.video_id!r}: a time must be a finite number of seconds, got {value!r}")
        return seconds

    def _segment(self, index: int) -> Segment:
        if not 0 <= index < len(self.segments):
            raise IndexError(f"video {self.video_id!r}: no segment {index} (it has {len(self.segments)})")
        return self.segments[index]

    def _replace(self, index: int, segment: Segment) -> None:
        segments = list(self.segments)
        segments[index] = segment
        self._commit(State(tuple(segments), self.no_action))

    def _commit(self, state: State) -> None:
        if state == self.state:
            return
        self.undo_stack = (self.undo_stack + [self.state])[-HISTORY_LIMIT:]
        self.redo_stack = []
        self.state = state
        self._save()

    def _save(self) -> None:
        """Write the draft; a failure (full disk, read-only folder) keeps the edit in memory and is
        recorded in :attr:`save_error`, and the next change tries again."""
        if self.drafts is None:
            return
        try:
            self.drafts.save(self.video_id, self.draft())
            self.save_error = None
        except OSError as exc:
            self.save_error = (f"draft not saved to {self.drafts.path(self.video_id)} ({exc.strerror or one_line(exc)}): "
                               "the edits stay in this page; they are saved with the next change once it can be written")

    def add(self, t0: float, t1: float, label: str | None = None) -> int:
        """Append a segment (its ends in either order); returns its index."""
        self._check_label(label)
        t0, t1 = sorted((self._seconds(t0), self._seconds(t1)))
        self._commit(State(self.segments + (Segment(t0, t1, label),), self.no_action))
        return len(self.segments) - 1

    def add_at(self, playhead: float, length: float = 2.0, label: str | None = None) -> int:
        """A segment of ``length`` seconds starting at the playhead (ending at the video's end if
        it would run past it, then starting ``length`` before that)."""
        t1 = min(self.duration, max(playhead, 0.0) + length)
        return self.add(max(0.0, t1 - length), t1, label)

    def set_edges(self, index: int, t0: float | None = None, t1: float | None = None) -> None:
        """Resize: new start and/or end (what an edge drag ends with)."""
        seg = self._segment(index)
        t0 = seg.t0 if t0 is None else self._seconds(t0)
        t1 = seg.t1 if t1 is None else self._seconds(t1)
        self._replace(index, Segment(*sorted((t0, t1)), seg.label))

    def move(self, index: int, delta: float) -> None:
        """Shift a segment by ``delta`` seconds, its length kept, stopping at the video's ends."""
        seg = self._segment(index)
        length = seg.t1 - seg.t0
        t0 = min(max(seg.t0 + self._seconds(delta), 0.0), max(self.duration - length, 0.0))
        self._replace(index, Segment(t0, t0 + length, seg.label))

    def nudge(self, index: int, edge: str, delta: float) -> None:
        """Move one edge (``"start"`` or ``"end"``) by ``delta`` seconds, inside the video and at
        least :data:`MIN_LENGTH` from the other edge."""
        seg = self._segment(index)
        if edge == "start":
            t0 = min(max(seg.t0 + self._seconds(delta), 0.0), max(seg.t1 - MIN_LENGTH, 0.0))
            self._replace(index, Segment(t0, seg.t1, seg.label))
        elif edge == "end":
            t1 = max(min(seg.t1 + self._seconds(delta), self.duration), seg.t0 + MIN_LENGTH)
            self._replace(index, Segment(seg.t0, t1, seg.label))
        else:
            raise ValueError(f"edge must be 'start' or 'end', got {edge!r}")

    def delete(self, index: int) -> None:
        self._segment(index)
        self._commit(State(self.segments[:index] + self.segments[index + 1:], self.no_action))

    def set_label(self, index: int, label: str | None) -> None:
        self._check_label(label)
        seg = self._segment(index)
        self._replace(index, Segment(seg.t0, seg.t1, label))

    def set_no_action(self, value: bool) -> None:
        """The explicit "no action here" answer (a video that truly shows none)."""
        self._commit(State(self.segments, bool(value)))

    def _check_label(self, label) -> None:
        if label is not None and label not in self.labels:
            raise InputError(f"video {self.video_id!r}: unknown label {label!r} (not among the dataset's "
                             f"{len(self.labels)} classes)")

    def undo(self) -> bool:
        """Back one edit; False when there is none."""
        return self._step("undo_stack", "redo_stack")

    def redo(self) -> bool:
        """Forward one undone edit; False when there is none."""
        return self._step("redo_stack", "undo_stack")

    def _step(self, source: str, target: str) -> bool:
        """Swap in the last state of one history stack, the current one going on the other."""
        stack = getattr(self, source)
        if not stack:
            return False
        setattr(self, target, getattr(self, target) + [self.state])
        self.state = stack[-1]
        setattr(self, source, stack[:-1])
        self._save()
        return True

    # -- checking and submitting --------------------------------------------------------------

    def validate(self) -> list[Issue]:
        """Every problem of the current state, errors first."""
        errors, warns = [], []
        for i, s in enumerate(self.segments):
            name = f"segment {i + 1} [{s.t0:.2f}, {s.t1:.2f}]"
            if s.t0 < 0 or s.t1 > self.duration:
                errors.append(Issue("error", f"{name} is not inside the video (0 to {self.duration:.2f} s)", i))
            if not s.t1 > s.t0:
                errors.append(Issue("error", f"{name} has no positive length", i))
            if s.label is None:
                errors.append(Issue("error", f"{name} has no label", i))
        if not self.segments and not self.no_action:
            errors.append(Issue("error", "no segment: draw one, or tick \"no action here\""))
        if self.segments and self.no_action:
            errors.append(Issue("error", "\"no action here\" is ticked but there are segments"))
        order = sorted(range(len(self.segments)), key=lambda i: (self.segments[i].label or "", self.segments[i].t0))
        for a, b in zip(order, order[1:]):
            sa, sb = self.segments[a], self.segments[b]
            if sa.label is not None and sa.label == sb.label and sb.t0 < sa.t1:
                warns.append(Issue("warning", f"segments {a + 1} and {b + 1} overlap with the same label "
                                              f"{sa.label!r}", b))
        return errors + warns

    def instances(self) -> list[dict]:
        """The segments as the queue takes them, in time order."""
        return [s.to_json() for s in sorted(self.segments, key=lambda s: (s.t0, s.t1))]

    def submit(self, queue: AnnotationQueue, *, annotator: str = "", accept_warnings: bool = False,
               seconds: float | None = None) -> str:
        """Validate, append to ``queue`` (fsync'd, with the person's ``seconds`` on it when given) and
        drop the draft; returns the submission id. Errors always refuse; warnings refuse unless
        ``accept_warnings``."""
        issues = self.validate()
        blocking = [i for i in issues if i.severity == "error" or not accept_warnings]
        if blocking:
            raise SubmitRefused(self.video_id, blocking)
        submission = queue.submit(self.video_id, self.instances(), annotator=annotator, seconds=seconds)
        if self.drafts is not None:
            try:
                self.drafts.discard(self.video_id)
            except OSError:  # the submission is safe; a draft left over holds the same segments
                pass
        return submission
