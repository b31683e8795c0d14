"""Pictures (OpenCV colormaps, built-in Hershey fonts: nothing to download) and the HTML report.

Images are RGB uint8 arrays here; `save_png` converts to OpenCV's BGR only when writing. The HTML
page embeds every picture as a data URI so that index.html works on its own (mail it, open it from a
zip); the same pictures are also written next to it as PNG files.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
from pinscope_schema import atomic_file, atomic_write

from .maps import normalise

PAD = 4
TEXT_HEIGHT = 16
GREEN, RED, WHITE, GREY = (60, 220, 60), (230, 40, 40), (255, 255, 255), (40, 40, 40)


def heat_rgb(values: np.ndarray, colormap: str = "JET") -> np.ndarray:
    """A map scaled to [0, 1] per picture and coloured with an OpenCV colormap (RGB uint8)."""
    import cv2

    scaled = (normalise(values) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(scaled, getattr(cv2, f"COLORMAP_{colormap}")), cv2.COLOR_BGR2RGB)


def as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.dtype != np.uint8:  # a model input in any range: stretch it for display
        image = (normalise(image.transpose(2, 0, 1)).transpose(1, 2, 0) * 255).astype(np.uint8)
    return image[..., :3]


def overlay(image: np.ndarray, values: np.ndarray, alpha: float = 0.5, colormap: str = "JET") -> np.ndarray:
    """The map over the image; both must have the same height and width."""
    image = as_rgb(image)
    if image.shape[:2] != values.shape:
        raise ValueError(f"overlay: image {image.shape[:2]} and map {values.shape} differ in size")
    mixed = (1 - alpha) * image.astype(np.float32) + alpha * heat_rgb(values, colormap).astype(np.float32)
    return np.clip(mixed, 0, 255).astype(np.uint8)


def mark(image: np.ndarray, box=None, point=None, hit: bool | None = None, factor: int = 1) -> np.ndarray:
    """Draw the defect box (white) and the map's peak (green when inside the box, red otherwise).

    box and point are in the pixels of the unscaled picture; `factor` is how much `image` was enlarged."""
    import cv2

    image = np.ascontiguousarray(image.copy())
    if box is not None:
        x0, y0, x1, y1 = (int(v * factor) for v in box)
        cv2.rectangle(image, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), WHITE, 1)
    if point is not None:
        colour = GREEN if hit else RED if hit is not None else WHITE
        centre = tuple(int((v + 0.5) * factor) for v in point)
        cv2.drawMarker(image, centre, colour, cv2.MARKER_CROSS, 9, 2)
    return image


def scale_factor(width: int, min_width: int = 240) -> int:
    return max(1, int(np.ceil(min_width / max(width, 1))))


def scaled(image: np.ndarray, min_width: int = 240) -> np.ndarray:
    """Enlarge small pictures by a whole factor (nearest), so patches stay sharp."""
    import cv2

    factor = scale_factor(image.shape[1], min_width)
    if factor == 1:
        return image
    return cv2.resize(image, (image.shape[1] * factor, image.shape[0] * factor), interpolation=cv2.INTER_NEAREST)


def text_strip(text: str, width: int, height: int = TEXT_HEIGHT) -> np.ndarray:
    """One line of text on a dark strip (Hershey simplex is compiled into OpenCV)."""
    import cv2

    strip = np.full((height, max(width, 1), 3), GREY, dtype=np.uint8)
    scale = 0.4
    while scale > 0.25 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width - 4:
        scale -= 0.05
    cv2.putText(strip, text, (2, height - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, WHITE, 1, cv2.LINE_AA)
    return strip


def captioned(image: np.ndarray, caption: str) -> np.ndarray:
    return np.concatenate([text_strip(caption, image.shape[1]), image], axis=0)


def grid(cells: list[list[np.ndarray]], row_titles=None, col_titles=None) -> np.ndarray:
    """A table of equally sized pictures with optional titles above columns and left of rows."""
    height, width = cells[0][0].shape[:2]
    title_width = 110 if row_titles else 0
    n_cols = max(len(r) for r in cells)
    canvas_h = (TEXT_HEIGHT + PAD if col_titles else 0) + len(cells) * (height + PAD) + PAD
    canvas_w = title_width + n_cols * (width + PAD) + PAD
    canvas = np.full((canvas_h, canvas_w, 3), 20, dtype=np.uint8)
    top = PAD
    if col_titles:
        for c, title in enumerate(col_titles):
            x = title_width + PAD + c * (width + PAD)
            canvas[top : top + TEXT_HEIGHT, x : x + width] = text_strip(str(title), width)
        top += TEXT_HEIGHT + PAD
    for r, row in enumerate(cells):
        y = top + r * (height + PAD)
        if row_titles:
            lines = str(row_titles[r]).split("\n")
            for i, line in enumerate(lines[: max(1, height // TEXT_HEIGHT)]):
                top_line = y + i * TEXT_HEIGHT
                canvas[top_line : top_line + TEXT_HEIGHT, PAD:title_width] = text_strip(line, title_width - PAD)
        for c, cell in enumerate(row):
            x = title_width + PAD + c * (width + PAD)
            canvas[y : y + height, x : x + width] = cell
    return canvas


def save_png(path: Path, image: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    atomic_write(path, data.tobytes())
    return path


def plot_over_epochs(series: dict, epochs: list, names: list, path: Path, title: str) -> Path | None:
    """Line plot of {method: {score: [value per checkpoint]}} (matplotlib, Agg; its fonts ship with it).

    The x axis is the epoch when every checkpoint knows its own, else the checkpoints in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # shares of the whole map live in [0, 1]; the defect's mass is small next to that (a pin is ~1% of
    # the pixels), so it and its lift over chance get their own scales
    keys = ("pointing_box", "mass_defect", "lift_defect", "mass_other_pins", "mass_background")
    by_epoch = all(isinstance(e, int) for e in epochs) and len(set(epochs)) == len(epochs)
    xs = epochs if by_epoch else list(range(len(names)))
    fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for method, values in series.items():
            ys = [np.nan if v is None else v for v in values.get(key, [])]
            ax.plot(xs, ys, marker="o", label=method)
        ax.set_title(key)
        ax.set_xticks(xs, [str(x) for x in xs] if by_epoch else names, fontsize=7)
        ax.set_xlabel("epoch" if by_epoch else "checkpoint")
        if key == "pointing_box" and "pointing_chance" in next(iter(series.values()), {}):
            chance = [np.nan if v is None else v for v in next(iter(series.values()))["pointing_chance"]]
            ax.plot(xs, chance, color="grey", linestyle="--", linewidth=1, label="chance")
        if key == "lift_defect":
            ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)  # a uniform map
            ax.set_ylim(bottom=0)
        elif key == "mass_defect":
            ax.set_ylim(bottom=0)
        else:
            ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=90)
    plt.close(fig)
    return path


# --- HTML ---------------------------------------------------------------------------------------
def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def figure(path: Path, out_dir: Path, caption: str) -> str:
    rel = Path(path).relative_to(out_dir).as_posix()
    return (
        f'<figure><a href="{html.escape(rel)}"><img src="{data_uri(path)}" alt="{html.escape(caption)}"></a>'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}
th{background:#eee}img{max-width:100%;image-rendering:pixelated}figure{margin:0 0 1.5em}
.warn{background:#fff3cd;padding:.5em;border:1px solid #e0c060}code{background:#f4f4f4}"""


def write_html(out_dir: Path, sections: list[tuple[str, str]], title: str, meta: dict) -> Path:
    """index.html from (heading, inner html) sections; meta is shown as JSON at the end."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    parts.append(
        "<ul>"
        + "".join(f"<li><a href='#s{i}'>{html.escape(h)}</a></li>" for i, (h, _) in enumerate(sections))
        + "</ul>"
    )
    for i, (heading, inner) in enumerate(sections):
        parts.append(f"<h2 id='s{i}'>{html.escape(heading)}</h2>{inner}")
    parts.append(f"<h2>Run</h2><pre>{html.escape(json.dumps(meta, indent=2))}</pre></body></html>")
    path = out_dir / "index.html"
    atomic_write(path, "".join(parts))
    return path
