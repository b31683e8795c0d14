"""Draw docs/img/addon-panel.png: the PinScope sidebar with every sub-panel expanded, labelled.

The rows come from the add-on's own layout table (blender_addon/ui/panel_layout.py) and the spec's
field metadata and defaults, so the picture follows the code. Needs matplotlib (the trainer env):

    .venvs/trainer/bin/python docs/img/panel_diagram.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(REPO / "shared")]

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pinscope_schema as schema  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle  # noqa: E402

from blender_addon.ui import panel_layout  # noqa: E402

ROW = 0.26  # inches per row
PANEL_W = 3.4
BG, HEADER, BUTTON, FIELD, TEXT, NOTE = "#2b2b2b", "#3d3d3d", "#545454", "#1d1d1d", "#e6e6e6", "#1f5f99"
SECTION_NOTES = {
    "grid": "grid size, pitch and shape pattern; pin sizes and material",
    "housing": "the block the pins stand in",
    "defects": "label classes (list), the selected class, fixed or random defective pin",
    "camera": "centre camera or the QEU 3-camera rig, per-shot jitter; the two area lights",
    "render": "engine, image size, samples, denoise, device",
    "dataset": "split sizes, reference renders, twins/masks; output folder and workers",
}


def _value_text(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "(" + ", ".join(_value_text(v) for v in value) + ")"
    if value is None:
        return "-"
    return str(value)


def _section_rows(name, record):
    """(kind, text, value) rows of one spec section, with the default spec's values."""
    rows = []
    if name == "defects":
        rows.append(("list", "Classes (UIList, + / -)", ""))
        for cls in record.classes:
            rows.append(("item", f"{cls.name}", f"{cls.mode}  x{cls.quota:g}"))
        selected = record.classes[1]
        rows.append(("label", f"selected class: {selected.name}", ""))
        for plan in panel_layout.drawn_plans(schema.DefectClass):
            rows.append(("field", plan.options["name"], _value_text(getattr(selected, plan.field))))
    for plan in panel_layout.drawn_plans(type(record)):
        if plan.role == "random":
            rows.append(("check", plan.options["name"], "on" if getattr(record, plan.field) is None else "off"))
            continue
        labels = panel_layout.COMPONENT_LABELS.get(plan.name)
        value = getattr(record, plan.field)
        if labels:
            rows.extend(("field", label, "-" if value is None else str(value[i])) for i, label in enumerate(labels))
        else:
            rows.append(("field", plan.options["name"], _value_text(value)))
    return rows


def layout_rows():
    """Every row of the sidebar, top to bottom: (kind, text, value, note)."""
    spec = schema.GenerationSpec()
    rows = [("header", "PinScope", "", "parent panel: spec files, grid, defect preview")]
    rows += [
        ("alert", text.removeprefix("(red) "), "", note) if text.startswith("(red)") else ("button", text, "", note)
        for text, note in panel_layout.MAIN_ROWS
    ]
    for panel in panel_layout.SUB_PANELS:
        rows.append(("header", panel.label, "", SECTION_NOTES.get(panel.key, "")))
        if panel.key == "dataset":
            rows += [("field", "Name", spec.name, ""), ("field", "Seed", str(spec.seed), "")]
        for section in panel.sections:
            if len(panel.sections) > 1:
                rows.append(("label", section.capitalize(), "", ""))
            rows += [(*row, "") for row in _section_rows(section, getattr(spec, section))]
        if panel.key == "dataset":
            rows += [("button", text, "", note) for text, note in panel_layout.DATASET_ROWS[1:]]
    return rows


def draw(out: Path):
    rows = layout_rows()
    height = (len(rows) + 2) * ROW
    fig = plt.figure(figsize=(PANEL_W + 4.6, height))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, PANEL_W + 4.6)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ax.add_patch(Rectangle((0, 0), PANEL_W + 0.25, height, color=BG))
    ax.add_patch(Rectangle((PANEL_W, 0.3), 0.25, 1.3, color=HEADER))
    ax.text(PANEL_W + 0.125, 0.95, "PinScope", rotation=270, color=TEXT, ha="center", va="center", fontsize=7)
    number = 0
    for i, (kind, text, value, note) in enumerate(rows):
        y = (i + 1) * ROW
        if kind == "header":
            ax.add_patch(Rectangle((0.05, y - ROW * 0.45), PANEL_W - 0.1, ROW * 0.9, color=HEADER))
            ax.text(0.12, y, "v  " + text, color=TEXT, va="center", fontsize=8.5, weight="bold")
        elif kind == "alert":
            ax.add_patch(Rectangle((0.2, y - ROW * 0.4), PANEL_W - 0.4, ROW * 0.8, color="#8c2a2a"))
            ax.text(0.3, y, "(!) " + text, color=TEXT, va="center", fontsize=7)
        elif kind == "button":
            ax.add_patch(
                FancyBboxPatch(
                    (0.2, y - ROW * 0.36),
                    PANEL_W - 0.4,
                    ROW * 0.72,
                    boxstyle="round,pad=0,rounding_size=0.05",
                    color=BUTTON,
                )
            )
            ax.text(PANEL_W / 2, y, text, color=TEXT, va="center", ha="center", fontsize=7.5)
        elif kind in ("field", "item", "check"):
            ax.text(1.45, y, text, color=TEXT, va="center", ha="right", fontsize=7)
            ax.add_patch(
                FancyBboxPatch(
                    (1.55, y - ROW * 0.36),
                    PANEL_W - 1.75,
                    ROW * 0.72,
                    boxstyle="round,pad=0,rounding_size=0.04",
                    color=FIELD if kind != "item" else "#33475b",
                )
            )
            shown = ("[x] " if value == "on" else "[ ] ") if kind == "check" else value
            ax.text(1.65, y, shown, color=TEXT, va="center", fontsize=7)
        else:  # label / list caption
            ax.text(0.25, y, text, color="#a8c8e8", va="center", fontsize=7.5, style="italic")
        if note:
            number += 1
            ax.annotate(
                f"{number}  {note}",
                xy=(PANEL_W + 0.25, y),
                xytext=(PANEL_W + 0.45, y),
                va="center",
                fontsize=7.5,
                color=NOTE,
                arrowprops=dict(arrowstyle="-", color=NOTE, lw=0.8),
            )
    ax.text(
        0.1,
        height - ROW * 0.5,
        "View3D > Sidebar (N) > PinScope; all sub-panels expanded, default spec values",
        color="#9a9a9a",
        fontsize=6.5,
        va="center",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, facecolor="white")
    print(f"wrote {out} ({len(rows)} rows)")


if __name__ == "__main__":
    draw(HERE / "addon-panel.png")
