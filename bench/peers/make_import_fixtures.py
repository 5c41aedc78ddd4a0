"""Makes the PyTorch fixtures of redblue's state_dict import test (tests/fixtures/import/).

A tiny CNN with every layer of the vocabulary (input normalisation, Conv2d with stride and
padding, ReLU, MaxPool2d, Flatten, Linear, Dropout) and a one-hidden-layer MLP, both on
12x12 inputs, built with a fixed seed; each model's state_dict saved with
safetensors.torch.save_file, its redblue architecture as JSON, and 8 inputs with the logits
PyTorch computes for them in eval mode (float32). A few kilobytes in all.

The same two models are exported to ONNX with torch.onnx.export's default exporter (torch.export
based, `dynamo=True`, the default since torch 2.9) from [N, 1, 12, 12] inputs with a symbolic
batch dimension: tiny_cnn.onnx (its normalisation inside the graph as Sub/Div) and
tiny_mlp.onnx. Besides them: tiny_cnn.ts.onnx, the CNN through the older TorchScript exporter
(`dynamo=False`: Constant nodes, Flatten); tiny_flat_mlp.onnx, the MLP's weights on flat
[N, 144] inputs with its first layer written `x @ W.t() + b` (MatMul + Add); and
tiny_sigmoid.onnx, the MLP with a sigmoid in place of its ReLU, which redblue must refuse;
and mnist_cnn.onnx, a small untrained CNN on [N, 1, 28, 28] inputs for the CLI test to
evaluate and attack on its MNIST-shaped data.
All ONNX files give the logits in the .io files (tiny_flat_mlp's and the sigmoid's are
tiny_mlp's inputs; the sigmoid's logits are not recorded).

Run from the repository root with a Python that has torch, safetensors, onnx and onnxscript
(bench/pytorch/.venv after bench/pytorch/setup.sh and `pip install safetensors onnx onnxscript`):
    python bench/peers/make_import_fixtures.py
Never run by CI: the committed files are what the test reads.
"""
import json
import os

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join("tests", "fixtures", "import")
MEAN, STD = 0.1307, 0.3081


class TinyCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(8 * 3 * 3, 16)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = (x.view(-1, 1, 12, 12) - MEAN) / STD
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x))
        return self.fc2(self.drop(F.relu(self.fc1(x.flatten(1)))))


class TinyMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(144, 20)
        self.fc2 = nn.Linear(20, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class FlatMlp(nn.Module):
    """TinyMlp's weights on flat inputs, its first layer as a MatMul and an Add."""

    def __init__(self, mlp):
        super().__init__()
        self.fc1, self.fc2 = mlp.fc1, mlp.fc2

    def forward(self, x):
        return self.fc2(F.relu(x @ self.fc1.weight.t() + self.fc1.bias))


class SigmoidMlp(nn.Module):
    """TinyMlp with a sigmoid: an operator redblue does not import."""

    def __init__(self, mlp):
        super().__init__()
        self.fc1, self.fc2 = mlp.fc1, mlp.fc2

    def forward(self, x):
        return self.fc2(torch.sigmoid(self.fc1(x.flatten(1))))


class MnistCnn(nn.Module):
    """A small CNN on 28x28 images, MNIST's normalisation inside."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(8 * 7 * 7, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1((x - MEAN) / STD)), 2)
        return self.fc2(F.relu(self.fc1(F.relu(self.conv2(x)).flatten(1))))


def export(model, x, name, dynamo=True):
    """Exports `model` on inputs like `x` (batch dimension symbolic) to OUT/name, less the
    exporter's stack traces (they hold this machine's paths and line numbers)."""
    path = os.path.join(OUT, name)
    torch.onnx.export(model, (x,), path, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}}, dynamo=dynamo, external_data=False)
    m = onnx.load(path)
    for node in m.graph.node:
        keep = [p for p in node.metadata_props if "stack_trace" not in p.key]
        del node.metadata_props[:]
        node.metadata_props.extend(keep)
    onnx.save(m, path)


CNN_ARCH = {
    "version": 2,
    "input": [1, 12, 12],
    "layers": [
        {"type": "normalize", "mean": [MEAN], "std": [STD]},
        {"type": "conv2d", "name": "conv1", "out_channels": 4, "kernel": 3, "stride": 1, "padding": 1},
        {"type": "relu"},
        {"type": "max_pool2d", "kernel": 2, "stride": 2},
        {"type": "conv2d", "name": "conv2", "out_channels": 8, "kernel": 3, "stride": 2, "padding": 1},
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "linear", "name": "fc1", "out_features": 16},
        {"type": "relu"},
        {"type": "dropout", "p": 0.3},
        {"type": "linear", "name": "fc2", "out_features": 10},
    ],
}
MLP_ARCH = {
    "version": 2,
    "input": [1, 12, 12],
    "layers": [
        {"type": "flatten"},
        {"type": "linear", "name": "fc1", "out_features": 20},
        {"type": "relu"},
        {"type": "linear", "name": "fc2", "out_features": 10},
    ],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    x = torch.rand(8, 144)
    for name, model, arch in [("tiny_cnn", TinyCnn(), CNN_ARCH), ("tiny_mlp", TinyMlp(), MLP_ARCH)]:
        model.eval()
        with torch.no_grad():
            logits = model(x)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(OUT, f"{name}.state.safetensors"))
        save_file({"inputs": x.contiguous(), "logits": logits.contiguous()}, os.path.join(OUT, f"{name}.io.safetensors"),
                  metadata={"torch": torch.__version__})
        with open(os.path.join(OUT, f"{name}.arch.json"), "w") as f:
            json.dump(arch, f, indent=1)
            f.write("\n")
        print(name, "logits[0]", [round(v, 4) for v in logits[0].tolist()])
        export(model, x.view(8, 1, 12, 12), f"{name}.onnx")
        if name == "tiny_cnn":
            export(model, x.view(8, 1, 12, 12), "tiny_cnn.ts.onnx", dynamo=False)
        else:
            flat = FlatMlp(model)
            with torch.no_grad():
                assert torch.allclose(flat(x), logits, atol=1e-6)
            export(flat, x, "tiny_flat_mlp.onnx")
            export(SigmoidMlp(model), x.view(8, 1, 12, 12), "tiny_sigmoid.onnx")
    torch.manual_seed(1)
    mnist = MnistCnn().eval()
    export(mnist, torch.rand(2, 1, 28, 28), "mnist_cnn.onnx")


if __name__ == "__main__":
    main()
