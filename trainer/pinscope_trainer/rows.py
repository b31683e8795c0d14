"""The contract rows of images that lie in a PinScope split folder: their camera (view), their pins'
boxes and their true label. predict uses them where it finds them (an image of a rendered dataset is
predicted with its own view and scored against its label) and works without them everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pinscope_schema import MANIFEST, METADATA, ContractError, read_manifest, read_rows


def is_split_folder(folder: Path) -> bool:
    return (folder / METADATA).is_file() and (folder.parent / MANIFEST).is_file()


def split_rows(folder: Path) -> list:
    """The rows of a split folder in index order, or [] when it is not one (or its rows do not read)."""
    if not is_split_folder(folder):
        return []
    try:
        return sorted(read_rows(folder / METADATA), key=lambda r: r.index)
    except ContractError:
        return []


def split_images(folder: Path) -> list[Path]:
    """The images of a split folder's rows (not its twins or masks), in index order."""
    return [folder / row.file_name for row in split_rows(folder)]


@dataclass(frozen=True)
class Found:
    """An image's row, its dataset's defect-free class names and pin-grid columns (pin [i % cols, i // cols])."""

    row: object = None
    ok_labels: frozenset = frozenset()
    grid_cols: int = 0


class RowIndex:
    """Finds the row of an image file in its split folder (split/images/x.png), reading each split once."""

    def __init__(self):
        self.rows: dict[Path, dict] = {}
        self.datasets: dict[Path, Found] = {}

    def split_of(self, image: Path) -> Path | None:
        for parent in list(Path(image).resolve().parents)[:3]:
            if is_split_folder(parent):
                return parent
        return None

    def find(self, image: Path) -> Found:
        """What the dataset knows about an image; Found() for an image outside a dataset."""
        split = self.split_of(image)
        if split is None:
            return Found()
        if split not in self.rows:
            self.rows[split] = {(split / r.file_name).resolve(): r for r in split_rows(split)}
            try:
                spec = read_manifest(split.parent).spec
                ok = frozenset(c.name for c in spec.defects.classes if c.mode == "ok")
                self.datasets[split] = Found(None, ok, spec.grid.cols)
            except ContractError:
                self.datasets[split] = Found()
        dataset = self.datasets[split]
        return Found(self.rows[split].get(Path(image).resolve()), dataset.ok_labels, dataset.grid_cols)
