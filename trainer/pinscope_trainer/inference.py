"""Running a trained model: logits in batches, and the last layer's CLS attention that predict and the
ONNX export read the defective pin from. Shared by train, evaluate, distill, predict and export.

Why the CLS attention is computed here instead of captured (attention/capture.py): capture switches
the model to eager attention and records every layer; predict needs only the last layer's CLS row,
which is a few small matrix products on that layer's input (one extra output of the normal sdpa
forward), so it costs next to nothing and exports to ONNX as part of the same graph.
"""

from __future__ import annotations

from .models import forward_logits, is_vit


def predict_logits(model, inputs, batch_size: int = 128, bf16: bool = False):
    """Logits (float32, on the CPU) for a tensor of inputs, in eval mode, without gradients."""
    import torch

    was_training = model.training
    model.eval()
    outs = []
    device = next(model.parameters()).device
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(inputs), batch_size):
            batch = inputs[start : start + batch_size].to(device)
            outs.append(forward_logits(model, batch).float().cpu())
    model.train(was_training)
    return torch.cat(outs)


def logits_and_cls_attention(model, pixel_values):
    """(logits, (B, heads, patches) attention of the CLS token in the last layer) of a HF ViT.

    The last layer's attention probabilities are recomputed from its input (hidden_states[-2]):
    softmax(q_cls . k / sqrt(d)) per head, exactly what eager attention returns (dropout is off)."""
    import torch

    out = model(pixel_values=pixel_values, output_hidden_states=True)
    layer = model.vit.layers[-1]
    attention = layer.attention  # transformers >= 5: q_proj / k_proj, head_dim, scaling
    tokens = layer.layernorm_before(out.hidden_states[-2]).float()
    batch, count, _ = tokens.shape
    shape = (batch, -1, attention.num_attention_heads, attention.head_dim)
    query = torch.nn.functional.linear(tokens[:, :1], attention.q_proj.weight.float(), attention.q_proj.bias.float())
    key = torch.nn.functional.linear(tokens, attention.k_proj.weight.float(), attention.k_proj.bias.float())
    query, key = query.view(shape).transpose(1, 2), key.view(shape).transpose(1, 2)  # (B, heads, T, d)
    scores = (query @ key.transpose(-1, -2)) * attention.scaling
    probabilities = scores.softmax(dim=-1)[:, :, 0, 1:]  # the CLS row, over the patch tokens
    return out.logits.float(), probabilities


class TorchPredictor:
    """A checkpoint's model on the CPU (or a GPU): batch of normalised inputs -> (logits, CLS attention).

    CLS attention is None for models without one (the ResNet baseline)."""

    def __init__(self, model, bf16: bool = False):
        self.model = model.eval()
        self.bf16 = bf16
        self.vit = is_vit(model)

    def __call__(self, inputs):
        import torch

        device = next(self.model.parameters()).device
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.bf16):
            x = inputs.to(device)
            if not self.vit:
                return forward_logits(self.model, x).float().cpu().numpy(), None
            logits, attention = logits_and_cls_attention(self.model, x)
        return logits.cpu().numpy(), attention.float().cpu().numpy()


class OnnxPredictor:
    """The same, from model.onnx through onnxruntime (fp32)."""

    def __init__(self, path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # warnings of the graph optimiser are not the user's business
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, inputs):
        values = self.session.run(None, {"pixel_values": inputs.numpy()})
        found = dict(zip(self.outputs, values, strict=True))
        return found["logits"], found.get("cls_attention")
