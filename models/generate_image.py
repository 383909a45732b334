#!/usr/bin/env python3
"""Generate the image-sized workload: a small CNN on 3x96x96 inputs, as ONNX.

`image_cnn.onnx` takes `image` [batch, 3, 96, 96] float32 (110,592 bytes of
values a sample; about 111 KB as a binary request, about 500 KB as JSON) and
gives `probabilities` [batch, 10]:

    Conv 3->32 3x3 -> ReLU -> MaxPool 2
    Conv 32->64 3x3 -> ReLU -> MaxPool 2
    Conv 64->128 3x3 -> ReLU -> GlobalAveragePool -> Gemm 128->10 -> Softmax

Weights are seeded random (He-initialised); the outputs mean nothing, the
compute and the payload are what the workload is for: its inference takes
milliseconds on one core, and its request is large enough for an uplink's
bandwidth to matter. Reproducible byte for byte with models/requirements.txt:

    /tmp/modelgen/bin/python models/generate_image.py
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 20261128
HERE = pathlib.Path(__file__).resolve().parent


def main():
    rng = np.random.default_rng(SEED)

    def conv(name, cin, cout):
        w = rng.normal(0, np.sqrt(2 / (cin * 9)), (cout, cin, 3, 3)).astype(np.float32)
        b = np.zeros(cout, dtype=np.float32)
        return [numpy_helper.from_array(w, f"{name}.weight"), numpy_helper.from_array(b, f"{name}.bias")]

    inits = conv("conv1", 3, 32) + conv("conv2", 32, 64) + conv("conv3", 64, 128)
    inits += [
        numpy_helper.from_array(rng.normal(0, 0.2, (10, 128)).astype(np.float32), "fc.weight"),
        numpy_helper.from_array(np.zeros(10, dtype=np.float32), "fc.bias"),
    ]
    pads = [1, 1, 1, 1]
    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["c1"], pads=pads),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], pads=pads),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p2", "conv3.weight", "conv3.bias"], ["c3"], pads=pads),
        helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("GlobalAveragePool", ["r3"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "image_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 96, 96])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="simrun-models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    (HERE / "image_cnn.onnx").write_bytes(model.SerializeToString())
    print("wrote", HERE / "image_cnn.onnx")


if __name__ == "__main__":
    main()
