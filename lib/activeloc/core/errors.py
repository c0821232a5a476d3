"""The one base class of every error caused by what a user gave: a file, an option, a video, a field.

Its message is one line naming what is at fault, so that the command line can print it as it is
and exit 2 (a traceback is shown only with ``--debug``); any other exception is a bug.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input: the message (one line) names the file, option, video or field at fault."""

    def __str__(self) -> str:  # LookupError subclasses would quote the message
        return str(self.args[0]) if self.args else ""


def one_line(what, limit: int | None = 200) -> str:
    """A message (or an exception's) as one line: its first line, unquoted, cut at ``limit`` characters
    (None: not cut); the exception's type name if it says nothing. What other libraries raise may
    quote or span lines."""
    text = str(what).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]  # KeyError and h5py quote their whole message
    lines = text.splitlines()
    text = lines[0].strip() if lines else ""
    if not text:
        return type(what).__name__ if isinstance(what, BaseException) else ""
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"
