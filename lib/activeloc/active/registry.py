"""The registry of selectors: names to classes, and ``make_selector``.

Every registered selector also exists in three variants, named by suffixes in the order they wrap
it: ``<name>-diverse`` (diversity-aware batches, :class:`~activeloc.active.diverse.DiverseSelector`),
``<name>-per-second`` (cost-aware, :class:`~activeloc.active.cost.PerSecondSelector`) and
``<name>-diverse-per-second`` (the diverse rule's score per second of video). There is no
``-per-second-diverse``: the diverse wrapper divides its own score by the cost, so per second of
the diverse score is the one combination. Every entry and variant is held to the selector contract
(:func:`activeloc.active.checks.check_selector`) by the test suite.

A learned selector is fitted once, as its base selector (:func:`base_selector_name`), and
:func:`wrap_selector` dresses the fitted one in a name's variants.
"""

from __future__ import annotations

from ..core.errors import InputError
from .base import Selector
from .baselines import RandomSelector, UncertaintySelector
from .cost import PER_SECOND, PerSecondSelector
from .diverse import DIVERSE, DiverseSelector
from .lal import LALSelector
from .mcle import MCLEConflictOnly, MCLELabelEqualityOnly, MCLESelector

SELECTORS: dict[str, type[Selector]] = {cls.name: cls for cls in (RandomSelector, UncertaintySelector,
                                                                  MCLESelector, LALSelector, MCLEConflictOnly,
                                                                  MCLELabelEqualityOnly)}
# Suffix and wrapper of each variant, innermost first: "<base>-diverse-per-second" is
# PerSecondSelector(DiverseSelector(base)).
VARIANTS = ((DIVERSE, DiverseSelector), (PER_SECOND, PerSecondSelector))


def available_selectors() -> dict[str, type[Selector]]:
    """Selector classes by name (each also has the variants of :data:`VARIANTS`)."""
    return dict(SELECTORS)


def selector_names(cost_aware: bool = True, diverse: bool = True) -> list[str]:
    """Every name :func:`make_selector` accepts (without the cost-aware or diverse variants if asked)."""
    names = list(SELECTORS)
    if diverse:
        names += [f"{n}{DIVERSE}" for n in SELECTORS]
    return names + [f"{n}{PER_SECOND}" for n in names] if cost_aware else names


class UnknownSelector(InputError, ValueError):
    """A selector name that the registry does not have."""


def _parts(name: str) -> tuple[str, list[str]]:
    """The base name and the variant suffixes of ``name``, innermost first."""
    suffixes = []
    for suffix, _ in reversed(VARIANTS):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            suffixes.insert(0, suffix)
    return name, suffixes


def base_selector_name(name: str) -> str:
    """The registered selector under a name's variants: ``"lal"`` for ``"lal-diverse-per-second"``."""
    return _parts(name)[0]


def partner_of(name: str) -> str:
    """What ``name`` is best compared with: a variant with the selector it wraps
    (``"uncertainty-diverse"`` with ``"uncertainty"``), an ablation with the selector it ablates
    (``"mcle-conflict-only"`` with ``"mcle"``); a plain selector with ``"random"``."""
    base, suffixes = _parts(name)
    if suffixes:
        return name[: -len(suffixes[-1])]
    if base not in SELECTORS:
        raise UnknownSelector(f"unknown selector {name!r}; available: {sorted(SELECTORS)}")
    return getattr(SELECTORS[base], "ablation_of", None) or "random"


def wrap_selector(name: str, selector: Selector) -> Selector:
    """``selector`` (the base selector of ``name``, fitted or not) wrapped in ``name``'s variants."""
    for suffix in _parts(name)[1]:
        selector = dict(VARIANTS)[suffix](selector)
    return selector


def make_selector(name: str, **params) -> Selector:
    """The selector called ``name`` with ``params`` (its base selector's), wrapped in its variants."""
    base = base_selector_name(name)
    if base not in SELECTORS:
        raise UnknownSelector(f"unknown selector {name!r}; available: {sorted(SELECTORS)}, each also as "
                              f"'<name>{DIVERSE}', '<name>{PER_SECOND}' and '<name>{DIVERSE}{PER_SECOND}'")
    return wrap_selector(name, SELECTORS[base](**params))
