"""Video ids: membership, fast on any string dtype, and the one rule of which ids are safe as file names.

Ids become file and group names (``<id>.npy``, ``v_<id>.npy``, HDF5 groups ``v_<id>``), so an id
must name one file inside its folder: no path separator, not ``.`` or ``..``, no control or
line-breaking character, and short enough for a file name. Every ActivityNet and Kinetics id
(YouTube's 11 letters, digits, ``_`` and ``-``) is one.
"""

from __future__ import annotations

import reprlib
import unicodedata

import numpy as np
import pandas as pd

from .errors import InputError

NAME_MAX = 255  # bytes of one file name on Linux file systems (ext4, xfs, tmpfs)
LONGEST_NAME = "v_{}.npy"  # the longest name an id is given (an npy folder's C3D form)
# Control (Cc), format (Cf: invisible, bidirectional overrides), lone surrogates (Cs: not UTF-8) and
# line or paragraph separators (Zl, Zp): no real id has one, and a terminal, a log or a file manager
# would show a name holding one as another name, or break it across lines.
UNSAFE_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible format character",
                     "Cs": "a lone surrogate, not encodable as UTF-8", "Zl": "a line separator",
                     "Zp": "a paragraph separator"}

_shown = reprlib.Repr()
_shown.maxstring = _shown.maxother = 60  # an id in a message: long ones cut in the middle


class UnsafeVideoId(InputError, ValueError):
    """A video id that cannot be a file name; names the file (or place) it came from and the id."""


def shown_id(video_id) -> str:
    """``video_id`` as messages show it: quoted, escaped (one line whatever it holds), at most 60
    characters. ``str()`` first, so that a numpy string shows as the plain id."""
    return _shown.repr(str(video_id) if isinstance(video_id, str) else video_id)


def video_id_problem(video_id) -> str | None:
    """Why ``video_id`` is not safe as a file name, or None if it is."""
    if not isinstance(video_id, str):
        return f"expected a string, got {type(video_id).__name__}"
    if not video_id.strip():
        return "empty video id"
    if video_id in (".", ".."):
        return f"{video_id!r} names a folder, not a file"
    for char in video_id:
        if char in "/\\":
            return f"contains {char!r}, a path separator"
        kind = UNSAFE_CATEGORIES.get(unicodedata.category(char))
        if kind:
            return f"contains {char!r}, {kind}"
    size = len(LONGEST_NAME.format(video_id).encode())
    if size > NAME_MAX:
        return (f"too long: its file name {LONGEST_NAME.format('<id>')} would be {size} bytes, past the "
                f"{NAME_MAX} allowed")
    return None


def check_video_id(video_id, where) -> str:
    """``video_id`` (a plain ``str``) if it is safe as a file name, else :class:`UnsafeVideoId`
    naming ``where`` (the file it was read from or is written to) and the id."""
    problem = video_id_problem(video_id)
    if problem:
        raise UnsafeVideoId(f"{where}: video {shown_id(video_id)}: {problem}")
    return str(video_id)


def among(values, ids) -> np.ndarray:
    """Boolean mask: whether each of ``values`` is one of ``ids``.

    A Python set lookup over object arrays: pandas' ``isin`` on its pyarrow-backed strings converts
    its argument element by element and costs ten times more, which the loop pays at every step.
    """
    wanted = set(ids.tolist() if isinstance(ids, (np.ndarray, pd.Index, pd.Series)) else ids)
    items = values.to_numpy(dtype=object) if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values, dtype=object)
    return np.fromiter((v in wanted for v in items), dtype=bool, count=len(items))
