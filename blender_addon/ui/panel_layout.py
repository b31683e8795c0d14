"""Which spec sections each sidebar sub-panel shows, and what a section draws. No bpy.

panels.py draws from this table; docs/img/panel_diagram.py draws the documentation's picture of the
panel from it too, so the picture cannot drift from the add-on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from . import spec_props

# Readable labels for the components of short integer lists.
COMPONENT_LABELS = {"pin": ("Column", "Row")}


@dataclass(frozen=True)
class SubPanel:
    key: str
    label: str
    sections: tuple  # spec sections (GenerationSpec's nested fields) drawn in this sub-panel
    open: bool = False  # expanded by default


SUB_PANELS = (
    SubPanel("grid", "Grid & Shapes", ("grid", "pins"), open=True),
    SubPanel("housing", "Housing", ("housing",)),
    SubPanel("defects", "Defects", ("defects", "tolerance")),
    SubPanel("camera", "Camera & Lights", ("camera", "lights")),
    SubPanel("randomize", "Randomisation", ("randomize",)),
    SubPanel("render", "Render", ("render",)),
    SubPanel("dataset", "Dataset", ("dataset",), open=True),
)

# The parent panel's rows, top to bottom (operator labels; used by the diagram and the docs).
MAIN_ROWS = (
    ("(red) spec.grid.rows: must be ...", "only when the spec breaks the contract: its one-line error"),
    ("Load | Save | Defaults", "spec JSON in and out; Defaults = a fresh spec"),
    ("Build / Update Grid", "pins, housing, cameras, lights from the spec (undoable)"),
    ("Split | Sample", "which sample to preview"),
    ("Preview Defect | Reset", "apply that sample's defect to the viewport; Reset = all OK"),
    ("label: retract 21D05 (centre)", "what is previewed: class, QEU code, view"),
    ("Render Preview", "sample + twin into 'PinScope Preview' / 'PinScope Twin' images"),
)
DATASET_ROWS = (
    ("Name, Seed", "spec name and seed"),
    ("Output folder, Workers", "where the dataset goes; background processes"),
    ("Render Dataset / progress + Cancel", "runs in background; Cancel stops, rerun resumes"),
    ("Open Output Folder", "the dataset folder in the file browser"),
)


def section_types(root) -> dict[str, type]:
    """Section name -> record class for every nested section of the spec."""
    return {f.name: f.metadata["cls"] for f in fields(root) if f.metadata["kind"] == "nested"}


def unclaimed_sections(root) -> tuple:
    """Sections added to the spec after SUB_PANELS was written: drawn by a generic sub-panel."""
    claimed = {name for panel in SUB_PANELS for name in panel.sections}
    return tuple(name for name in section_types(root) if name not in claimed)


def drawn_plans(cls, skip=()) -> list[spec_props.PropPlan]:
    """The plain properties a record's section draws, in field order (lists are drawn by their panel)."""
    return [
        plan
        for plan in spec_props.plan_record(cls)
        if plan.field not in skip
        and plan.field not in spec_props.HIDDEN_FIELDS
        and plan.role != "index"
        and plan.factory not in ("PointerProperty", "CollectionProperty")
    ]
