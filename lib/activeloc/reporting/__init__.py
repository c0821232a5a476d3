"""Layer 6, reporting: figures, tables, the notebook pipeline with its profiles, and SUMMARY.md."""

from .profiles import apply_profile, load_profiles
from .tables import readable_timings, save_figure, save_table, with_intervals

__all__ = ["apply_profile", "load_profiles", "save_figure", "readable_timings", "save_table", "with_intervals"]
