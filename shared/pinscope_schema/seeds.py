"""Seeds derived from the spec seed: every random choice depends only on (spec seed, stream, index).

Hashing instead of `seed + index` keeps neighbouring samples' streams unrelated, and makes results
independent of rendering order, worker count and sharding.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(spec_seed: int, *parts) -> int:
    """A 63-bit seed from the spec seed and any labels (split name, sample index, stream name)."""
    key = ":".join(str(p) for p in (spec_seed, *parts)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1


def rng_for(spec_seed: int, *parts) -> random.Random:
    return random.Random(derive_seed(spec_seed, *parts))
