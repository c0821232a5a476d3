"""Layer 0: atomic writes, paths, timing and content fingerprints, used by every other layer."""
