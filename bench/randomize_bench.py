"""Randomisation bench (not a test): what per-shot domain randomisation costs the renderer, side by side.

    .venvs/blender/bin/python bench/randomize_bench.py [--base specs/seed.json] [--spec specs/default.json]
        [--blocks 6] [--groups 2]

Both sides render the same sample indices the way a dataset render does (twin groups sharing one twin,
region rendering, masks, sensor effects where the spec has them) with `render_one`, in alternating
blocks so that load from other processes hits both alike; each block builds its scene, renders one
twin group to warm up (not counted), then `--groups` counted twin groups. Prints samples/s of each side
and the ratio, the number to hold: randomised throughput >= 0.9 x the seed spec's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "shared"), str(REPO)]

from blender_addon.contract import schema  # noqa: E402
from blender_addon.core.sampling import group_size, plan_sample  # noqa: E402
from blender_addon.dataset.runner import render_one, sample_paths  # noqa: E402
from blender_addon.scene.build import build_scene, clear_scene  # noqa: E402


def render_groups(spec, first_group: int, groups: int, folder: Path) -> tuple:
    """(seconds, samples) for `groups` twin groups from group number `first_group` on, rendered as a dataset
    render would (the twin rendered once per group)."""
    pin_scene = build_scene(spec)
    k = group_size(spec)
    indices = range(first_group * k, (first_group + groups + 1) * k)
    start, counted = None, 0
    for n, index in enumerate(indices):
        if n == k:  # the first group warmed the scene up: count from here
            start = time.perf_counter()
        plan = plan_sample(spec, "train", index)
        paths = sample_paths(folder, "train", index, True, True, twin_index=index - index % k)
        render_one(pin_scene, plan, paths["abs"])
        counted += n >= k
    return time.perf_counter() - start, counted


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default=str(REPO / "specs" / "seed.json"), help="the spec without randomisation")
    p.add_argument("--spec", default=str(REPO / "specs" / "default.json"), help="the randomised spec")
    p.add_argument("--blocks", type=int, default=6, help="alternations of the two sides")
    p.add_argument("--groups", type=int, default=2, help="counted twin groups per block and side")
    args = p.parse_args(argv)
    specs = {"base": schema.load_spec(args.base), "randomised": schema.load_spec(args.spec)}
    rates = {name: [] for name in specs}
    with tempfile.TemporaryDirectory() as tmp:
        for block in range(args.blocks):
            for name, spec in specs.items():
                seconds, samples = render_groups(spec, block * (args.groups + 1), args.groups, Path(tmp) / name)
                rates[name].append(samples / seconds)
    clear_scene()
    ratios = [r / b for b, r in zip(rates["base"], rates["randomised"], strict=True)]
    for name, spec in specs.items():
        values = ", ".join(f"{v:.2f}" for v in rates[name])
        print(f"{name:<11} {spec.name}: median {statistics.median(rates[name]):.2f} samples/s ({values})")
    per_block = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"randomised / base: median {statistics.median(ratios):.3f} (per block: {per_block})")
    print("target: >= 0.90")
    return 0


if __name__ == "__main__":
    sys.exit(main())
