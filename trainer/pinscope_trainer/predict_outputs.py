"""What `predict` writes: one record per image, kept in predictions.jsonl as batches finish (so an
interrupted run resumes), then predictions.csv, predictions.jsonl in input order, overlays/ and index.html.

A record: file, class, confidence, top3 [[class, probability] x 3], okng, pin ('col,row' as the rows'
`pin`, for NG predictions of a ViT), pin_score (the attention mass on that pin's box), peak and
pin_box (in the image's own pixels), true / correct (images of a PinScope split), view, width,
height, overlay, error (why an image could not be predicted; its other fields are empty).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
from pinscope_schema import atomic_write

from .attention import maps, report

CSV_FIELDS = (
    "file",
    "class",
    "confidence",
    "top3",
    "okng",
    "pin",
    "pin_score",
    "true",
    "correct",
    "view",
    "width",
    "height",
    "overlay",
    "error",
)
JOURNAL = "predictions.jsonl"


def base_record(path: Path, truth: str, view: str | None, native_hw) -> dict:
    return {
        "file": str(path),
        "class": "",
        "confidence": None,
        "top3": [],
        "okng": "",
        "pin": "",
        "pin_score": None,
        "peak": None,
        "pin_box": None,
        "true": truth,
        "correct": None,
        "view": view or "",
        "width": int(native_hw[1]) if native_hw else None,
        "height": int(native_hw[0]) if native_hw else None,
        "overlay": "",
        "error": "",
    }


def error_record(path: Path, problem: str, truth: str) -> dict:
    return {**base_record(path, truth, None, None), "error": problem}


# --- resume ----------------------------------------------------------------------------------------
def resume(out: Path, key: str, files: list) -> dict:
    """{file: record} of images a previous run with the same key finished (error rows are retried)."""
    try:
        previous = json.loads((out / "predict.json").read_text())
        lines = (out / JOURNAL).read_text().splitlines()
    except (OSError, ValueError):
        return {}
    if previous.get("key") != key:
        return {}
    wanted, done = {str(f) for f in files}, {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the line a kill cut short
        if record.get("file") in wanted and not record.get("error"):
            done[record["file"]] = record
    return done


class Journal:
    """Appends each finished record to predictions.jsonl at once (one whole line per record)."""

    def __init__(self, out: Path, fresh: bool):
        self.path, self.fresh, self.file = out / JOURNAL, fresh, None

    def __enter__(self):
        self.file = open(self.path, "w" if self.fresh else "a", encoding="utf-8")
        return self

    def add(self, record: dict) -> None:
        self.file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.file.flush()

    def __exit__(self, *exc):
        self.file.close()


# --- overlays ----------------------------------------------------------------------------------------
def overlay_name(path: Path) -> str:
    digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]
    return f"overlays/{Path(path).stem}-{digest}.png"


def save_overlay(out: Path, job, i: int, image: np.ndarray, record: dict, patch_map) -> str:
    """The attention map over the image at the model's input size, the pin boxed, the peak marked."""
    import cv2

    h, w = image.shape[:2]
    picture = image
    box = peak = None
    if patch_map is not None and job.patch:
        grid = maps.to_grid(patch_map, (h // job.patch, w // job.patch))
        picture = report.overlay(image, maps.patch_to_pixels(grid, job.patch, (h, w)))
    if record.get("pin_box"):
        to_input = np.array([w / record["width"], h / record["height"]] * 2)
        box = np.asarray(record["pin_box"]) * to_input
        peak = tuple(np.asarray(record["peak"]) * to_input[:2] - 0.5)
    factor = report.scale_factor(w)
    picture = report.mark(report.scaled(picture), box, peak, None, factor)
    caption = f"{record['class']} {record['confidence']:.2f}"
    if record.get("pin"):
        caption += f"  pin {record['pin']} ({record['pin_score']:.2f})"
    picture = report.captioned(picture, caption)
    name = overlay_name(job.files[i])
    # zlib level 1 with run-length matching: a quarter of the default's encode time, and on these noisy
    # renders smaller files than level 1's default matching (49 vs 55 kB at 288 x 96)
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    ok, data = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), params)
    atomic_write(out / name, data.tobytes(), durable=False)  # made again on a rerun: an fsync each cost 2 ms
    return name


# --- the files of a finished run ---------------------------------------------------------------------
def finish(out: Path, records: list[dict], info: dict, checkpoint: str, parts: list[dict]) -> None:
    """The journal, predictions.csv and index.html; parts.csv where images came in parts (parts.py)."""
    atomic_write(out / JOURNAL, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    atomic_write(out / "predictions.csv", csv_text(records))
    atomic_write(out / "index.html", html_page(records, info, checkpoint, parts))
    if parts:
        atomic_write(out / "parts.csv", csv_text(parts, PART_FIELDS))
    elif (out / "parts.csv").exists():  # an earlier run's parts would not be these images' parts
        (out / "parts.csv").unlink()


PART_FIELDS = ("part", "images", "views", "class", "confidence", "true", "correct")


def csv_text(records: list[dict], fields: tuple = CSV_FIELDS) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        top3 = "; ".join(f"{name} {p:.4f}" for name, p in record.get("top3", []))
        writer.writerow({**record, "top3": top3, "correct": "" if record["correct"] is None else record["correct"]})
    return buffer.getvalue()


def counts(records: list[dict]) -> dict:
    good = [r for r in records if not r["error"]]
    scored = [r for r in good if r["correct"] is not None]
    return {
        "images": len(records),
        "failed": len(records) - len(good),
        "classes": Counter(r["class"] for r in good),
        "ng": sum(r["okng"] == "ng" for r in good),
        "labelled": len(scored),
        "accuracy": sum(r["correct"] for r in scored) / len(scored) if scored else None,
    }


def summary_line(records: list[dict], out: Path, parts: list[dict]) -> str:
    c = counts(records)
    classes = ", ".join(f"{k} {v}" for k, v in sorted(c["classes"].items()))
    line = f"predicted {c['images'] - c['failed']} of {c['images']} images: {classes}; NG {c['ng']}"
    if c["accuracy"] is not None:
        line += f"; accuracy {c['accuracy']:.2%} on {c['labelled']} labelled images"
    if c["failed"]:
        line += f"; {c['failed']} could not be read (see the error column)"
    if parts:
        scored = [p["correct"] for p in parts if p["correct"] is not None]
        line += f"; {len(parts)} part{'s' if len(parts) != 1 else ''}"
        line += f", accuracy {sum(scored) / len(scored):.2%} per part" if scored else ""
        line += f" ({out / 'parts.csv'})"
    return line + f"; {out / 'predictions.csv'}, {out / 'index.html'}"


def html_row(r: dict) -> str:
    esc = html.escape
    if r["error"]:
        return f"<tr class='bad'><td></td><td>{esc(r['file'])}</td><td colspan='6'>{esc(r['error'])}</td></tr>"
    image = f"<a href='{esc(r['overlay'])}'><img src='{esc(r['overlay'])}' loading='lazy'></a>" if r["overlay"] else ""
    top3 = ", ".join(f"{esc(n)} {p:.2f}" for n, p in r["top3"])
    score = "" if r["pin_score"] is None else f"{r['pin_score']:.2f}"
    wrong = " class='bad'" if r["correct"] is False else ""
    return (
        f"<tr{wrong}><td>{image}</td><td>{esc(r['file'])}</td><td>{esc(r['class'])} {r['confidence']:.2f}</td>"
        f"<td>{top3}</td><td>{r['okng'].upper()}</td><td>{esc(r['pin'])} {score}</td><td>{esc(r['true'])}</td>"
        f"<td>{esc(r['view'])}</td></tr>"
    )


def parts_table(parts: list[dict]) -> str:
    """The parts' decisions (parts.py) above the images, where images came in parts."""
    if not parts:
        return ""
    esc = html.escape
    head = "".join(f"<th>{h}</th>" for h in ("part", "images (cameras)", "class", "true"))
    bad = " class='bad'"
    rows = "".join(
        f"<tr{bad if p['correct'] is False else ''}><td>{esc(p['part'])}</td>"
        f"<td>{p['images']} ({esc(p['views'])})</td><td>{esc(p['class'])} {p['confidence']:.2f}</td>"
        f"<td>{esc(p['true'])}</td></tr>"
        for p in parts
    )
    return f"<h2>Per part: every camera's image, log-probabilities summed</h2><table><tr>{head}</tr>{rows}</table>"


def html_page(records: list[dict], info: dict, checkpoint: str, parts: list[dict]) -> str:
    c = counts(records)
    classes = ", ".join(f"{html.escape(k)} {v}" for k, v in sorted(c["classes"].items()))
    accuracy = "" if c["accuracy"] is None else f"; accuracy {c['accuracy']:.2%} on {c['labelled']} labelled images"
    head = "".join(
        f"<th>{h}</th>" for h in ("overlay", "file", "class", "top 3", "OK/NG", "pin (score)", "true", "view")
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>PinScope predictions</title>"
        f"<style>{report.STYLE} tr.bad td{{background:#fde2e2}} img{{max-width:320px}}</style></head><body>"
        f"<h1>Predictions</h1><p>Checkpoint <code>{html.escape(checkpoint)}</code> "
        f"({html.escape(info.get('arch', ''))}, input {html.escape(info['input_mode'])}); "
        f"{c['images']} images, {c['failed']} unreadable: {classes}; "
        f"NG {c['ng']}{accuracy}. The box marks the pin the attention peak (the cross) is on, with the "
        f"share of the map on it.</p>{parts_table(parts)}<h2>Images</h2>"
        f"<table><tr>{head}</tr>{''.join(html_row(r) for r in records)}</table></body></html>"
    )
