"""Exports of a PinScope dataset into the layouts other tools read (standard library only).

    python -m pinscope_schema.export --format coco|yolo|mvtec|anomalib-csv DATA OUT

See docs/exports.md for each layout, what it holds and which tool loads it.
"""

from .formats import FORMATS
from .runner import ExportOptions, plan_export, run_export

__all__ = ["FORMATS", "ExportOptions", "plan_export", "run_export"]
