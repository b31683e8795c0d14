"""Line scale: the difference measured in units of the line's own OK variation (pure numpy + OpenCV).

A unit space is more than a mean: the Mahalanobis-Taguchi method scores a part by how far it lies from
the mean *in units of the normal parts' spread*. A model trained on one line learns how large a
defect's difference is against the OK residual of that line (noise, jitter that registration leaves,
shading that the gain match cannot follow). On a brighter line, or under another lighting, every
residual grows -- the OK parts' too -- and a model that compares absolute differences reads good
parts as retracted pins (the default model: 84 % on a brighter line, 76 % under a ring light).

So each unit space carries its **residual level**: the root mean square of each reference render's
difference to the mean of the *other* reference renders of its camera (leave one out, made exactly as
the model's input is: same alignment, same difference). The training line's level is saved with the
model; on another line (`evaluate --data`, `predict --reference DIR`) the difference is multiplied by
training level / line level before the normalisation, so a line's OK parts look to the model as OK
parts looked in training. On the training line the factor is exactly 1.
"""

from __future__ import annotations

import numpy as np

from .inputs import compute_inputs, to_float
from .register import onto

LINE_SCALES = ("residual", "none")
MIN_PER_VIEW = 2  # leave-one-out needs another render of the camera to compare against
# Above this line_distance a line is not one the model was trained on (docs/robustness.md, "Far lines").
# Measured on the default model's shift sets: another seed 0.35, a brighter or dimmer line, another
# plating or housing kind 0.6-0.7 (all read at >= 96 %); the ring light 1.2 (86 %), every shift at once
# 1.8 (72 %), the lighter housing 2.6 (57 %).
FAR_LINE = 1.0


def residual_level(images_u8: np.ndarray, views: list, align: str) -> float | None:
    """The rms leave-one-out difference of (N, H, W, 3) uint8 reference renders, over all cameras; None when
    a camera has fewer than MIN_PER_VIEW renders (no spread to measure)."""
    images_u8 = np.asarray(images_u8)
    squares, count = 0.0, 0
    for view in sorted(set(views)):
        idx = [i for i, v in enumerate(views) if v == view]
        if len(idx) < MIN_PER_VIEW:
            return None
        own = to_float(images_u8[idx])
        # registered to their mean once (as the unit reference is), so that each leave-one-out mean is
        # a subtraction instead of n registrations
        together = onto(own.mean(axis=0), own) if align.startswith("register") else own
        total = together.sum(axis=0)
        for j, i in enumerate(idx):
            others = (total - together[j]) / (len(idx) - 1)
            diff = compute_inputs(images_u8[i : i + 1], others, "diff", align=align)
            squares += float(np.square(diff, dtype=np.float64).sum())
            count += diff.size
    # six significant digits: the same references give the same level bit for bit (OpenCV's threaded
    # sums may differ in the last place), so the training line's factor is exactly 1
    return float(f"{np.sqrt(squares / count):.6g}") if count else None


def line_factor(trained_level: float | None, line_level: float | None) -> float:
    """What a line's differences are multiplied by: training's residual level over the line's (1 when either
    is unknown)."""
    if not trained_level or not line_level:
        return 1.0
    return float(trained_level / line_level)


def scaled_difference(inputs: np.ndarray, mode: str, factor) -> np.ndarray:
    """(N, C, H, W) inputs with their difference channels multiplied by `factor` (one number, or one per
    image: each image's production line), in place."""
    factor = np.asarray(factor, dtype=np.float32)
    if np.all(factor == 1.0):
        return inputs
    if factor.ndim:
        factor = factor[:, None, None, None]
    if mode == "diff":
        inputs *= factor
    elif mode == "rgb-diff":
        inputs[:, inputs.shape[1] // 2 :] *= factor
    return inputs


def applies(mode: str, reference: str, line_scale: str) -> bool:
    """Whether a preprocessing measures its difference against a unit space (and so can be line-scaled)."""
    return line_scale == "residual" and mode in ("diff", "rgb-diff") and reference in ("unit", "nearest")


def scales(pre) -> bool:
    """Whether a model's preprocessing (data.Preprocess) line-scales its differences."""
    return pre.residual_level is not None and applies(pre.input_mode, pre.reference, "residual")


def line_distance(trained_means: dict, line_means: dict, trained_level: float | None) -> float | None:
    """How far a line's OK parts lie from the training line's, in units of training's OK residual: the rms
    difference of the line's unit mean (per camera: registered and tone-matched to the training unit mean)
    to the training unit mean, over training's residual level. Tone matching takes out what a brighter,
    dimmer or differently exposed line changes, whatever alignment the model uses; what is left -- another
    housing colour, another lighting -- is where a model may meet defects it never saw. None when no
    camera is in both."""
    shared = sorted(set(trained_means) & set(line_means))
    if not shared or not trained_level:
        return None
    squares, count = 0.0, 0
    for view in shared:
        trained_u8 = np.clip(np.round(trained_means[view] * 255.0), 0, 255).astype(np.uint8)[None]
        line_mean = np.asarray(line_means[view], dtype=np.float32)
        diff = compute_inputs(trained_u8, line_mean, "diff", align="register-tones")
        squares += float(np.square(diff, dtype=np.float64).sum())
        count += diff.size
    return round(float(np.sqrt(squares / count)) / trained_level, 3)


def far_line_warning(field: str, distance: float | None) -> str | None:
    """One warning line when a line lies farther from the training line than FAR_LINE (else None)."""
    if distance is None or distance <= FAR_LINE:
        return None
    return (
        f"warning: {field}: this line's OK parts lie {distance:.1f} OK residuals from the training line's "
        f"(above {FAR_LINE:g}: a housing, lighting or part the model was not trained on); expect lower "
        "accuracy than on its own test split, and render training data that covers this line"
    )
