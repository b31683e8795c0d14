"""Registration: warp the reference onto each image before the difference (numpy + OpenCV).

A camera that sits a little off its nominal pose (shift, roll, distance: `camera.jitter_*`,
`randomize.camera_distance`) moves every pin edge by a pixel or a few. Against an unregistered unit
reference that shows as a bright outline on every pin, and the one defective pin is lost in it: the
difference measures the jitter, not the defect. An inspection system registers the image to its golden
template first; here an affine warp found by ECC (Evangelidis & Psarakis 2008, `cv2.findTransformECC`:
enhanced correlation, invariant to brightness and contrast, so a brighter line still registers) and
then the per-channel gain match of `inputs.matched_reference`.

The unit space itself is sharpened the same way (`registered_mean`): the per-view mean of jittered
reference renders is blurred by the jitter it averages over, so each reference is registered to the
plain mean and the registered ones averaged again.
"""

from __future__ import annotations

import numpy as np

# ECC settings: 60 iterations or a step below 1e-5; a 5 px Gaussian makes the correlation smooth enough
# to converge from a few pixels off (the largest jitter PinScope draws moves an edge by ~4 px at 288 px).
ITERATIONS, EPSILON, SMOOTHING = 60, 1e-5, 5


def _gray(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image.mean(axis=2, dtype=np.float32))


def affine_to(template: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """The 2x3 affine warp taking `moving` (H, W, 3) onto `template` (H, W, 3); identity if ECC fails."""
    import cv2

    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, ITERATIONS, EPSILON)
    try:
        _, warp = cv2.findTransformECC(
            _gray(template), _gray(moving), warp, cv2.MOTION_AFFINE, criteria, None, SMOOTHING
        )
    except cv2.error:
        # No convergence (a flat or very dark image): compare unregistered rather than fail the batch.
        return np.eye(2, 3, dtype=np.float32)
    return warp


def warped(moving: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """`moving` (H, W, 3) float32 resampled through `warp` (from `affine_to`): pixel x takes moving(W x)."""
    import cv2

    h, w = moving.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(np.ascontiguousarray(moving), warp, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)


def registered_references(images: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Each reference (N or 1, H, W, 3) warped onto its image (N, H, W, 3), all float32 in [0, 1]."""
    refs = np.broadcast_to(references, images.shape)
    out = np.empty(images.shape, dtype=np.float32)
    for i, (image, ref) in enumerate(zip(images, refs, strict=True)):
        out[i] = warped(ref.astype(np.float32, copy=False), affine_to(image, ref))
    return out


def image_warps(references: np.ndarray, images: np.ndarray) -> np.ndarray:
    """(N, 2, 3) warps taking each image (N, H, W, 3) onto its reference (N or 1, H, W, 3) (`affine_to`)."""
    refs = np.broadcast_to(references, images.shape)
    return np.stack([affine_to(ref, image) for image, ref in zip(images, refs, strict=True)])


def images_onto(references: np.ndarray, images: np.ndarray, warps=None) -> tuple[np.ndarray, np.ndarray]:
    """Each image (N, H, W, 3) warped onto its reference (N or 1, H, W, 3), float32 in [0, 1], and where
    the warp found image pixels (N, H, W, 1) bool: the rest of the reference's frame the camera did not see.
    `warps`: the images' `image_warps`, when they are known already."""
    import cv2

    warps = image_warps(references, images) if warps is None else warps
    h, w = images.shape[1:3]
    ones = np.ones((h, w), dtype=np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    seen = np.stack([cv2.warpAffine(ones, warp, (w, h), flags=flags, borderValue=0.0) > 0.999 for warp in warps])
    moved = np.stack([warped(image, warp) for image, warp in zip(images, warps, strict=True)])
    return moved.astype(np.float32), seen[..., None]


def box_onto_reference(box, warp: np.ndarray) -> tuple[float, float, float, float]:
    """An (x0, y0, x1, y1) pixel box of an image, in the coordinates of the reference `warp` takes it onto:
    the box around its four corners (the warp maps a reference pixel x to the image pixel warp @ (x, 1))."""
    inverse = np.linalg.inv(np.vstack([warp.astype(np.float64), [0.0, 0.0, 1.0]]))[:2]
    x0, y0, x1, y1 = box
    corners = inverse @ np.array([[x0, x1, x0, x1], [y0, y0, y1, y1], [1.0, 1.0, 1.0, 1.0]])
    return (*corners.min(axis=1), *corners.max(axis=1))


def onto(template: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Each of (N, H, W, 3) float32 images warped onto `template` (H, W, 3)."""
    warps = image_warps(template[None], images)
    return np.stack([warped(image, warp) for image, warp in zip(images, warps, strict=True)])


def registered_mean(images: np.ndarray) -> np.ndarray:
    """The mean of (N, H, W, 3) float32 images after registering each to their plain mean."""
    return onto(images.mean(axis=0), images).mean(axis=0)
