"""Label-preserving augmentation on model-ready batches (torch): photometric jitter, noise, slight blur,
and the defect's contrast against its defect-free twin.

No flips, crops or shifts: they would change which pin is defective (and where it is). Every random
number comes from the generator passed in, which the loop seeds from (seed, epoch), so a resumed run
sees exactly the batches an uninterrupted one would.

Why the defect's contrast: how much a defect changes the image depends on what lies behind the pin. A
retracted pin on a dark moulding uncovers dark housing under a bright pin; on a lighter housing the same
retract differs from its twin by half as much (mean |difference| in the defect box 0.09 against 0.18),
while the good parts' residual against the unit space grows (0.032 against 0.019 on the pins), shadows
and render noise show where a dark housing hid them. A model that saw every defect at one contrast reads
the weaker ones as good. Each sample's input minus its twin's is the defect's own difference (the twin
shares camera, lights and every draw, and is compared against the same reference with the same warp),
so scaling that part by a factor in [--aug-defect-contrast, 1] and the twin's part -- the line's OK
residual -- by one in [1, --aug-residual] draws the same defect at a lower signal-to-residual ratio.

Why misregistration: `register-image` undoes the camera's shift, roll and distance with one affine warp,
but a camera that moves also moves the pin tops against the moulding (they stand above it: parallax), and
what one warp cannot undo is left in the difference as edges along every pin -- the pattern a retract or
a tilt leaves along one. `misregistered` adds, per sample and step, the difference a registration a
fraction of a pixel off would leave (the sample's unit mean moved by a small random shift and roll, minus
itself): the OK residual of a line whose camera moves more than the training line's did. Measured over
three seeds (docs/robustness.md#misregistration-drawn-in-training-tenth-session), 0.25 px gained most under
another light and every shift at once, little under twice the jitter: edges that change for any reason.
The default recipe (`make train`) uses 0.25.
"""

from __future__ import annotations

from dataclasses import dataclass

from .options import Options, option


@dataclass(frozen=True)
class AugmentOptions(Options):
    gain: float = option(0.1, "contrast jitter: a per-sample factor 1 +/- this", flag="--aug-gain", at_least=0)
    bias: float = option(0.1, "brightness offset +/- this (normalised units)", flag="--aug-bias", at_least=0)
    noise: float = option(0.05, "std of added Gaussian noise (normalised units)", flag="--aug-noise", at_least=0)
    blur_prob: float = option(0.2, "chance of a slight 3x3 blur per sample", flag="--aug-blur", at_least=0, at_most=1)

    @classmethod
    def off(cls) -> AugmentOptions:
        """No augmentation at all (--no-augment)."""
        return cls(gain=0.0, bias=0.0, noise=0.0, blur_prob=0.0)

    @property
    def enabled(self) -> bool:
        return any((self.gain, self.bias, self.noise, self.blur_prob))


def toward_twin(x, twin, generator, contrast: float, residual: float):
    """x (B, C, H, W) with its defect's part (x - twin) scaled by a per-sample factor in [contrast, 1]
    and the twin's part by one in [1, residual]; twin: the same samples' twin inputs, normalised alike
    (the scaling is linear, so it holds in normalised units as in pixels, up to the channel means: ~0
    for a difference). contrast 1 and residual 1 leave x as it is and draw nothing."""
    import torch

    if contrast >= 1.0 and residual <= 1.0:
        return x
    b, dev = len(x), x.device
    defect = (1.0 - torch.rand(b, 1, 1, 1, generator=generator) * (1.0 - contrast)).to(dev)
    ok = (1.0 + torch.rand(b, 1, 1, 1, generator=generator) * (residual - 1.0)).to(dev)
    return twin * ok + (x - twin) * defect


def augment_batch(x, generator, opts: AugmentOptions):
    """Return an augmented copy of x (B, C, H, W) float32."""
    import torch
    import torch.nn.functional as F

    if not opts.enabled:
        return x
    b, c = x.shape[:2]
    dev = x.device  # random numbers come from the CPU generator (same stream on CPU and GPU)
    gain = (1.0 + (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * opts.gain).to(dev)
    bias = ((torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * opts.bias).to(dev)
    out = x * gain + bias
    if opts.noise:
        out = out + (torch.randn(out.shape, generator=generator) * opts.noise).to(dev)
    if opts.blur_prob:
        which = (torch.rand(b, generator=generator) < opts.blur_prob).to(dev)
        if which.any():
            k = torch.tensor([1.0, 2.0, 1.0])
            kernel = (k[:, None] * k[None, :] / 16.0).expand(c, 1, 3, 3).contiguous().to(dev)
            blurred = F.conv2d(F.pad(out[which], (1, 1, 1, 1), mode="replicate"), kernel, groups=c)
            out[which] = blurred
    return out


def misregistered(x, units, scale, generator, pixels: float):
    """x (B, C, H, W) difference inputs plus what a registration off by up to `pixels` would add: each
    sample's unit mean (units: B, 3, H, W in [0, 1], the reference its difference was taken against)
    moved by a random shift of up to `pixels` each way and a roll that moves the frame's ends by up to
    `pixels`, minus itself; scale (B, C): what a difference channel is multiplied by on its way into x
    (the line factor over the channel's std), 0 for the channels that are not a difference. pixels 0
    leaves x as it is and draws nothing."""
    import torch
    import torch.nn.functional as F

    if pixels <= 0:
        return x
    b, dev = len(x), x.device
    h, w = units.shape[-2:]
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * pixels
    roll = (torch.rand(b, generator=generator) * 2 - 1) * pixels / (w / 2)  # radians: the ends move <= pixels
    cos, sin = torch.cos(roll), torch.sin(roll)
    # affine_grid's frame is [-1, 1] on both axes: a roll in pixels needs the aspect ratio on its sines
    theta = torch.stack(
        [
            torch.stack([cos, -sin * h / w, shift[:, 0] * 2 / w], dim=1),
            torch.stack([sin * w / h, cos, shift[:, 1] * 2 / h], dim=1),
        ],
        dim=1,
    ).to(dev, units.dtype)
    grid = F.affine_grid(theta, list(units.shape), align_corners=False)
    moved = F.grid_sample(units, grid, mode="bilinear", padding_mode="border", align_corners=False)
    residual = (moved - units).repeat(1, x.shape[1] // units.shape[1], 1, 1)
    return x + residual * scale[:, :, None, None]
