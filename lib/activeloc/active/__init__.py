"""Layer 4, active learning: selectors (base, registry, contract checks), oracles and the loop."""

from .base import LearnedSelector, Selector
from .baselines import RandomSelector, UncertaintySelector
from .checks import check_selector
from .cost import PerSecondSelector
from .diverse import DiverseSelector
from .lal import LALSelector
from .loop import ActiveLearningLoop, LoopResult
from .mcle import MCLESelector
from .oracles import (AnnotationQueue, AnnotationTimeModel, HumanOracle, PendingAnnotations, SimulatedAnnotator,
                      SimulatedOracle)
from .registry import available_selectors, make_selector, selector_names

__all__ = ["ActiveLearningLoop", "AnnotationQueue", "AnnotationTimeModel", "DiverseSelector", "HumanOracle", "LALSelector",
           "LearnedSelector", "LoopResult", "MCLESelector", "PendingAnnotations", "PerSecondSelector", "RandomSelector",
           "Selector", "SimulatedAnnotator", "SimulatedOracle", "UncertaintySelector", "available_selectors",
           "check_selector", "make_selector", "selector_names"]
