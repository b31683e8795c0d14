"""The torch glue on a tiny random Hugging Face ViT (transformers v5, eager attention)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from pinscope_trainer.attention import maps  # noqa: E402
from pinscope_trainer.attention.capture import capture, find_vit  # noqa: E402

HEIGHT, WIDTH, PATCH, LAYERS, HEADS = 32, 96, 8, 2, 4


def tiny_vit(labels: int = 3, layers: int = LAYERS):
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=(HEIGHT, WIDTH),
        patch_size=PATCH,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=HEADS,
        intermediate_size=64,
        num_labels=labels,
        num_channels=3,
    )
    return transformers.ViTForImageClassification(config)


def test_default_sdpa_gives_no_weights_and_capture_switches_to_eager():
    model = tiny_vit().eval()
    pixels = torch.randn(2, 3, HEIGHT, WIDTH)
    out = model(pixel_values=pixels, output_attentions=True)  # sdpa: transformers v5 records nothing
    assert not out.attentions
    cap = capture(model, pixels)
    tokens = 1 + (HEIGHT // PATCH) * (WIDTH // PATCH)
    assert model.config._attn_implementation == "eager"
    assert len(cap.attentions) == LAYERS and len(cap.gradients) == LAYERS
    assert all(a.shape == (2, HEADS, tokens, tokens) for a in cap.attentions)
    assert all(g.shape == a.shape for g, a in zip(cap.gradients, cap.attentions, strict=True))
    assert cap.grid_hw == (HEIGHT // PATCH, WIDTH // PATCH) and cap.prefix == 1
    assert np.allclose(cap.attentions[0].sum(-1), 1.0, atol=1e-5)  # softmax rows
    assert cap.logits.shape == (2, 3) and (cap.targets == cap.logits.argmax(1)).all()
    assert any(np.abs(g).sum() > 0 for g in cap.gradients)


def test_capture_matches_the_models_own_attentions_and_every_method_maps_the_grid():
    model = tiny_vit().eval()
    pixels = torch.randn(1, 3, HEIGHT, WIDTH)
    cap = capture(model, pixels, targets=[2])
    reference = model(pixel_values=pixels, output_attentions=True).attentions  # eager now
    for mine, theirs in zip(cap.attentions, reference, strict=True):
        assert np.allclose(mine, theirs.detach().numpy(), atol=1e-6)
    assert cap.targets.tolist() == [2]
    maps_found = [
        maps.cls_attention(cap.attentions[-1])[1],
        maps.rollout(cap.attentions),
        maps.gradient_relevance(cap.attentions, cap.gradients),
    ]
    for found in maps_found:
        assert maps.to_grid(found, cap.grid_hw).shape == (1, HEIGHT // PATCH, WIDTH // PATCH)
        assert np.isfinite(found).all() and (found >= 0).all()


def test_gradients_are_per_sample_and_depend_on_the_target():
    model = tiny_vit().eval()
    pixels = torch.randn(2, 3, HEIGHT, WIDTH)
    both = capture(model, pixels, targets=[0, 1])
    alone = capture(model, pixels[1:], targets=[1])
    other = capture(model, pixels[1:], targets=[0])
    assert np.allclose(both.gradients[0][1], alone.gradients[0][0], atol=1e-6)
    assert not np.allclose(alone.gradients[0], other.gradients[0])


def test_a_wrapped_vit_is_found_and_a_cnn_is_refused():
    inner = tiny_vit()

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = inner

        def forward(self, pixel_values):
            return self.backbone(pixel_values=pixel_values).logits

    cap = capture(Wrapper(), torch.randn(1, 3, HEIGHT, WIDTH), gradients=False)
    assert cap.gradients is None and len(cap.attentions) == LAYERS
    with pytest.raises(ValueError, match="model"):
        find_vit(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)))


def test_maps_land_on_the_image_patch_the_model_attends_to():
    """A one-layer ViT wired so that every head attends to the one bright patch of the image: the maps'
    peak must come back at that patch's pixels (checks the patch order and the non-square geometry)."""
    model = tiny_vit(layers=1)
    row, col, gh, gw, head_dim = 2, 9, HEIGHT // PATCH, WIDTH // PATCH, 32 // HEADS
    with torch.no_grad():
        embeddings = model.vit.embeddings
        projection = embeddings.patch_embeddings.projection
        projection.weight.zero_()
        projection.bias.zero_()
        projection.weight[0, 0] = 10.0 / PATCH**2  # feature 0 = 10 x the patch's mean red
        embeddings.cls_token.zero_()
        embeddings.position_embeddings.zero_()
        embeddings.position_embeddings[..., 1] = 1.0  # same position code everywhere: content decides
        attention = next(m for m in model.modules() if type(m).__name__ == "ViTAttention")
        for layer in (attention.q_proj, attention.k_proj):
            layer.weight.zero_()
            layer.bias.zero_()
        for head in range(HEADS):  # query: constant; key: feature 0 -> every token looks at the bright patch
            attention.q_proj.bias[head * head_dim] = 50.0
            attention.k_proj.weight[head * head_dim, 0] = 1.0
    image = torch.zeros(1, 3, HEIGHT, WIDTH)
    image[0, 0, row * PATCH : (row + 1) * PATCH, col * PATCH : (col + 1) * PATCH] = 1.0
    cap = capture(model, image)
    assert cap.attentions[0][0, :, 0, 1 + row * gw + col].min() > 0.99
    found = [maps.cls_attention(cap.attentions[-1])[1][0], maps.rollout(cap.attentions)[0]]
    for patch_map in found:
        grid = maps.to_grid(patch_map, (gh, gw))
        # shown on a render twice the input's size
        pixels = maps.patch_to_pixels(
            grid,
            PATCH,
            (2 * HEIGHT, 2 * WIDTH),
            maps.Placement.resize((2 * HEIGHT, 2 * WIDTH), (HEIGHT, WIDTH)),
            smooth=False,
        )
        ys, xs = np.nonzero(pixels >= pixels.max())
        assert (ys // (2 * PATCH) == row).all() and (xs // (2 * PATCH) == col).all()
