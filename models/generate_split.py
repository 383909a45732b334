#!/usr/bin/env python3
"""Generate the split-computing workloads, as ONNX (docs/partition.md).

`split_cnn.onnx` takes `image` [batch, 3, 128, 128] float32 (196,608 bytes
a sample) and gives `probabilities` [batch, 10]. Its early layers make
tensors larger than the image, a 1x1 bottleneck then makes one a sixth of
it, and most of the compute comes after, as in the networks where
Neurosurgeon found a middle split best (sizes are float32 per sample):

    Conv 3->16 3x3, ReLU, MaxPool 2                 -> p1 [16, 64, 64]  256 KB
    Conv 16->32 3x3, ReLU, MaxPool 2                -> p2 [32, 32, 32]  128 KB
    Conv 32->64 3x3, ReLU, Conv 64->64 3x3, ReLU,
      MaxPool 2                                     -> p3 [64, 16, 16]   64 KB
    Conv 64->32 1x1, ReLU (the bottleneck)          -> r4 [32, 16, 16]   32 KB
    Conv 32->128 3x3, ReLU                          -> r5 [128, 16, 16] 128 KB
    two residual blocks: Conv 128->128 3x3, ReLU, Conv 128->128 3x3,
      Add the block's input, ReLU                   -> r6, r7 [128, 16, 16]
      (no cut inside a block: its tail would need the block's input too)
    GlobalAveragePool                               -> g [128, 1, 1]    512 B
    Flatten, Gemm 128->10, Softmax

About a third of its multiply-adds come before r4 and the rest after.

`tests/fixtures/models/squeezenet1_1.onnx` is SqueezeNet 1.1's published
topology (Iandola et al. 2016, as torchvision builds it: fire modules of a
1x1 squeeze and a concatenation of 1x1 and 3x3 expands), 1,000 classes, on
a 64x64 image; a test partitions it to show that no cut is offered between a
fire module's squeeze and its concatenation.

Weights are seeded random (He-initialised): the answers mean nothing; the
shapes, the compute and the intermediate sizes are what the workloads are
for. Reproducible byte for byte with models/requirements.txt:

    /tmp/modelgen/bin/python models/generate_split.py
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 20261207
HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures" / "models"


class Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []

    def conv(self, name, x, cin, cout, k=3, stride=1, pad=None):
        pad = k // 2 if pad is None else pad
        w = self.rng.normal(0, np.sqrt(2 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
        b = np.zeros(cout, dtype=np.float32)
        self.inits += [numpy_helper.from_array(w, f"{name}.weight"), numpy_helper.from_array(b, f"{name}.bias")]
        self.nodes.append(
            helper.make_node(
                "Conv", [x, f"{name}.weight", f"{name}.bias"], [name], pads=[pad] * 4, strides=[stride, stride]
            )
        )
        return name

    def op(self, op, inputs, out, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def relu(self, x, out):
        return self.op("Relu", [x], out)

    def pool(self, x, out, k=2, stride=2, ceil=0):
        return self.op("MaxPool", [x], out, kernel_shape=[k, k], strides=[stride, stride], ceil_mode=ceil)

    def model(self, name, inp, in_shape, out, out_shape):
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(inp, TensorProto.FLOAT, ["batch", *in_shape])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", *out_shape])],
            initializer=self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="simrun-models")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def split_cnn():
    b = Builder(SEED)
    x = b.pool(b.relu(b.conv("c1", "image", 3, 16), "r1"), "p1")
    x = b.pool(b.relu(b.conv("c2", x, 16, 32), "r2"), "p2")
    x = b.relu(b.conv("c3a", x, 32, 64), "r3a")
    x = b.pool(b.relu(b.conv("c3b", x, 64, 64), "r3b"), "p3")
    x = b.relu(b.conv("c4", x, 64, 32, k=1), "r4")
    x = b.relu(b.conv("c5", x, 32, 128), "r5")
    for block in (6, 7):
        y = b.relu(b.conv(f"c{block}a", x, 128, 128), f"r{block}a")
        y = b.conv(f"c{block}b", y, 128, 128)
        x = b.relu(b.op("Add", [y, x], f"sum{block}"), f"r{block}")
    x = b.op("GlobalAveragePool", [x], "g")
    x = b.op("Flatten", [x], "f", axis=1)
    w = b.rng.normal(0, 0.1, (10, 128)).astype(np.float32)
    b.inits += [numpy_helper.from_array(w, "fc.weight"), numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias")]
    x = b.op("Gemm", [x, "fc.weight", "fc.bias"], "logits", transB=1)
    b.op("Softmax", [x], "probabilities", axis=1)
    return b.model("split_cnn", "image", [3, 128, 128], "probabilities", [10])


def squeezenet1_1():
    b = Builder(SEED + 1)

    def fire(i, x, cin, squeeze, e1, e3):
        s = b.relu(b.conv(f"fire{i}.squeeze", x, cin, squeeze, k=1), f"fire{i}.squeeze_relu")
        a = b.relu(b.conv(f"fire{i}.expand1x1", s, squeeze, e1, k=1), f"fire{i}.expand1x1_relu")
        c = b.relu(b.conv(f"fire{i}.expand3x3", s, squeeze, e3, k=3), f"fire{i}.expand3x3_relu")
        return b.op("Concat", [a, c], f"fire{i}.cat", axis=1)

    x = b.relu(b.conv("conv1", "data", 3, 64, k=3, stride=2, pad=0), "conv1_relu")
    x = b.pool(x, "pool1", k=3, stride=2, ceil=1)
    x = fire(2, x, 64, 16, 64, 64)
    x = fire(3, x, 128, 16, 64, 64)
    x = b.pool(x, "pool3", k=3, stride=2, ceil=1)
    x = fire(4, x, 128, 32, 128, 128)
    x = fire(5, x, 256, 32, 128, 128)
    x = b.pool(x, "pool5", k=3, stride=2, ceil=1)
    x = fire(6, x, 256, 48, 192, 192)
    x = fire(7, x, 384, 48, 192, 192)
    x = fire(8, x, 384, 64, 256, 256)
    x = fire(9, x, 512, 64, 256, 256)
    x = b.relu(b.conv("conv10", x, 512, 1000, k=1), "conv10_relu")
    x = b.op("GlobalAveragePool", [x], "pool10")
    b.op("Flatten", [x], "prob", axis=1)
    return b.model("squeezenet1_1", "data", [3, 64, 64], "prob", [1000])


def main():
    (HERE / "split_cnn.onnx").write_bytes(split_cnn().SerializeToString())
    print("wrote", HERE / "split_cnn.onnx")
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / "squeezenet1_1.onnx").write_bytes(squeezenet1_1().SerializeToString())
    print("wrote", FIXTURES / "squeezenet1_1.onnx")


if __name__ == "__main__":
    main()
