"""What each sample shows: label, defective pins, defect amounts, OK/NG, view and jitter.

Everything derives from (spec seed, split, index) through the contract's `derive_seed` / `rng_for`, so
a sample is the same whatever order, worker or shard renders it. The shot (view, jitter, render seed)
comes from the first index of the sample's twin group (`dataset.twin_share` consecutive samples), the
defect (pin, amounts) from the sample's own index. Classes are balanced per split by
stratified allocation (largest remainder of the quotas) followed by a seeded permutation of the split;
with twin groups (K > 1) the classes are dealt across groups so that a group holds no class twice
while no class has more samples than there are groups (see `_class_sequence`).

Defective pins: the first pin and its amounts are drawn exactly as before several pins existed, then
(only when the class's count range is not 1) the count and the other, distinct, pins: a spec without
the newer options draws what it always drew.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

from ..contract import schema
from . import randomize, tolerance
from .defects import AMOUNTS, PinDefect, draw_defect, rendered_shape
from .layout import pin_cells, pin_index

SPLIT_NAMES = ("train", "validation", "test")


# The SamplePlan fields of a sample without a defect (reference renders and twins).
NO_DEFECT = dict(
    mode="ok",
    pin=None,
    pin_index=-1,
    shape="",
    dx=0.0,
    dy=0.0,
    dz=0.0,
    tilt_x=0.0,
    tilt_y=0.0,
    twist=0.0,
    bend=0.0,
    bend_dir=0.0,
    tip=0.0,
    pins=(),
    pin_ok=(),
    ng=False,
    tolerance_margin=None,
)


@dataclass
class SamplePlan:
    """One render to make. `pin` is (col, row) or None for an OK sample; `pins` holds every defective pin
    (core.defects.PinDefect; the single-pin fields repeat the first), `pin_ok` their (ng, margin)."""

    split: str
    index: int
    label: str
    mode: str
    pin: tuple | None
    pin_index: int
    shape: str
    dx: float
    dy: float
    dz: float
    tilt_x: float
    tilt_y: float
    view: str
    seed: int
    jitter: dict = field(default_factory=dict)
    conditions: dict = field(default_factory=dict)  # drawn choices: plating, lighting preset (core.randomize)
    line: int = 0  # the production line (spec.dataset.lines): its per-line factors and its unit space
    part: int | None = None  # with dataset.every_view: the part this camera's image shows
    qeu_code: str = "OK"
    magnitude: float = 0.0
    twist: float = 0.0
    bend: float = 0.0
    bend_dir: float = 0.0
    tip: float = 0.0
    pins: tuple = ()
    pin_ok: tuple = ()
    ng: bool = False
    tolerance_margin: float | None = None

    @property
    def is_defective(self) -> bool:
        return self.mode != "ok"

    def defective_pins(self) -> list:
        """Every defective pin; a plan made with the single-pin fields only (tests, tools) has that one pin."""
        if self.pins:
            return list(self.pins)
        if self.pin is None:
            return []
        amounts = {name: getattr(self, name) for name in AMOUNTS}
        return [PinDefect(self.pin[0], self.pin[1], self.mode, self.shape, **amounts, magnitude=self.magnitude)]

    @property
    def render_seed(self) -> int:
        """Cycles seed shared by the sample and its twin: their noise differs only where the defect reaches."""
        return self.seed % (2**31 - 1)


def allocate(quotas, total: int) -> list:
    """Split `total` samples over classes in proportion to `quotas` (largest remainder, ties by order)."""
    weight = sum(quotas)
    exact = [q * total / weight for q in quotas]
    counts = [int(x) for x in exact]
    order = sorted(range(len(quotas)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


@functools.lru_cache(maxsize=16)
def _class_sequence(seed: int, split: str, total: int, quotas: tuple, share: int = 1) -> bytes:
    """Class id of every sample of the split, in index order.

    With twin groups (share K > 1) a plain shuffle would put two OK samples into one group now and then,
    and an OK sample of a group *is* the group's twin: the split would hold the same image twice
    (~10 % of a 4-class split at K = 4). So the classes are dealt round-robin over the groups — each
    group gets distinct classes while every class has at most as many samples as there are groups (at
    K = 4 with 4 balanced classes: one of each per group, i.e. the group is its shot seen OK and with
    each defect) — and then groups and the samples inside each group are shuffled.
    """
    counts = allocate(quotas, total)
    rng = schema.rng_for(seed, split, "classes")
    if share <= 1:
        sequence = bytearray()
        for class_id, n in enumerate(counts):
            sequence.extend([class_id] * n)
        rng.shuffle(sequence)
        return bytes(sequence)
    sizes = [min(share, total - start) for start in range(0, total, share)]
    groups: list[list[int]] = [[] for _ in sizes]
    turn = 0
    for class_id, n in enumerate(counts):
        for _ in range(n):
            while len(groups[turn]) == sizes[turn]:  # skip the short last group once it is full
                turn = (turn + 1) % len(groups)
            groups[turn].append(class_id)
            turn = (turn + 1) % len(groups)
    full = [g for g, size in zip(groups, sizes, strict=True) if size == share]
    rng.shuffle(full)  # the short last group (if any) stays last: its size is fixed by its position
    sequence = bytearray()
    for group in full + groups[len(full) :]:
        rng.shuffle(group)
        sequence.extend(group)
    return bytes(sequence)


def group_size(spec) -> int:
    """Samples per twin group (`dataset.twin_share`, at least 1): they share one shot and one twin."""
    return max(1, int(spec.dataset.twin_share))


# With dataset.every_view a block of twin_share parts is seen by every camera: the block's samples are its
# cameras in turn, each camera's twin_share parts consecutive (index = block * K * V + camera * K + part),
# so a twin group is still twin_share consecutive samples of one camera and one shot -- rendering, twin
# sharing and shards stay as they are -- while the shot's draws come from the block and each part's defect
# from its first camera's sample. Without it a block is one twin group and a part one sample.
def cameras_per_part(spec) -> int:
    """Images of each part: every camera's with dataset.every_view, else one (its camera drawn per shot)."""
    return len(spec.camera.views) if spec.dataset.every_view else 1


def block_size(spec) -> int:
    """Consecutive samples that share one shot: twin_share parts times the cameras that see each."""
    return group_size(spec) * cameras_per_part(spec)


def part_of(spec, index: int) -> int:
    """The part sample `index` shows, numbered within its split (the index itself without every_view)."""
    share = group_size(spec)
    return (index // block_size(spec)) * share + index % share


def class_of(spec, split: str, index: int) -> int:
    total = spec.dataset.split_sizes()[split]
    if not 0 <= index < total:
        raise IndexError(f"{split} index {index} outside 0..{total - 1}")
    quotas = tuple(c.quota for c in spec.defects.classes)
    parts = total // cameras_per_part(spec)
    return _class_sequence(spec.seed, split, parts, quotas, group_size(spec))[part_of(spec, index)]


def draw_jitter(spec, rng) -> dict:
    """Per-shot nuisance: camera shift/roll (METHOD.md §1), light energies, pin colour."""
    cam, lights, pins = spec.camera, spec.lights, spec.pins
    jitter = {
        "cam_dx": rng.uniform(-cam.jitter_x, cam.jitter_x),
        "cam_dy": rng.uniform(-cam.jitter_y, cam.jitter_y),
        "cam_roll": rng.uniform(-cam.jitter_rot_z, cam.jitter_rot_z),
        "light_a": lights.energy + rng.uniform(0.0, lights.energy_jitter),
        "light_b": lights.energy + rng.uniform(0.0, lights.energy_jitter),
        "color_r": rng.uniform(-pins.color_jitter, pins.color_jitter),
        "color_g": rng.uniform(-pins.color_jitter, pins.color_jitter),
        "color_b": rng.uniform(-pins.color_jitter, pins.color_jitter),
    }
    # Draws added after the seed's come last, so the seed's values (and renders) stay as they were.
    if lights.preset != "seed":
        del jitter["light_a"], jitter["light_b"]
        jitter["light_level"] = lights.energy + rng.uniform(0.0, lights.energy_jitter)
    return jitter


def draw_shot(spec, rng, line: int = 0) -> tuple:
    """(jitter, conditions) of one shot on production line `line`: the seed's nuisance draws, then the
    spec's randomisation (its per-line factors as the line drew them)."""
    jitter = draw_jitter(spec, rng)
    conditions = randomize.draw(spec, rng, jitter, line)
    return jitter, conditions


def line_of(spec, index: int) -> int:
    """The production line of sample `index` of any split: shots (twin groups) go to the lines in turn."""
    return (index // block_size(spec)) % spec.dataset.lines


def reference_line(spec, index: int) -> int:
    """The line of reference render `index`: renders go to the lines in turn, then to the cameras."""
    return index % spec.dataset.lines


def shot_index(spec, index: int) -> int:
    """First sample index of the twin group `index` belongs to (the group shares one shot and one twin)."""
    return index - index % group_size(spec)


def plan_sample(spec, split: str, index: int) -> SamplePlan:
    """The deterministic plan of sample `index` of `split`."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {split!r}")
    cls = spec.defects.classes[class_of(spec, split, index)]
    # The shot (view, camera/light jitter, colour) belongs to the sample's block: `dataset.twin_share`
    # consecutive samples share it, and with it one defect-free twin (and its render seed); with
    # every_view the block's cameras share it too, each camera taking its turn instead of a drawn one.
    first, block = shot_index(spec, index), index - index % block_size(spec)
    shot = schema.rng_for(spec.seed, split, block, "shot")
    views = spec.camera.views
    view = views[shot.randrange(len(views))]
    if spec.dataset.every_view:
        view = views[(index - block) // group_size(spec)]
    line = line_of(spec, index)
    jitter, conditions = draw_shot(spec, shot, line)
    rng = schema.rng_for(spec.seed, split, block + index % group_size(spec), "defect")
    pins = [] if cls.mode == "ok" else draw_pins(spec, cls, rng)
    lead = pins[0] if pins else None
    per_pin, ng, margin = tolerance.judge(spec, pins)
    single = dict.fromkeys(AMOUNTS, 0.0)
    if lead is not None:
        single = lead.amounts()
    return SamplePlan(
        split=split,
        index=index,
        label=cls.name,
        mode=cls.mode,
        pin=None if lead is None else lead.pin,
        pin_index=-1 if lead is None else pin_index(spec, *lead.pin),
        shape="" if lead is None else lead.shape,
        view=view,
        part=part_of(spec, index) if spec.dataset.every_view else None,
        seed=schema.derive_seed(spec.seed, split, first),
        jitter=jitter,
        conditions=conditions,
        line=line,
        qeu_code="OK" if lead is None else lead.qeu_code,
        magnitude=0.0 if lead is None else lead.magnitude,
        pins=tuple(pins),
        pin_ok=tuple(per_pin),
        ng=ng,
        tolerance_margin=margin,
        **single,
    )


def draw_pins(spec, cls, rng) -> list:
    """The defective pins of a sample of class `cls`: the first as the seed drew it (fixed by `defects.pin`
    or uniform), then -- for a count range other than 1 -- the count and the others, distinct, uniform."""
    if spec.defects.pin is not None:
        first = tuple(spec.defects.pin)
    else:
        first = (rng.randrange(spec.grid.cols), rng.randrange(spec.grid.rows))
    pins = [draw_pin(spec, cls, rng, first)]
    low, high = cls.count_low, cls.count_high
    count = low if low == high else rng.randint(low, high)
    if count > 1:
        others = [cell for cell in pin_cells(spec) if cell != first]
        pins += [draw_pin(spec, cls, rng, cell) for cell in rng.sample(others, count - 1)]
    return pins


def draw_pin(spec, cls, rng, cell) -> PinDefect:
    """One pin's defect; with `near_tolerance` that share of pins is drawn within NEAR_BAND of the magnitude
    where the tolerance is crossed (the class's range otherwise, and when nothing crosses it)."""
    shape = rendered_shape(spec, cell[0], cell[1], cls.mode)
    magnitude = None
    if cls.near_tolerance > 0 and rng.random() < cls.near_tolerance:
        edge = tolerance.boundary(spec, PinDefect(cell[0], cell[1], cls.mode, shape))
        if edge is not None:
            near = rng.uniform(edge * (1 - tolerance.NEAR_BAND), edge * (1 + tolerance.NEAR_BAND))
            magnitude = min(tolerance.magnitude_cap(spec, cls.mode), near)
    amounts = draw_defect(cls, rng, magnitude)
    return PinDefect(cell[0], cell[1], cls.mode, shape, **amounts)


def plan_reference(spec, index: int) -> SamplePlan:
    """An OK render of the unit space: normal variation only; views taken in turn so each is covered."""
    rng = schema.rng_for(spec.seed, "reference", index)
    views = spec.camera.views
    ok_name = next((c.name for c in spec.defects.classes if c.mode == "ok"), "ok")
    line = reference_line(spec, index)
    jitter, conditions = draw_shot(spec, rng, line)
    return SamplePlan(
        split="reference",
        index=index,
        label=ok_name,
        **NO_DEFECT,
        view=views[(index // spec.dataset.lines) % len(views)],
        seed=schema.derive_seed(spec.seed, "reference", index),
        jitter=jitter,
        conditions=conditions,
        line=line,
    )


def ok_plan_like(plan: SamplePlan) -> SamplePlan:
    """The defect-free twin of `plan`: same view, jitter and render seed, no defect."""
    return replace(plan, **NO_DEFECT, jitter=dict(plan.jitter), conditions=dict(plan.conditions))
