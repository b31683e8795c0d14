"""The robustness suite: how a trained model holds when the line's conditions move beyond what it saw.

    .venvs/trainer/bin/python bench/robustness.py --run runs/default            # 300 test images per set
    make robustness RUN=runs/default

Renders shift sets from the run's training spec -- each moves one physical factor beyond the spec's
randomised range (brighter, dimmer, a lighter housing, another plating, more camera jitter, more noise and
blur, another lighting preset, another housing kind) plus one moving all of them at once, and the same
spec with another seed (in-domain) -- then scores the run on each with `evaluate --data` (each set's own
reference renders: the unit space a line would record) and prints and writes a table (accuracy and
per-class F1 per set beside the in-domain figure), robustness.json and a plot. Every step resumes: a
second run re-scores what is rendered.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLENDER_PY = REPO / ".venvs" / "blender" / "bin" / "python"
TRAINER_PY = REPO / ".venvs" / "trainer" / "bin" / "python"


def _randomize(d: dict) -> dict:
    return d.setdefault("randomize", {})


def _range(d: dict, name: str, default: list) -> list:
    """The training spec's range of `name` (the base value when it is not drawn)."""
    return (d.get("randomize") or {}).get(name) or default


def _beyond(low_high, factor_lo: float, factor_hi: float) -> list:
    """A range past the top of `low_high`: [high x factor_lo, high x factor_hi]."""
    return _rounded([low_high[1] * factor_lo, low_high[1] * factor_hi])


def _rounded(values) -> list:
    return [round(v, 3) for v in values]


def _brighter(d):
    level, ev = _range(d, "light_scale", [1.0, 1.0]), _range(d, "exposure", [0.0, 0.0])
    _randomize(d).update(light_scale=_beyond(level, 1.3, 1.65), exposure=_rounded([ev[1] + 0.1, ev[1] + 0.3]))


def _dimmer(d):
    level, ev = _range(d, "light_scale", [1.0, 1.0]), _range(d, "exposure", [0.0, 0.0])
    _randomize(d).update(light_scale=_rounded([level[0] * 0.55, level[0] * 0.8]), exposure=[ev[0] - 0.3, ev[0] - 0.1])


def _housing_colour(d):
    value = _range(d, "housing_value", [0.1, 0.1])
    _randomize(d).update(housing_value=_rounded([min(1.0, value[1] + 0.15), min(1.0, value[1] + 0.4)]))


def _plating(d):
    seen = set(_range(d, "platings", []))
    _randomize(d).update(platings=[next(p for p in ("gold", "copper", "silver", "tin", "nickel") if p not in seen)])


def _jitter(d):
    cam = d.setdefault("camera", {})
    cam.update(jitter_x=2 * cam.get("jitter_x", 0.025), jitter_y=2 * cam.get("jitter_y", 0.05))
    cam["jitter_rot_z"] = 2 * cam.get("jitter_rot_z", 0.5)
    distance = _range(d, "camera_distance", [1.0, 1.0])
    spread = _rounded([1 - 2.3 * (1 - distance[0]) - 0.02, 1 + 2.3 * (distance[1] - 1) + 0.02])
    _randomize(d).update(camera_distance=spread)


def _noise_blur(d):
    shot, read, blur = (_range(d, name, [0.0, 0.2]) for name in ("shot_noise", "read_noise", "blur"))
    _randomize(d).update(
        shot_noise=_beyond(shot, 1.5, 2.2), read_noise=_beyond(read, 1.7, 2.7), blur=_beyond(blur, 1.2, 1.8)
    )


def _lighting(d):
    seen = set(_range(d, "light_presets", [d.get("lights", {}).get("preset", "seed")]))
    _randomize(d).update(light_presets=[next(p for p in ("ring", "dome", "coaxial", "seed") if p not in seen)])


def _housing_kind(d):
    d.setdefault("housing", {}).update(kind="cavities", cavity_depth=0.4, cavity_clearance=0.1)


# Each moves one factor past the training spec's own range (read from it), so the suite fits any run.
SHIFTS = {
    "brighter": ("light level 1.3-1.65 x the top of the range, +0.1-0.3 EV past it", _brighter),
    "dimmer": ("light level 0.55-0.8 x the bottom of the range, -0.1-0.3 EV past it", _dimmer),
    "housing_colour": ("lighter housings: HSV value 0.15-0.4 above the range", _housing_colour),
    "plating": ("a plating the training spec does not draw (gold first)", _plating),
    "jitter": ("twice the camera shift and roll, 2.3 x the distance spread", _jitter),
    "noise_blur": ("shot noise 1.5-2.2x, read noise 1.7-2.7x, blur 1.2-1.8x the range's top", _noise_blur),
    "lighting": ("a lighting preset the training spec does not draw (ring first)", _lighting),
    "housing_kind": ("pins in 0.4 mm cavities", _housing_kind),
}


def shift_specs(base: dict, test: int, reference: int) -> dict:
    """{set name: (description, spec dict)}: test-only datasets from the training spec `base`."""
    out = {}
    lines = set_lines(base, reference)

    def test_only(d: dict, name: str, seed_offset: int) -> dict:
        d["name"] = f"{base.get('name', 'pinscope')}-{name}"[:64]
        d["seed"] = base.get("seed", 0) + seed_offset
        d["dataset"] = {**d.get("dataset", {}), "train": 0, "validation": 0, "test": test, "reference": reference}
        d["dataset"]["lines"] = lines
        return d

    out["in_domain"] = ("the training spec, another seed", test_only(json.loads(json.dumps(base)), "in-domain", 1000))
    everything = json.loads(json.dumps(base))
    for number, (name, (what, shift)) in enumerate(SHIFTS.items(), start=1):
        d = json.loads(json.dumps(base))
        shift(d)
        if name != "brighter":  # it moves the light level the other way from dimmer: everything is the dark side
            shift(everything)
        out[name] = (what, test_only(d, name, 1000 + number))
    out["everything"] = (
        "every shift at once (the dimmer side of the light level)",
        test_only(everything, "everything", 1999),
    )
    return out


def set_lines(base: dict, reference: int) -> int:
    """Production lines of a shift set: the training spec's, as many as its references give each line two
    renders a camera (a unit space and its residual level need two)."""
    from pinscope_schema import GenerationSpec  # noqa: PLC0415 -- the trainer env's package

    spec = GenerationSpec.from_dict(base)
    per_line = 2 * len(spec.camera.views)
    return max(1, min(spec.dataset.lines, reference // per_line))


def started(cmd: list, quiet: bool) -> tuple:
    """A command started in the background: (its process, its command) for finished()."""
    out = subprocess.PIPE if quiet else None
    return subprocess.Popen([str(c) for c in cmd], cwd=REPO, stdout=out, stderr=out, text=True), cmd


def finished(job: tuple | None) -> None:
    """Wait for a started() command (None: nothing was started); stop the suite with its error if it failed."""
    if job is None:
        return
    process, cmd = job
    _out, err = process.communicate()
    if process.returncode != 0:
        tail = (err or "")[-2000:]
        raise SystemExit(f"error: {' '.join(map(str, cmd[:4]))}...: exit {process.returncode}\n{tail}")


def complete(folder: Path, spec: dict) -> bool:
    """Whether the set of `spec` is rendered whole already in `folder` (then Blender need not start)."""
    from pinscope_schema import GenerationSpec, validate_dataset  # noqa: PLC0415 -- the trainer env's package

    if not (folder / "dataset.json").is_file():
        return False
    made_from = json.loads((folder / "dataset.json").read_text()).get("spec_hash")
    return made_from == GenerationSpec.from_dict(spec).fingerprint() and not validate_dataset(
        folder, check_hashes=False, require_complete=True, max_problems=1
    )


def render(spec: dict, folder: Path, workers: int, quiet: bool) -> tuple | None:
    """Start rendering a shift set (resumes what is there; None when it is whole); finished() waits for it."""
    if complete(folder, spec):
        return None
    folder.parent.mkdir(parents=True, exist_ok=True)
    spec_path = folder.with_suffix(".json")
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    cmd = [BLENDER_PY, "-m", "blender_addon.cli", "render", "--spec", spec_path, "--out", folder, "--workers", workers]
    return started(cmd + (["--quiet"] if quiet else []), quiet)


def score(run_dir: Path, folder: Path, name: str) -> dict:
    """`evaluate --run RUN --data FOLDER --name NAME` in this process (the trainer env's package)."""
    import contextlib
    import io

    from pinscope_trainer.evaluate import evaluate_run  # noqa: PLC0415

    with contextlib.redirect_stdout(io.StringIO()):
        evaluate_run(run_dir, data=folder, name=name, quiet=True)
    metrics = json.loads((run_dir / "eval" / name / "metrics.json").read_text())
    return {**metrics["test"], "line_distance": metrics.get("line_distance")}


def own_line(folder: Path) -> dict:
    """OK / NG on the set with no model at all: the unit space of its own reference renders."""
    from pinscope_trainer.anomaly.run import own_line_scores  # noqa: PLC0415 -- the trainer env's package

    return own_line_scores(folder)


def table(rows: list, labels: list) -> str:
    from pinscope_trainer.features.line_scale import FAR_LINE  # noqa: PLC0415 -- the trainer env's package

    head = "| set | what | images | accuracy | per part | " + " | ".join(f"F1 {label}" for label in labels)
    head += " | OK-only image AUROC | pixel AUROC | line distance |"
    lines = [head, "|" + "---|" * (8 + len(labels))]
    for name, what, metrics in rows:
        f1 = " | ".join(f"{metrics['per_class'][label]['f1']:.3f}" for label in labels)
        line = metrics.get("own_line", {})
        ok_only = f"{line.get('image_auroc', float('nan')):.4f} | {line.get('pixel_auroc', float('nan')):.4f}"
        distance = metrics.get("line_distance")
        far = "–" if distance is None else f"{distance:.2f}" + (" **far**" if distance > FAR_LINE else "")
        acc = f"{100 * metrics['accuracy']:.1f} % | {per_part(metrics)}"
        lines.append(f"| {name} | {what} | {metrics['n']} | {acc} | {f1} | {ok_only} | {far} |")
    return "\n".join(lines)


def per_part(metrics: dict) -> str:
    """A set's per-part accuracy ('99.0 % of 100'), where every camera saw each part (dataset.every_view)."""
    parts = metrics.get("parts")
    return f"{100 * parts['accuracy']:.1f} % of {parts['n']}" if parts else "–"


def summary(rows: list, own: dict, floor: float) -> str:
    shifted = [(name, m["accuracy"]) for name, _w, m in rows if name != "in_domain"]
    worst = min(shifted, key=lambda item: item[1])
    holds = all(acc >= floor for _n, acc in shifted)
    in_domain = next(m["accuracy"] for n, _w, m in rows if n == "in_domain")
    from pinscope_trainer.features.line_scale import FAR_LINE  # noqa: PLC0415 -- the trainer env's package

    far = [f"{name} ({m['line_distance']:.1f})" for name, _w, m in rows if (m.get("line_distance") or 0) > FAR_LINE]
    line = (
        f"robustness: own test {100 * own['accuracy']:.1f} %, in-domain {100 * in_domain:.1f} %, worst shift "
        f"{100 * worst[1]:.1f} % ({worst[0]}); every shift >= {100 * floor:.0f} %: {'yes' if holds else 'no'}; "
        f"flagged as far from the training line: {', '.join(far) or 'none'}"
    )
    parted = [(name, m["parts"]["accuracy"]) for name, _w, m in rows if name != "in_domain" and m.get("parts")]
    if parted and own.get("parts"):
        worst_part = min(parted, key=lambda item: item[1])
        line += (
            f"; per part (every camera's image): own test {100 * own['parts']['accuracy']:.1f} %, worst shift "
            f"{100 * worst_part[1]:.1f} % ({worst_part[0]})"
        )
    return line


def plot(rows: list, own: dict, path: Path) -> None:
    import matplotlib  # noqa: PLC0415 -- the trainer env has it; the rest of this script needs none

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    names = [name for name, _w, _m in rows]
    accs = [100 * m["accuracy"] for _n, _w, m in rows]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.bar(names, accs, color=["#4c72b0" if n == "in_domain" else "#dd8452" for n in names])
    ax.axhline(100 * own["accuracy"], color="k", lw=1, ls="--", label="own test split")
    ax.set_ylim(max(0, min(accs) - 5), 100.5)
    ax.set_ylabel("accuracy (%)")
    ax.legend(loc="lower left")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def arguments(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", help="a trained run folder (runs/default)")
    p.add_argument("--data", help="the training dataset whose spec the sets start from (default: the run's)")
    p.add_argument("--base", help="the spec the shift sets start from (default: the dataset's spec)")
    p.add_argument("--out", help="where sets, table and plot go (default: reports/robustness/<run>)")
    p.add_argument("--test", type=int, default=300, help="test images per set (default 300)")
    p.add_argument(
        "--reference", type=int, help="reference (unit space) renders per set (default: the training spec's)"
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--floor", type=float, default=0.97, help="the accuracy every shift set should keep")
    p.add_argument(
        "--render-only",
        action="store_true",
        help="render the sets and stop (needs --out and --data or --base): ahead of training, or elsewhere",
    )
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.render_only and not (args.out and (args.data or args.base)):
        p.error("--render-only needs --out and --data or --base (there is no run to take them from)")
    if not args.render_only and not args.run:
        p.error("--run is required (the run to score)")
    return args


def base_spec(args) -> dict:
    if args.base:
        return json.loads(Path(args.base).read_text())
    data_dir = Path(args.data or json.loads((Path(args.run) / "run_config.json").read_text())["dataset"]["path"])
    return json.loads((data_dir / "dataset.json").read_text())["spec"]


def render_all(sets: list, out: Path, workers: int, quiet: bool) -> int:
    """Render every set, one after the other (resuming what is there; an interrupted render resumes)."""
    for name, (_what, spec) in sets:
        finished(render(spec, out / "data" / name, workers, quiet))
    return 0


def check_test_size(base: dict, test: int) -> None:
    """A training spec whose parts every camera sees makes sets in whole blocks of parts (exit 2 if not)."""
    from pinscope_schema import GenerationSpec  # noqa: PLC0415 -- the trainer env's package

    spec = GenerationSpec.from_dict(base)
    block = spec.dataset.twin_share * len(spec.camera.views)
    if spec.dataset.every_view and test % block:
        print(
            f"error: --test: must be a multiple of {block} (twin_share x cameras) for a training spec with "
            f"dataset.every_view, got {test}",
            file=sys.stderr,
        )
        raise SystemExit(2)


def main(argv=None) -> int:
    args = arguments(argv)
    base = base_spec(args)
    check_test_size(base, args.test)
    reference = args.reference or base.get("dataset", {}).get("reference") or 30
    sets = list(shift_specs(base, args.test, reference).items())
    if args.render_only:
        return render_all(sets, Path(args.out), args.workers, args.quiet)
    run_dir = Path(args.run)
    out = Path(args.out or REPO / "reports" / "robustness" / run_dir.name)
    own = json.loads((run_dir / "eval" / "metrics.json").read_text())["test"]
    rows = []
    # the next set renders (Blender, its own processes) while this one is scored (the model, here)
    rendering = render(sets[0][1][1], out / "data" / sets[0][0], args.workers, args.quiet)
    for number, (name, (what, _spec)) in enumerate(sets):
        start = time.time()
        finished(rendering)
        if number + 1 < len(sets):
            following, (_what, spec) = sets[number + 1]
            rendering = render(spec, out / "data" / following, args.workers, args.quiet)
        metrics = score(run_dir, out / "data" / name, f"robustness-{name}")
        metrics["own_line"] = own_line(out / "data" / name)
        rows.append((name, what, metrics))
        print(
            f"{name}: {100 * metrics['accuracy']:.1f} % on {metrics['n']} images, OK-only image AUROC "
            f"{metrics['own_line']['image_auroc']:.4f} ({time.time() - start:.0f} s)",
            flush=True,
        )
    labels = own["labels"] if "labels" in own else list(own["per_class"])
    text = table(rows, labels)
    line = summary(rows, own, args.floor)
    (out / "robustness.md").write_text(f"# Robustness of {run_dir}\n\n{text}\n\n{line}\n")
    (out / "robustness.json").write_text(json.dumps({"own_test": own, "sets": {n: m for n, _w, m in rows}}, indent=2))
    plot(rows, own, out / "robustness.png")
    print(text)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
