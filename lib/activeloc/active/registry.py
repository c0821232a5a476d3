"""The registry of selectors: names to classes, and ``make_selector``.

Every registered selector also exists as ``<name>-per-second`` (its cost-aware variant), and every
entry and variant is held to the selector contract (:func:`activeloc.active.checks.check_selector`)
by the test suite.
"""

from __future__ import annotations

from ..core.errors import InputError
from .base import Selector
from .baselines import RandomSelector, UncertaintySelector
from .cost import PER_SECOND, PerSecondSelector
from .lal import LALSelector
from .mcle import MCLESelector

SELECTORS: dict[str, type[Selector]] = {cls.name: cls for cls in (RandomSelector, UncertaintySelector,
                                                                  MCLESelector, LALSelector)}


def available_selectors() -> dict[str, type[Selector]]:
    """Selector classes by name (each also has a cost-aware variant, ``<name>-per-second``)."""
    return dict(SELECTORS)


def selector_names(cost_aware: bool = True) -> list[str]:
    """Every name :func:`make_selector` accepts."""
    names = list(SELECTORS)
    return names + [f"{n}{PER_SECOND}" for n in names] if cost_aware else names


class UnknownSelector(InputError, ValueError):
    """A selector name that the registry does not have."""


def split_selector_name(name: str) -> tuple[str, bool]:
    """``("lal", True)`` for ``"lal-per-second"``, ``("lal", False)`` for ``"lal"``."""
    return (name[: -len(PER_SECOND)], True) if name.endswith(PER_SECOND) else (name, False)


def make_selector(name: str, **params) -> Selector:
    """The selector called ``name`` with ``params``; ``<name>-per-second`` wraps it in :class:`PerSecondSelector`."""
    base, per_second = split_selector_name(name)
    if base not in SELECTORS:
        raise UnknownSelector(f"unknown selector {name!r}; available: {sorted(SELECTORS)}, each also as "
                         f"'<name>{PER_SECOND}'")
    selector = SELECTORS[base](**params)
    return PerSecondSelector(selector) if per_second else selector
