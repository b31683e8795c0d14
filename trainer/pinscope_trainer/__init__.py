"""PinScope trainer: ViT/CNN training, SOART3 features, evaluation, attention maps and predict.

Offline by construction: importing the package sets the Hugging Face libraries' offline switches
(unless the environment already chose), so no code path here can download a model, a metric or a
dataset. Heavy dependencies (torch, transformers, OpenCV, matplotlib, onnxruntime) are imported
inside the functions that use them: the CLI starts, answers --help and refuses bad options in a
fraction of a second, and the pure modules (features/, attention/maps.py, scores.py) load without them.
"""

import os

for _switch in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_switch, "1")

__version__ = "0.1.0"
