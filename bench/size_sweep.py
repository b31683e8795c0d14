"""The defect-size sweep: the smallest defect of one mode a trained model detects, per camera view.

    .venvs/trainer/bin/python bench/size_sweep.py --run runs/default --mode tilt_x
    make sweep RUN=runs/default SWEEP_MODE=tilt_x SWEEP_ARGS="--lights train,ring,low_angle"

For each lighting and each magnitude it renders a test-only dataset from the run's training spec (read
from the run's dataset.json): that one class, at that fixed magnitude, beside OK samples (false alarms),
with its own reference renders (the unit space a line would record) and seeds of its own, so no
training image comes back. It scores the run on each with `evaluate --data` and reports, per view, the
share of defective samples called NG (any class but ok) at each magnitude, the false-alarm rate on OK
and the magnitude where detection reaches 90 % (interpolated between the measured points). Writes
sweep.json, sweep.md and sweep.png under reports/sweep/<run>-<mode>/. Every render resumes.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import robustness  # noqa: E402 -- its render() and score() drive the renderer and the trainer for us

REPO = robustness.REPO
TARGET = 0.9
# Sizes a line engineer asks about: from below what a camera resolves to the training spec's own defect.
DEFAULT_MAGNITUDES = {
    "tilt_x": [0.5, 1, 2, 4, 6, 8, 10],
    "tilt_y": [0.5, 1, 2, 4, 6, 8, 10],
    "retract": [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5],
    "raise": [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5],
    "shift": [0.02, 0.05, 0.1, 0.15, 0.2, 0.3],
    "bend": [1, 2, 4, 8, 15, 30],
    "twist": [2, 5, 10, 20, 45],
    "tip": [0.02, 0.05, 0.1, 0.15, 0.2, 0.3],
}
TRAIN_LIGHT = "train"  # the training spec's own lighting, randomised presets included


class Refused(Exception):
    """Bad input: `str()` is `<field>: <problem>`, printed as one `error:` line before anything renders."""


# --- the maths ------------------------------------------------------------------------------------


def detection_rates(samples, ok_labels) -> dict:
    """{view: {"detection": {magnitude: rate}, "n": {magnitude: count}, "false_alarm": rate, "ok_n": count}}.

    `samples`: (magnitude, view, true, predicted) for each scored image; a defective image (true not OK)
    is detected when predicted is any class but OK -- a tilt called a retract still stops the part. OK
    images are pooled over the magnitudes (the magnitude does not change an OK part)."""
    ok_labels = set(ok_labels)
    views: dict = {}
    for magnitude, view, true, predicted in samples:
        v = views.setdefault(view, {"hit": {}, "n": {}, "alarm": 0, "ok_n": 0})
        flagged = predicted not in ok_labels
        if true in ok_labels:
            v["ok_n"] += 1
            v["alarm"] += flagged
        else:
            v["n"][magnitude] = v["n"].get(magnitude, 0) + 1
            v["hit"][magnitude] = v["hit"].get(magnitude, 0) + flagged
    return {
        view: {
            "detection": {m: v["hit"][m] / v["n"][m] for m in sorted(v["n"])},
            "n": dict(sorted(v["n"].items())),
            "false_alarm": v["alarm"] / v["ok_n"] if v["ok_n"] else None,
            "ok_n": v["ok_n"],
        }
        for view, v in sorted(views.items())
    }


def magnitude_at(detection: dict, target: float = TARGET) -> float | None:
    """The smallest magnitude where detection reaches `target`, linear between the measured points
    around the first crossing; the smallest magnitude itself when it already gets there (the true
    limit is at or below it); None when no measured magnitude gets there."""
    points = sorted(detection.items())
    for i, (magnitude, rate) in enumerate(points):
        if rate < target:
            continue
        if i == 0:
            return magnitude
        m0, r0 = points[i - 1]
        return m0 + (target - r0) * (magnitude - m0) / (rate - r0)
    return None


# --- bad input --------------------------------------------------------------------------------------


def allowed_range(mode: str, spec: dict) -> tuple[float, float, bool, str]:
    """(low, high, high included, unit) of a sweepable magnitude; the spec's own rules (spec.py)."""
    height = spec.get("pins", {}).get("height", 2.0)
    ranges = {
        "tilt_x": (90.0, False, "deg"),
        "tilt_y": (90.0, False, "deg"),
        "bend": (90.0, False, "deg"),
        "twist": (180.0, True, "deg"),
        "retract": (height, True, "mm"),
        "raise": (1000.0, True, "mm"),
        "shift": (1000.0, True, "mm"),
        "tip": (height / 6.0, False, "mm"),
    }
    high, included, unit = ranges[mode]
    return 0.0, high, included, unit


def parse_magnitudes(text: str | None, mode: str, spec: dict) -> list[float]:
    """The sorted magnitudes of --magnitudes (the mode's defaults without it), each inside its range."""
    if text is None:
        values = [float(v) for v in DEFAULT_MAGNITUDES[mode]]
    else:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise Refused("--magnitudes: is empty; give a comma-separated list, e.g. 0.5,1,2,4")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise Refused(f"--magnitudes: must be numbers separated by commas, got {text!r}") from None
    low, high, included, unit = allowed_range(mode, spec)
    for value in values:
        if not (low < value and (value <= high if included else value < high)):
            bound = "<=" if included else "<"
            raise Refused(f"--magnitudes: {value:g} is outside {mode}'s range (0 < magnitude {bound} {high:g} {unit})")
    if len(set(values)) != len(values):
        raise Refused(f"--magnitudes: lists a magnitude twice, got {text!r}")
    return sorted(values)


def parse_lights(text: str) -> list[str]:
    from pinscope_schema import LIGHT_PRESETS  # noqa: PLC0415 -- the trainer env has the schema

    names = [p.strip() for p in text.split(",") if p.strip()]
    allowed = (TRAIN_LIGHT, *LIGHT_PRESETS)
    if not names:
        raise Refused(f"--lights: is empty; allowed: {', '.join(allowed)}")
    for name in names:
        if name not in allowed:
            raise Refused(f"--lights: unknown lighting {name!r}; allowed: {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise Refused(f"--lights: lists a lighting twice, got {text!r}")
    return names


def read_run(run_dir: Path) -> tuple[dict, dict]:
    """(run_config, training spec) of a trained run, or Refused naming what is missing."""
    config_path = run_dir / "run_config.json"
    if not config_path.is_file():
        raise Refused(f"--run: {run_dir} is not a trained run (no run_config.json; `train --out` writes one)")
    if not (run_dir / "checkpoints" / "best" / "model.safetensors").is_file():
        raise Refused(f"--run: {run_dir} has no checkpoints/best yet (a finished epoch writes it)")
    config = json.loads(config_path.read_text())
    manifest = Path(config["dataset"]["path"]) / "dataset.json"
    if not manifest.is_file():
        raise Refused(f"--run: the dataset it was trained on is gone ({manifest} not found)")
    if config["preprocess"]["label_field"] not in ("label", "okng"):
        field = config["preprocess"]["label_field"]
        raise Refused(f"--run: scores per image with --label label or okng; this run learnt {field!r}")
    return config, json.loads(manifest.read_text())["spec"]


def swept_class(spec: dict, name: str, labels: list) -> dict:
    """The training spec's class `name`, when the run knows it and it has a magnitude to sweep."""
    classes = {c["name"]: c for c in spec["defects"]["classes"]}
    sweepable = [n for n, c in classes.items() if c.get("mode") in DEFAULT_MAGNITUDES and n in labels]
    if name not in sweepable:
        raise Refused(f"--mode: {name!r} is not a class of this run with a magnitude; allowed: {', '.join(sweepable)}")
    return classes[name]


# --- the sets ---------------------------------------------------------------------------------------


def sweep_spec(base: dict, cls: dict, magnitude: float, light: str, counts: tuple[int, int], ok_share: float) -> dict:
    """A test-only spec: the training spec with `cls` alone at `magnitude` (low = high), OK samples at
    `ok_share` of the images, `light` (a preset, or the training spec's own) and a seed of its own."""
    d = json.loads(json.dumps(base))
    test, reference = counts
    defect = {**cls, "low": magnitude, "high": magnitude, "quota": 1.0 - ok_share, "near_tolerance": 0.0}
    ok = [{**c, "quota": ok_share} for c in base["defects"]["classes"] if c.get("mode") == "ok"][:1]
    d["defects"]["classes"] = (ok if ok_share > 0 else []) + [defect]
    if light != TRAIN_LIGHT:  # one fixed preset: nothing drawn among presets
        d.setdefault("lights", {})["preset"] = light
        d.setdefault("randomize", {})["light_presets"] = []
    tag = f"{light}-{cls['name']}-{magnitude:g}"
    # The seed follows the set, not its place in the list: a rerun with other magnitudes resumes the same
    # folders, and every set draws other images than training (base seed) and than the other sets.
    offset = 10_000 + zlib.crc32(tag.encode()) % 1_000_000
    d["seed"] = (base.get("seed", 0) + offset) % (2**31 - 1)
    d["name"] = f"{base.get('name', 'pinscope')}-sweep-{tag}"[:64]
    # each image on its own: the sweep reads what one camera sees of a magnitude, and --test need not be
    # a multiple of a block of parts seen by every camera (dataset.every_view)
    d["dataset"] = {**d.get("dataset", {}), "train": 0, "validation": 0, "test": test, "reference": reference}
    d["dataset"]["every_view"] = False
    return d


def check_spec(d: dict) -> None:
    from pinscope_schema import ContractError, GenerationSpec  # noqa: PLC0415

    try:
        GenerationSpec.from_dict(d)
    except ContractError as err:
        raise Refused(str(err)) from None


def folder_tag(magnitude: float) -> str:
    # no dot in the folder name: render() writes the spec beside it with with_suffix(".json")
    return f"{magnitude:g}".replace(".", "p").replace("-", "m")


def scored_samples(run_dir: Path, folder: Path, name: str, magnitude: float, config: dict) -> list:
    """(magnitude, view, true, predicted) of each test image of a scored set: the rows give every
    image's view and class, eval/NAME/mistakes.csv what the model said where it was wrong. Every OK
    class is called "ok" in both."""
    from pinscope_schema.io import read_rows  # noqa: PLC0415

    spec = json.loads((folder / "dataset.json").read_text())["spec"]
    ok_names = {c["name"] for c in spec["defects"]["classes"] if c.get("mode") == "ok"}
    with open(run_dir / "eval" / name / "mistakes.csv", newline="") as f:
        wrong = {int(r["index"]): r["predicted"] for r in csv.DictReader(f) if r["split"] == "test"}
    okng = config["preprocess"]["label_field"] == "okng"
    samples = []
    for row in read_rows(folder / "test" / "metadata.jsonl"):
        true = "ok" if row.label in ok_names else row.label
        if okng:  # the model's own label: a defect inside a spec tolerance is OK (data.label_of)
            in_tolerance = row.tolerance_margin is not None and not row.ng
            expected = "ok" if true == "ok" or in_tolerance else "ng"
        else:
            expected = row.label
        predicted = wrong.get(row.index, expected)
        samples.append((magnitude, row.view, true, "ok" if predicted in ok_names else predicted))
    return samples


def run_sets(args, run_dir: Path, config: dict, plans: dict, out: Path) -> dict:
    """{light: [samples]}: render and score every planned set (each render resumes)."""
    samples: dict = {}
    for (light, magnitude), spec in plans.items():
        start = time.time()
        folder = out / "data" / light / folder_tag(magnitude)
        robustness.render(spec, folder, args.workers, args.quiet)
        name = f"sweep-{args.mode}-{light}-{folder_tag(magnitude)}"
        metrics = robustness.score(run_dir, folder, name, args.quiet)
        samples.setdefault(light, []).extend(scored_samples(run_dir, folder, name, magnitude, config))
        print(
            f"{light} {args.mode} {magnitude:g}: accuracy {100 * metrics['accuracy']:.1f} % on {metrics['n']} "
            f"images ({time.time() - start:.0f} s)",
            flush=True,
        )
    return samples


# --- the report -------------------------------------------------------------------------------------


def summarise(samples: dict, ok_labels) -> dict:
    """{light: {view: rates + magnitude_at_90}}, with every view pooled as "all"."""
    out = {}
    for light, items in samples.items():
        views = detection_rates(items, ok_labels)
        views["all"] = detection_rates([(m, "all", t, p) for m, _v, t, p in items], ok_labels)["all"]
        for v in views.values():
            v["magnitude_at_90"] = magnitude_at(v["detection"])
        out[light] = views
    return out


def at_90_text(view: dict, unit: str) -> str:
    m90, detection = view["magnitude_at_90"], view["detection"]
    if m90 is None:
        return "not reached"
    smallest = min(detection)
    return f"<= {m90:g} {unit}" if m90 == smallest and detection[smallest] >= TARGET else f"{m90:.2f} {unit}"


def table(summary: dict, magnitudes: list, unit: str) -> str:
    head = "| lighting | view | " + " | ".join(f"{m:g} {unit}" for m in magnitudes) + " | 90 % at | false alarms |"
    lines = [head, "|" + "---|" * (4 + len(magnitudes))]
    for light, views in summary.items():
        for name, v in views.items():
            # the count beside each rate: views are drawn per shot, so a point may rest on few samples
            cells = [f"{100 * v['detection'][m]:.0f} % ({v['n'][m]})" if m in v["n"] else "-" for m in magnitudes]
            alarms = "-" if v["false_alarm"] is None else f"{100 * v['false_alarm']:.1f} % of {v['ok_n']}"
            lines.append(f"| {light} | {name} | " + " | ".join(cells) + f" | {at_90_text(v, unit)} | {alarms} |")
    return "\n".join(lines)


def plot(summary: dict, mode: str, unit: str, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, len(summary), figsize=(4.2 * len(summary), 3.4), sharey=True, squeeze=False)
    for ax, (light, views) in zip(axes[0], summary.items(), strict=True):
        for name, v in views.items():
            xs = sorted(v["detection"])
            alarm = "" if v["false_alarm"] is None else f", FA {100 * v['false_alarm']:.0f} %"
            style = {"color": "k", "ls": "--"} if name == "all" else {}
            ax.plot(xs, [100 * v["detection"][x] for x in xs], marker="o", label=f"{name}{alarm}", **style)
        ax.axhline(100 * TARGET, color="grey", lw=0.8, ls=":")
        ax.set_title(f"lighting: {light}", fontsize=10)
        ax.set_xlabel(f"{mode} ({unit})")
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("detected as NG (%)")
    axes[0][0].set_ylim(-3, 103)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def as_json(summary: dict) -> dict:
    # JSON keys are strings: the per-magnitude figures become lists of points
    return {
        light: {
            name: {
                "points": [{"magnitude": m, "detection": v["detection"][m], "n": v["n"][m]} for m in v["detection"]],
                "false_alarm": v["false_alarm"],
                "ok_n": v["ok_n"],
                "magnitude_at_90": v["magnitude_at_90"],
            }
            for name, v in views.items()
        }
        for light, views in summary.items()
    }


# --- the command ------------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, like every other refusal of the project
        required = "the following arguments are required: "
        if message.startswith(required):
            message = f"{message.removeprefix(required)}: required"
        print(f"error: {message.removeprefix('argument ')}", file=sys.stderr)
        sys.exit(2)


def parse_args(argv):
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a trained run folder (runs/default)")
    p.add_argument("--mode", required=True, help="the defect class to sweep (a class of the run: tilt_x, retract...)")
    p.add_argument("--magnitudes", help="comma-separated magnitudes, mm or degrees (default: per mode)")
    p.add_argument("--test", type=int, default=60, help="test images per magnitude (default 60)")
    p.add_argument("--ok-share", type=float, default=0.25, help="share of OK images per set (false alarms)")
    p.add_argument("--reference", type=int, default=30, help="reference (unit space) renders per set")
    p.add_argument("--lights", default=TRAIN_LIGHT, help="train (the spec's own) and/or presets: train,ring,...")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", help="default: reports/sweep/<run>-<mode>")
    p.add_argument("--doc-plot", help="also copy sweep.png here (docs/img/size_sweep.png)")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def plan(args) -> tuple[Path, dict, dict, list, str]:
    """Every check of the input, before anything renders: (run, config, {(light, magnitude): spec},
    magnitudes, unit)."""
    run_dir = Path(args.run)
    config, base = read_run(run_dir)
    cls = swept_class(base, args.mode, config["preprocess"]["labels"])
    magnitudes = parse_magnitudes(args.magnitudes, cls["mode"], base)
    lights = parse_lights(args.lights)
    for field, value, low in (
        ("--test", args.test, 1),
        ("--reference", args.reference, 1),
        ("--workers", args.workers, 1),
    ):
        if value < low:
            raise Refused(f"{field}: must be at least {low}, got {value}")
    if not 0 <= args.ok_share < 1:
        raise Refused(f"--ok-share: must be 0 <= share < 1 (a share of the images), got {args.ok_share}")
    counts = (args.test, args.reference)
    plans = {(li, m): sweep_spec(base, cls, m, li, counts, args.ok_share) for li in lights for m in magnitudes}
    for spec in plans.values():
        check_spec(spec)
    return run_dir, config, plans, magnitudes, allowed_range(cls["mode"], base)[3]


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run_dir, config, plans, magnitudes, unit = plan(args)
    except Refused as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out or REPO / "reports" / "sweep" / f"{run_dir.name}-{args.mode}")
    samples = run_sets(args, run_dir, config, plans, out)
    summary = summarise(samples, {"ok"})  # scored_samples names every OK class "ok"
    text = table(summary, magnitudes, unit)
    command = "bench/size_sweep.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / "sweep.md").write_text(f"# Defect-size sweep: {args.mode} on {run_dir}\n\n`{command}`\n\n{text}\n")
    report = {"run": str(run_dir), "mode": args.mode, "unit": unit, "magnitudes": magnitudes, "test": args.test}
    report.update(ok_share=args.ok_share, target=TARGET, command=command, lights=as_json(summary))
    (out / "sweep.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(summary, args.mode, unit, out / "sweep.png")
    if args.doc_plot:
        shutil.copyfile(out / "sweep.png", args.doc_plot)
    print(text)
    print(f"wrote {out}/sweep.md, sweep.json, sweep.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
