"""PinScope dataset contract: the generation spec, dataset records, validation, reader and writer.

Standard library only, so Blender's Python, the trainer and any other tool can import it.
"""

__version__ = "0.1.0"

from .atomic import atomic_dir, atomic_file, atomic_write, replace_dir, write_json_atomic  # noqa: E402
from .fields import ContractError  # noqa: E402
from .io import (  # noqa: E402
    MANIFEST,
    METADATA,
    REFERENCE,
    DatasetWriter,
    file_digest,
    read_manifest,
    read_rows,
    scan_rows,
    temp_path_for,
)
from .records import Manifest, PinRecord, ReferenceRow, SampleRow  # noqa: E402
from .seeds import derive_seed, rng_for  # noqa: E402
from .spec import (  # noqa: E402
    DEFECT_MODES,
    HOUSING_KINDS,
    LIGHT_PRESETS,
    PATTERNS,
    PLATINGS,
    PROJECTIONS,
    QEU_LETTERS,
    SCHEMA_VERSION,
    SHAPES,
    SPLITS,
    CameraSpec,
    DatasetSpec,
    DefectClass,
    DefectSpec,
    GenerationSpec,
    GridSpec,
    HousingSpec,
    LightSpec,
    PinSpec,
    RandomizeSpec,
    RenderSpec,
    ToleranceSpec,
    load_spec,
)
from .validate import check_dataset, validate_dataset  # noqa: E402

__all__ = [
    "atomic_dir",
    "atomic_file",
    "atomic_write",
    "replace_dir",
    "write_json_atomic",
    "ContractError",
    "MANIFEST",
    "METADATA",
    "REFERENCE",
    "DatasetWriter",
    "file_digest",
    "read_manifest",
    "read_rows",
    "scan_rows",
    "temp_path_for",
    "Manifest",
    "ReferenceRow",
    "SampleRow",
    "PinRecord",
    "derive_seed",
    "rng_for",
    "DEFECT_MODES",
    "HOUSING_KINDS",
    "LIGHT_PRESETS",
    "PATTERNS",
    "PLATINGS",
    "PROJECTIONS",
    "QEU_LETTERS",
    "SCHEMA_VERSION",
    "SHAPES",
    "SPLITS",
    "CameraSpec",
    "DatasetSpec",
    "DefectClass",
    "DefectSpec",
    "GenerationSpec",
    "GridSpec",
    "HousingSpec",
    "LightSpec",
    "PinSpec",
    "RandomizeSpec",
    "RenderSpec",
    "ToleranceSpec",
    "load_spec",
    "check_dataset",
    "validate_dataset",
]
