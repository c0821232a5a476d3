"""Named profiles of notebook parameters (``notebooks/profiles.toml``), for papermill and for people.

One table per profile (``tiny`` for tests and a fast look, ``quick`` for ``make reproduce``,
``paper`` for the paper's scale), one sub-table per notebook (its stem, e.g. ``"01-dataset"``)
holding values for that notebook's ``parameters`` cell. A sub-table ``"<stem>@<testbed>"`` holds
what changes when the notebook runs on another testbed; the pipeline runs it as a second run.

Each notebook's parameters cell holds the ``quick`` values. :func:`apply_profile`, called in the
cell after it, makes ``profile = "tiny"`` work interactively: every parameter still at its
``quick`` default takes the chosen profile's value, and a parameter the user (or papermill)
set to something else keeps it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..core.errors import InputError, one_line
from ..core.paths import project_root

DEFAULT_PROFILE = "quick"


class ProjectFileError(InputError):
    """A file of the project (a notebook, the profiles) that cannot be read."""


class UnknownName(InputError, ValueError):
    """A profile or notebook name that the project does not have."""


def check_profile(profiles: dict, name: str) -> None:
    if name not in profiles:
        raise UnknownName(f"unknown profile {name!r}; notebooks/profiles.toml defines {sorted(profiles)}")


def load_profiles(root: Path | None = None) -> dict:
    path = (root or project_root()) / "notebooks" / "profiles.toml"
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectFileError(f"{path}: not a readable TOML file ({one_line(exc)})") from None


def runs_of(profile: dict, stem: str) -> list[tuple[str, dict]]:
    """``(run name, parameters)`` of a notebook in a profile: the stem's own, then each ``stem@variant``."""
    base = profile.get(stem, {})
    variants = [key for key in profile if key.startswith(f"{stem}@")]
    return [(stem, base)] + [(key, {**base, **profile[key]}) for key in variants]


def profile_values(profile: dict, stem: str, testbed: str = "simulated") -> dict:
    """A notebook's values in a profile for a testbed: the stem's, with ``stem@testbed``'s over them."""
    return {**profile.get(stem, {}), **profile.get(f"{stem}@{testbed}", {})}


def apply_profile(namespace: dict, notebook: str, *, root: Path | None = None) -> dict:
    """Apply the profile named by ``namespace["profile"]`` to a notebook's parameters, in place.

    A parameter still equal to its ``quick`` value (the notebook's default) takes the profile's
    value; any other keeps what was set. Prints one line saying what changed; returns the changes.
    """
    profiles = load_profiles(root)
    name = namespace.get("profile", DEFAULT_PROFILE)
    check_profile(profiles, name)
    defaults = profiles[DEFAULT_PROFILE].get(notebook, {})
    chosen = profile_values(profiles[name], notebook, namespace.get("testbed", "simulated"))
    changed, kept = {}, []
    for key, value in chosen.items():
        if key == "testbed" or namespace.get(key) == value:
            continue
        if key in defaults and namespace.get(key) != defaults[key]:
            kept.append(key)
            continue
        namespace[key] = changed[key] = value
    said = ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "nothing to change"
    extra = f"; kept your {', '.join(kept)}" if kept else ""
    print(f"profile {name!r}: {said}{extra}")
    return changed
