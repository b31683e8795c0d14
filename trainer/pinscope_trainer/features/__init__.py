"""Input features computed from a render and its reference (pure numpy, no torch at import)."""
