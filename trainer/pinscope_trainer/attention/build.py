"""The whole `attention` job: checkpoints -> maps -> scores -> curation -> pictures -> index.html."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

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


def run(settings: AttentionOptions) -> Path:
    from ..checkpoints import load_checkpoint, read_info
    from ..data import PinDataset, Preprocess, label_of, load_split

    run_dir = Path(settings.run)
    out = Path(settings.out) if settings.out else Path("reports") / run_dir.name / "attention"
    chosen = resolve_checkpoints(run_dir, settings.ckpts)
    config_file = run_dir / "run_config.json"
    run_config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    data_dir = dataset_folder(settings, run_config)
    out.mkdir(parents=True, exist_ok=True)
    say(f"{len(chosen)} checkpoint(s) of {run_dir}: {', '.join(n for n, _, _ in chosen)}; dataset {data_dir}")

    results, split_cache, data = {}, {}, None
    for name, _epoch, path in chosen:
        key = fingerprint(path, settings, data_dir)
        cached = load_cached(out / "cache" / f"{name}.npz", key)
        info = read_info(path, field="--ckpts")
        pre = Preprocess.from_info(info)
        data_key = json.dumps(pre.to_info(), sort_keys=True)
        if data_key not in split_cache:
            dataset = PinDataset(data_dir, validate=False)  # load_split below validates it
            warn_other_spec(run_config, dataset)
            names_of = [label_of(r, pre.label_field, dataset.ok_labels) for r in dataset.rows(settings.split)]
            check_labels(name, info, names_of)
            split_cache[data_key] = load_split(data_dir, settings.split, info)
        data = split_cache[data_key]
        n = min(len(data.rows), settings.limit) if settings.limit else len(data.rows)
        if cached is None:
            model, _ = load_checkpoint(path, field="--ckpts")
            cached = compute_checkpoint(model, data.inputs[:n], settings.methods, settings, name)
            save_cached(out / "cache" / f"{name}.npz", key, cached)
        else:
            say(f"{name}: maps reused from {out / 'cache'}")
        results[name] = cached
    rows, true_ids = data.rows[:n], data.labels[:n].numpy()

    records, sources = score_samples(rows, data.split_dir, results, true_ids, settings)
    has_truth = sources["mask"] + sources["boxes"] > 0
    if not has_truth:
        say("warning: the dataset has no masks or pin boxes: maps are drawn, scores are skipped")
    elif sources["boxes"]:
        say(f"note: {sources['boxes']} sample(s) without masks are scored on their pin boxes")
    names = [n for n, _, _ in chosen]
    last, reference = names[-1], pick_reference(settings.methods)
    table = {
        c: {m: breakdown([r for r in records if r["checkpoint"] == c and r["method"] == m]) for m in settings.methods}
        for c in names
    }
    final = [r for r in records if r["checkpoint"] == last and r["method"] == reference]
    hints = (
        {
            "checkpoint": last,
            "method": reference,
            "groups": curation.needing_data(final, top=15),
            "right_wrong_reason": len(curation.examples(final, "right_wrong_reason", 10**9)),
            "wrong": len(curation.examples(final, "wrong", 10**9)),
        }
        if has_truth
        else None
    )
    summary = {
        "run": str(run_dir),
        "dataset": str(data_dir),
        "split": settings.split,
        "samples": len(rows),
        "checkpoints": [{"name": n, "epoch": e} for n, e, _ in chosen],
        "methods": list(settings.methods),
        "labels": data.label_names,
        "ground_truth": sources,
        "scores": table if has_truth else None,
        "curation": hints,
        "settings": settings_dict(settings),
    }
    write_json(out / "scores.json", summary)
    write_jsonl(out / "samples.jsonl", records)

    picks = pick_samples(rows, settings.samples, settings.seed)
    picks += worst_cases(final, picks, max(2, settings.samples // 3)) if has_truth else []
    figures = draw_figures(out, rows, data, results, chosen, settings, picks, final if has_truth else [])
    sections = html_sections(out, summary, figures, names, settings, has_truth)
    page = report.write_html(out, sections, f"Attention of {run_dir.name}", summary["settings"])
    say(f"report: {page}")
    return page


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


def write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def write_jsonl(path: Path, records) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    tmp.replace(path)


# --- pictures ------------------------------------------------------------------------------------
def render_overlay(render, result, method: str, i: int, row, head: int | None = None, tolerance: float = 0.0):
    """The map over the raw render, with the defect box and the top patch's centre (green: a hit)."""
    grid_hw, patch = tuple(result["grid_hw"]), tuple(result["patch_hw"])
    values = result["cls_heads"][i, head] if head is not None else result[method][i]
    placement = maps.Placement.resize(render.shape[:2], tuple(result["input_hw"]))
    grid = maps.to_grid(values, grid_hw)
    smooth = maps.patch_to_pixels(grid, patch, render.shape[:2], placement)
    blocky = maps.patch_to_pixels(grid, patch, render.shape[:2], placement, smooth=False)
    found = sample_scores(blocky, None, row.pin_index if row.pin else -1, row.defect_box, tolerance=tolerance)
    factor = report.scale_factor(render.shape[1])
    return report.mark(
        report.scaled(report.overlay(render, smooth)), row.defect_box, found["peak"], found["pointing_box"], factor
    )


def row_title(row, i: int) -> str:
    return f"#{row.index} {row.label}\n{row.qeu_code}\n{row.view}"


def draw_figures(out: Path, rows, data, results, chosen, settings: AttentionOptions, picks, final) -> dict:
    names = [n for n, _, _ in chosen]
    last = names[-1]
    renders = {i: read_render(data.split_dir, rows[i].file_name) for i in picks}
    picks = [i for i in picks if renders[i] is not None]
    figures = {}
    if not picks:
        return figures
    labels = data.label_names
    for method in settings.methods:
        cells = []
        for i in picks:
            factor = report.scale_factor(renders[i].shape[1])
            line = [report.mark(report.scaled(renders[i]), rows[i].defect_box, factor=factor)]
            for name in names:
                logits = results[name]["logits"][i]
                cell = render_overlay(renders[i], results[name], method, i, rows[i])
                line.append(report.captioned(cell, f"{labels[int(logits.argmax())]} {softmax_max(logits):.2f}"))
            line[0] = report.captioned(line[0], f"truth {rows[i].label}")
            cells.append(line)
        image = report.grid(cells, [row_title(rows[i], i) for i in picks], ["render", *names])
        figures[f"epochs_{method}"] = report.save_png(out / f"epochs_{method}.png", image)
    # the model's own input at the last checkpoint, every method side by side
    cells = []
    for i in picks:
        tensor = data.inputs[i].numpy()
        shown = tensor[:3] if tensor.shape[0] >= 3 else np.repeat(tensor[:1], 3, axis=0)
        model_input = report.as_rgb(shown.transpose(1, 2, 0).astype(np.float32))
        line = [report.scaled(model_input)]
        for method in settings.methods:
            result = results[last]
            grid = maps.to_grid(result[method][i], tuple(result["grid_hw"]))
            smooth = maps.patch_to_pixels(grid, tuple(result["patch_hw"]), model_input.shape[:2])
            line.append(report.scaled(report.overlay(model_input, smooth)))
        cells.append(line)
    image = report.grid(cells, [row_title(rows[i], i) for i in picks], ["model input", *settings.methods])
    figures["inputs"] = report.save_png(out / "inputs.png", image)
    # per-head panels of the last layer's CLS attention
    heads = results[last]["cls_heads"].shape[1]
    cells = [
        [render_overlay(renders[i], results[last], "cls", i, rows[i], head=h) for h in range(heads)]
        + [render_overlay(renders[i], results[last], "cls", i, rows[i])]
        for i in picks[:8]
    ]
    titles = [f"head {h}" for h in range(heads)] + ["mean"]
    image = report.grid(cells, [row_title(rows[i], i) for i in picks[:8]], titles)
    figures["heads"] = report.save_png(out / "heads.png", image)
    for kind in ("right_wrong_reason", "wrong"):
        chosen_records = curation.examples(final, kind, 8)
        cells = []
        for record in chosen_records:
            i = record["sample"]
            render = renders.get(i)
            if render is None:
                render = read_render(data.split_dir, rows[i].file_name)
            if render is None:
                continue
            cell = render_overlay(render, results[last], record["method"], i, rows[i])
            cells.append(
                [
                    report.captioned(
                        cell, f"#{rows[i].index} {rows[i].qeu_code} {rows[i].view} -> {labels[record['predicted']]}"
                    )
                ]
            )
        if cells:
            figures[kind] = report.save_png(out / f"{kind}.png", report.grid(cells))
    return figures


def softmax_max(logits) -> float:
    shifted = np.exp(logits - logits.max())
    return float(shifted.max() / shifted.sum())


# --- the page ------------------------------------------------------------------------------------
def html_sections(out: Path, summary: dict, figures: dict, names, settings: AttentionOptions, has_truth: bool) -> list:
    sections = []
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
    sections.append(("Overview", intro))
    for method in settings.methods:
        if f"epochs_{method}" in figures:
            sections.append(
                (
                    f"Samples x checkpoints: {method}",
                    report.figure(
                        figures[f"epochs_{method}"],
                        out,
                        f"{method} maps over the raw renders, one column per checkpoint",
                    ),
                )
            )
    for key, title in (("inputs", "On the model input (last checkpoint)"), ("heads", "Per-head CLS attention")):
        if key in figures:
            sections.append((title, report.figure(figures[key], out, title)))
    if has_truth:
        epochs = [c["epoch"] for c in summary["checkpoints"]]
        series = {
            m: {k: [summary["scores"][c][m]["overall"][k] for c in names] for k in SCORE_COLUMNS}
            for m in settings.methods
        }
        plot = report.plot_over_epochs(series, epochs, names, out / "scores_over_epochs.png", "scores over checkpoints")
        inner = report.figure(plot, out, "pointing game and attention mass per checkpoint")
        for c in names:
            rows = [{"method": m, **summary["scores"][c][m]["overall"]} for m in settings.methods]
            inner += f"<h3>{c}</h3>" + report.table(rows, ["method", *SCORE_COLUMNS])
        sections.append(("Scores", inner))
        last, method = names[-1], summary["curation"]["method"]
        inner = ""
        for key in ("label", "pin", "view"):
            table = summary["scores"][last][method][f"by_{key}"]
            listed = [{key: k, **v} for k, v in table.items()]
            inner += f"<h3>by {key}</h3>" + report.table(listed, [key, *SCORE_COLUMNS])
        sections.append((f"Breakdown ({last}, {method})", inner))
        hints = summary["curation"]
        inner = (
            f"<p>{hints['wrong']} sample(s) classified wrong, {hints['right_wrong_reason']} classified right "
            f"while the {method} map's peak is off the defective pin ({last}). Groups that most need "
            f"more or different training data:</p>"
        )
        inner += report.table(
            hints["groups"],
            [
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
            ],
        )
        for kind, title in (("right_wrong_reason", "Right for the wrong reason"), ("wrong", "Wrong")):
            if kind in figures:
                inner += f"<h3>{title}</h3>" + report.figure(figures[kind], out, title)
        sections.append(("Curation hints", inner))
    return sections
