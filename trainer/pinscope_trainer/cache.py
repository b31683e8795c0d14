"""Decode each PNG once into a memory-mapped uint8 array, keyed by content and preprocessing.

The key hashes the image size, the resize method and every file's content digest (the row's sha256
when the renderer wrote one, else size + mtime), so a re-rendered or edited dataset never reuses a stale
cache, and epochs never re-decode PNGs. Arrays are .npy files (np.load(mmap_mode="r")) written under a
temporary name and renamed into place, so a killed run leaves no half-written cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from .images import decode

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """$PINSCOPE_CACHE, else ~/.cache/pinscope/trainer (outside the dataset, which must stay valid)."""
    env = os.environ.get("PINSCOPE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "pinscope" / "trainer"


def file_identity(path: Path, digest: str | None) -> str:
    if digest:
        return digest
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def cache_key(items: list[tuple[str, str]], size: tuple[int, int]) -> str:
    payload = json.dumps({"v": CACHE_VERSION, "size": list(size), "resize": "INTER_AREA", "files": items})
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def decoded_images(
    paths: list[Path],
    digests: list[str | None],
    labels: list[str],
    size: tuple[int, int],
    cache_dir: Path | None = None,
    progress: str = "",
) -> np.ndarray:
    """(N, H, W, 3) uint8 for `paths`, memory-mapped from the cache (decoded and stored on first use)."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    items = [(label, file_identity(p, d)) for p, d, label in zip(paths, digests, labels, strict=True)]
    key = cache_key(items, size)
    target = cache_dir / f"{key}.npy"
    if target.is_file():
        try:
            arr = np.load(target, mmap_mode="r")
            if arr.shape == (len(paths), *size, 3):
                return arr
        except (OSError, ValueError):
            pass  # unreadable cache: rebuild it below
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{key}.tmp{os.getpid()}.npy"
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), *size, 3))
    from tqdm import tqdm

    try:
        for i, (path, label) in enumerate(
            tqdm(
                list(zip(paths, labels, strict=True)),
                desc=f"decode {progress}".strip(),
                disable=not progress or len(paths) < 64 or not sys.stderr.isatty(),  # no bar text in logs
                leave=False,
            )
        ):
            arr[i] = decode(path, size, label)
        arr.flush()
        del arr
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return np.load(target, mmap_mode="r")
