#!/usr/bin/env python3
"""Check a run's accuracy against the same models run offline on the same rows.

For each tier of a run of a labelled scenario (e.g. scenarios/accuracy.yaml),
this reads the rows the devices sent from samples.csv (measured, answered
`ok`), runs the tier's model on those rows outside simrun (ONNX models with
the onnxruntime package, simrun-dense-v1 safetensors files in numpy), and
compares the accuracy with the run's summary.csv. Exit status 1 when any
point and tier differ by more than 0.5 percentage points.

    /tmp/modelgen/bin/pip install -r models/requirements.txt onnxruntime==1.31.1
    /tmp/modelgen/bin/python models/check_accuracy.py RUN_DIR \\
        --data models/data/digits-test.csv \\
        --edge models/digits_small.onnx --cloud models/digits_big.safetensors
"""
import argparse
import csv
import json
import struct
import sys
from collections import defaultdict

import numpy as np


def read_data(path, label):
    with open(path) as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if r]
    at = header.index(label)
    x = np.array([[float(v) for i, v in enumerate(r) if i != at] for r in body], dtype=np.float32)
    y = np.array([int(r[at]) for r in body])
    return x, y


def dense(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    meta = header.pop("__metadata__")
    assert meta["format"] == "simrun-dense-v1", meta
    t = {}
    for name, info in header.items():
        lo, hi = info["data_offsets"]
        t[name] = np.frombuffer(data[lo:hi], dtype="<f4").reshape(info["shape"])
    layers = json.loads(meta["layers"])

    def run(x):
        for layer in layers:
            x = x @ t[layer["weight"]].T
            if layer.get("bias"):
                x = x + t[layer["bias"]]
            act = layer["activation"]
            if act == "relu":
                x = np.maximum(x, 0)
            elif act == "sigmoid":
                x = 1 / (1 + np.exp(-x))
            elif act == "tanh":
                x = np.tanh(x)
            elif act == "softmax":
                e = np.exp(x - x.max(axis=1, keepdims=True))
                x = e / e.sum(axis=1, keepdims=True)
        return x

    return run


def onnx_model(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def predict(out):
    return (out[:, 0] >= 0.5).astype(int) if out.shape[1] == 1 else out.argmax(axis=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("--data", required=True)
    p.add_argument("--label", default="label")
    p.add_argument("--edge")
    p.add_argument("--cloud")
    a = p.parse_args()
    x, y = read_data(a.data, a.label)
    models = {t: (onnx_model(m) if m.endswith(".onnx") else dense(m)) for t, m in (("edge", a.edge), ("cloud", a.cloud)) if m}
    offline = {t: predict(run(x)) for t, run in models.items()}
    sent = defaultdict(list)
    with open(f"{a.run_dir}/samples.csv") as f:
        for s in csv.DictReader(f):
            if s["phase"] == "measure" and s["status"] == "ok" and s["row"]:
                sent[(s["point"], s["repetition"], s["tier"])].append((int(s["row"]), int(s["prediction"])))
    worst = 0.0
    with open(f"{a.run_dir}/summary.csv") as f:
        for r in csv.DictReader(f):
            key = (r["point"], r["repetition"], r["tier"])
            if r["repetition"] == "all" or r["tier"] not in offline or not r["accuracy"]:
                continue
            rows = np.array([row for row, _ in sent[key]])
            expected = float((offline[r["tier"]][rows] == y[rows]).mean())
            agree = float(np.mean([offline[r["tier"]][row] == pred for row, pred in sent[key]]))
            diff = abs(expected - float(r["accuracy"])) * 100
            worst = max(worst, diff)
            print(f"point {key[0]} rep {key[1]} {key[2]}: simrun {float(r['accuracy']):.4f}, offline {expected:.4f} "
                  f"on the same {len(rows)} rows ({diff:.2f} pp); predictions agree on {agree:.2%}")
    print(f"largest difference {worst:.2f} percentage points")
    sys.exit(0 if worst <= 0.5 else 1)


if __name__ == "__main__":
    main()
