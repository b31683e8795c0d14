"""The whole `attention` job: checkpoints -> maps -> scores -> curation -> pictures -> index.html."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pinscope_schema import atomic_write, write_json_atomic

from ..checkpoints import check_weights, load_checkpoint, read_info, read_run_config
from ..data import PinDataset, Preprocess, label_of, load_split
from ..errors import UsageError
from ..multilabel import is_multilabel
from . import curation, maps, report
from .runner import (
    AttentionOptions,
    check_labels,
    compute_checkpoint,
    dataset_folder,
    fingerprint,
    load_cached,
    pick_samples,
    read_render,
    resolve_checkpoints,
    save_cached,
    say,
    score_samples,
    settings_dict,
    warp_of,
)
from .scores import breakdown, sample_scores

SCORE_COLUMNS = [
    "n",
    "accuracy",
    "pointing_box",
    "pointing_chance",
    "pointing_mask",
    "mass_defect",
    "area_defect",
    "lift_defect",
    "mass_other_pins",
    "mass_background",
]


@dataclass
class Plan:
    """What the report is made of, all checked before anything is written or printed."""

    run_dir: Path
    out: Path
    chosen: list  # [(name, epoch, folder)]
    run_config: dict
    data_dir: Path
    infos: dict  # name -> preprocess.json
    splits: dict  # name -> SplitData (shared by checkpoints that preprocess alike)


def run(settings: AttentionOptions) -> Path:
    plan = plan_report(settings)
    plan.out.mkdir(parents=True, exist_ok=True)
    names = [n for n, _, _ in plan.chosen]
    say(f"{len(names)} checkpoint(s) of {plan.run_dir}: {', '.join(names)}; dataset {plan.data_dir}")
    results = {name: checkpoint_maps(plan, settings, name, path) for name, _, path in plan.chosen}
    for name in names:  # a register-image model's maps are moved back onto each image with its warp
        results[name]["warps"] = plan.splits[name].warps
    data = plan.splits[names[-1]]
    n = min(len(data.rows), settings.limit) if settings.limit else len(data.rows)
    rows = data.rows[:n]
    records, sources = score_samples(rows, data.split_dir, results, data.labels[:n].numpy(), settings)
    has_truth = sources["mask"] + sources["boxes"] > 0
    if not has_truth:
        say("warning: the dataset has no masks or pin boxes: maps are drawn, scores are skipped")
    elif sources["boxes"]:
        say(f"note: {sources['boxes']} sample(s) without masks are scored on their pin boxes")
    final = [r for r in records if r["checkpoint"] == names[-1] and r["method"] == pick_reference(settings.methods)]
    summary = summarise(plan, settings, records, sources, final, len(rows), data.label_names)
    write_json_atomic(plan.out / "scores.json", summary)
    write_jsonl(plan.out / "samples.jsonl", records)
    picks = pick_samples(rows, settings.samples, settings.seed)
    picks += worst_cases(final, picks, max(2, settings.samples // 3)) if has_truth else []
    figures = draw_figures(plan.out, rows, data, results, plan.chosen, settings, picks, final if has_truth else [])
    sections = html_sections(plan.out, summary, figures, names, settings, has_truth)
    page = report.write_html(plan.out, sections, f"Attention of {plan.run_dir.name}", summary["settings"])
    say(f"report: {page}")
    return page


def plan_report(settings: AttentionOptions) -> Plan:
    """Checkpoints (ViTs, readable, trained on this dataset's labels), dataset and its split, decoded."""
    run_dir = Path(settings.run)
    out = Path(settings.out) if settings.out else Path("reports") / run_dir.name / "attention"
    chosen = resolve_checkpoints(run_dir, settings.ckpts)
    run_config = read_run_config(run_dir, "--run") if (run_dir / "run_config.json").is_file() else {}
    data_dir = dataset_folder(settings, run_config)
    dataset = PinDataset(data_dir, validate=False)  # load_split below validates it (once per preprocessing)
    warn_other_spec(run_config, dataset)
    infos, splits, by_preprocess = {}, {}, {}
    for name, _epoch, path in chosen:
        infos[name] = info = read_info(path, field="--ckpts")
        if is_multilabel(info.get("label_field", "label")):
            raise UsageError("--ckpts", f"{path} is a --label pins (multi-label) model: attention maps need one class")
        check_vit(name, path)
        check_weights(path, "--ckpts")
        pre = Preprocess.from_info(info)
        check_labels(
            name, info, [label_of(r, pre.label_field, dataset.ok_labels) for r in dataset.rows(settings.split)]
        )
        key = json.dumps(pre.to_info(), sort_keys=True)
        if key not in by_preprocess:
            by_preprocess[key] = load_split(data_dir, settings.split, info)
        splits[name] = by_preprocess[key]
    return Plan(run_dir, out, chosen, run_config, data_dir, infos, splits)


def check_vit(name: str, path: Path) -> None:
    """Attention maps need a vision transformer; the ResNet baseline has none (known from config.json)."""
    try:
        kind = json.loads((path / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError) as err:
        raise UsageError("--ckpts", f"{name}: cannot read {path}/config.json ({err})") from None
    if kind == "pinscope_resnet18":
        raise UsageError("--ckpts", f"{name} is a ResNet-18 ({path}); attention maps need a ViT checkpoint")


def checkpoint_maps(plan: Plan, settings: AttentionOptions, name: str, path: Path) -> dict:
    """The maps of one checkpoint: from OUT/cache when its files and the settings are unchanged."""
    data = plan.splits[name]
    key = fingerprint(path, settings, plan.data_dir)
    cache = plan.out / "cache" / f"{name}.npz"
    cached = load_cached(cache, key)
    if cached is not None:
        say(f"{name}: maps reused from {plan.out / 'cache'}")
        return cached
    n = min(len(data.rows), settings.limit) if settings.limit else len(data.rows)
    model, _ = load_checkpoint(path, field="--ckpts")
    result = compute_checkpoint(model, data.inputs[:n], settings.methods, settings, name)
    save_cached(cache, key, result)
    return result


def summarise(plan: Plan, settings, records: list, sources: dict, final: list, samples: int, labels) -> dict:
    """scores.json: scores per checkpoint x method (overall and by class, pin, view) and the curation hints."""
    names = [n for n, _, _ in plan.chosen]
    has_truth = sources["mask"] + sources["boxes"] > 0
    table = {
        c: {m: breakdown([r for r in records if r["checkpoint"] == c and r["method"] == m]) for m in settings.methods}
        for c in names
    }
    hints = {
        "checkpoint": names[-1],
        "method": pick_reference(settings.methods),
        "groups": curation.needing_data(final, top=15),
        "right_wrong_reason": len(curation.examples(final, "right_wrong_reason", 10**9)),
        "wrong": len(curation.examples(final, "wrong", 10**9)),
    }
    return {
        "run": str(plan.run_dir),
        "dataset": str(plan.data_dir),
        "split": settings.split,
        "samples": samples,
        "checkpoints": [{"name": n, "epoch": e} for n, e, _ in plan.chosen],
        "methods": list(settings.methods),
        "labels": labels,
        "ground_truth": sources,
        "scores": table if has_truth else None,
        "curation": hints if has_truth else None,
        "settings": settings_dict(settings),
    }


def warn_other_spec(run_config: dict, dataset) -> None:
    """Same labels but another generation spec: allowed (that is how transfer is tested), but say so."""
    trained = (
        (run_config.get("dataset") or {}).get("spec_hash") if isinstance(run_config.get("dataset"), dict) else None
    )
    if trained and trained != dataset.spec_hash:
        say(
            f"warning: the run was trained on a dataset with spec_hash {trained}; {dataset.root} has "
            f"{dataset.spec_hash} (scores describe this dataset)"
        )


def pick_reference(methods) -> str:
    for method in ("gradient", "rollout", "cls"):
        if method in methods:
            return method
    return methods[0]


def worst_cases(records: list[dict], already: list[int], count: int) -> list[int]:
    """Defective samples with the least mass on their pin, wrong predictions first."""
    candidates = [
        r for r in records if r["sample"] not in already and (not r["correct"] or r["mass_defect"] is not None)
    ]
    ranked = sorted(candidates, key=lambda r: (r["correct"], 1.0 if r["mass_defect"] is None else r["mass_defect"]))
    return [r["sample"] for r in ranked[:count]]


def write_jsonl(path: Path, records) -> None:
    atomic_write(path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


# --- pictures ------------------------------------------------------------------------------------
def render_overlay(render, result, method: str, i: int, row, head: int | None = None, tolerance: float = 0.0):
    """The map over the raw render, with the defect box and the top patch's centre (green: a hit)."""
    grid_hw, patch = tuple(result["grid_hw"]), tuple(result["patch_hw"])
    values = result["cls_heads"][i, head] if head is not None else result[method][i]
    placement = maps.Placement.resize(render.shape[:2], tuple(result["input_hw"]))
    grid = maps.to_grid(values, grid_hw)
    warp, input_hw = warp_of(result, i), result["input_hw"]
    smooth = maps.onto_image(maps.patch_to_pixels(grid, patch, render.shape[:2], placement), warp, input_hw)
    blocky = maps.patch_to_pixels(grid, patch, render.shape[:2], placement, smooth=False)
    blocky = maps.onto_image(blocky, warp, input_hw, smooth=False)
    found = sample_scores(blocky, None, row.pin_index if row.pin else -1, row.defect_box, tolerance=tolerance)
    factor = report.scale_factor(render.shape[1])
    return report.mark(
        report.scaled(report.overlay(render, smooth)), row.defect_box, found["peak"], found["pointing_box"], factor
    )


def row_title(row, i: int) -> str:
    return f"#{row.index} {row.label}\n{row.qeu_code}\n{row.view}"


@dataclass
class Sheet:
    """What every picture of the report draws from."""

    out: Path
    rows: list
    data: object  # SplitData
    results: dict  # checkpoint name -> maps
    names: list  # checkpoint names, oldest first
    settings: AttentionOptions
    picks: list  # sample indices shown
    renders: dict  # sample index -> RGB render


def draw_figures(out: Path, rows, data, results, chosen, settings: AttentionOptions, picks, final) -> dict:
    renders = {i: read_render(data.split_dir, rows[i].file_name) for i in picks}
    picks = [i for i in picks if renders[i] is not None]
    if not picks:
        return {}
    sheet = Sheet(out, rows, data, results, [n for n, _, _ in chosen], settings, picks, renders)
    figures = {f"epochs_{m}": epoch_grid(sheet, m) for m in settings.methods}
    figures["inputs"] = input_grid(sheet)
    figures["heads"] = head_grid(sheet)
    for kind in ("right_wrong_reason", "wrong"):
        path = example_grid(sheet, final, kind)
        if path is not None:
            figures[kind] = path
    return figures


def epoch_grid(sheet: Sheet, method: str) -> Path:
    """Samples x checkpoints: the map over the raw render, the prediction above each cell."""
    rows, labels, cells = sheet.rows, sheet.data.label_names, []
    for i in sheet.picks:
        factor = report.scale_factor(sheet.renders[i].shape[1])
        line = [report.captioned(report.mark(report.scaled(sheet.renders[i]), rows[i].defect_box, factor=factor),
                                 f"truth {rows[i].label}")]  # fmt: skip
        for name in sheet.names:
            logits = sheet.results[name]["logits"][i]
            cell = render_overlay(sheet.renders[i], sheet.results[name], method, i, rows[i])
            line.append(report.captioned(cell, f"{labels[int(logits.argmax())]} {softmax_max(logits):.2f}"))
        cells.append(line)
    image = report.grid(cells, [row_title(rows[i], i) for i in sheet.picks], ["render", *sheet.names])
    return report.save_png(sheet.out / f"epochs_{method}.png", image)


def input_grid(sheet: Sheet) -> Path:
    """The model's own input at the last checkpoint, every method side by side."""
    result, cells = sheet.results[sheet.names[-1]], []
    for i in sheet.picks:
        tensor = sheet.data.inputs[i].numpy()
        shown = tensor[:3] if tensor.shape[0] >= 3 else np.repeat(tensor[:1], 3, axis=0)
        model_input = report.as_rgb(shown.transpose(1, 2, 0).astype(np.float32))
        line = [report.scaled(model_input)]
        for method in sheet.settings.methods:
            grid = maps.to_grid(result[method][i], tuple(result["grid_hw"]))
            smooth = maps.patch_to_pixels(grid, tuple(result["patch_hw"]), model_input.shape[:2])
            line.append(report.scaled(report.overlay(model_input, smooth)))
        cells.append(line)
    titles = ["model input", *sheet.settings.methods]
    image = report.grid(cells, [row_title(sheet.rows[i], i) for i in sheet.picks], titles)
    return report.save_png(sheet.out / "inputs.png", image)


def head_grid(sheet: Sheet) -> Path:
    """Per-head panels of the last layer's CLS attention, and their mean."""
    result, rows, shown = sheet.results[sheet.names[-1]], sheet.rows, sheet.picks[:8]
    heads = result["cls_heads"].shape[1]
    cells = [
        [render_overlay(sheet.renders[i], result, "cls", i, rows[i], head=h) for h in range(heads)]
        + [render_overlay(sheet.renders[i], result, "cls", i, rows[i])]
        for i in shown
    ]
    titles = [f"head {h}" for h in range(heads)] + ["mean"]
    return report.save_png(sheet.out / "heads.png", report.grid(cells, [row_title(rows[i], i) for i in shown], titles))


def example_grid(sheet: Sheet, final: list, kind: str) -> Path | None:
    """Examples of one curation verdict at the last checkpoint (None when there are none)."""
    rows, labels, cells = sheet.rows, sheet.data.label_names, []
    for record in curation.examples(final, kind, 8):
        i = record["sample"]
        render = sheet.renders.get(i)
        if render is None:
            render = read_render(sheet.data.split_dir, rows[i].file_name)
        if render is None:
            continue
        cell = render_overlay(render, sheet.results[sheet.names[-1]], record["method"], i, rows[i])
        caption = f"#{rows[i].index} {rows[i].qeu_code} {rows[i].view} -> {labels[record['predicted']]}"
        cells.append([report.captioned(cell, caption)])
    return report.save_png(sheet.out / f"{kind}.png", report.grid(cells)) if cells else None


def softmax_max(logits) -> float:
    shifted = np.exp(logits - logits.max())
    return float(shifted.max() / shifted.sum())


# --- the page ------------------------------------------------------------------------------------
def html_sections(out: Path, summary: dict, figures: dict, names, settings: AttentionOptions, has_truth: bool) -> list:
    run, dataset = html.escape(summary["run"]), html.escape(summary["dataset"])
    intro = (
        f"<p>Run <code>{run}</code>, dataset <code>{dataset}</code>, "
        f"{summary['samples']} {summary['split']} samples, checkpoints {', '.join(names)}. "
        f"Methods: cls = last-layer CLS attention (head mean); rollout = attention rollout "
        f"(heads fused by {settings.fusion}, discard {settings.discard}); gradient = class-specific "
        f"gradient-weighted relevance (Chefer et al. 2021) for the predicted class. White box: the "
        f"defective pin; cross: the map's peak (green on the box, red elsewhere).</p>"
    )
    if not has_truth:
        intro += "<p class='warn'>The dataset has no masks or pin boxes: maps are drawn, scores are skipped.</p>"
    sections = [("Overview", intro)]
    for method in settings.methods:
        if f"epochs_{method}" in figures:
            caption = f"{method} maps over the raw renders, one column per checkpoint"
            sections.append(
                (f"Samples x checkpoints: {method}", report.figure(figures[f"epochs_{method}"], out, caption))
            )
    for key, title in (("inputs", "On the model input (last checkpoint)"), ("heads", "Per-head CLS attention")):
        if key in figures:
            sections.append((title, report.figure(figures[key], out, title)))
    if has_truth:
        sections += score_sections(out, summary, figures, names, settings)
    return sections


CURATION_COLUMNS = [
    "label",
    "pin",
    "view",
    "n",
    "wrong",
    "right_wrong_reason",
    "problem_share",
    "pointing_box",
    "mass_defect",
    "suggestion",
]


def score_sections(out: Path, summary: dict, figures: dict, names, settings: AttentionOptions) -> list:
    """Scores over checkpoints, the last checkpoint's breakdown, and the curation hints."""
    epochs = [c["epoch"] for c in summary["checkpoints"]]
    scores = summary["scores"]
    series = {m: {k: [scores[c][m]["overall"][k] for c in names] for k in SCORE_COLUMNS} for m in settings.methods}
    plot = report.plot_over_epochs(series, epochs, names, out / "scores_over_epochs.png", "scores over checkpoints")
    inner = report.figure(plot, out, "pointing game and attention mass per checkpoint")
    for c in names:
        rows = [{"method": m, **scores[c][m]["overall"]} for m in settings.methods]
        inner += f"<h3>{c}</h3>" + report.table(rows, ["method", *SCORE_COLUMNS])
    sections = [("Scores", inner)]
    last, method, hints = names[-1], summary["curation"]["method"], summary["curation"]
    inner = ""
    for key in ("label", "pin", "view"):
        listed = [{key: k, **v} for k, v in scores[last][method][f"by_{key}"].items()]
        inner += f"<h3>by {key}</h3>" + report.table(listed, [key, *SCORE_COLUMNS])
    sections.append((f"Breakdown ({last}, {method})", inner))
    inner = (
        f"<p>{hints['wrong']} sample(s) classified wrong, {hints['right_wrong_reason']} classified right "
        f"while the {method} map's peak is off the defective pin ({last}). Groups that most need "
        f"more or different training data:</p>"
    )
    inner += report.table(hints["groups"], CURATION_COLUMNS)
    for kind, title in (("right_wrong_reason", "Right for the wrong reason"), ("wrong", "Wrong")):
        if kind in figures:
            inner += f"<h3>{title}</h3>" + report.figure(figures[kind], out, title)
    sections.append(("Curation hints", inner))
    return sections
