"""Tiny random ONNX graphs with the interfaces of the real face models (written with onnx.helper, no
torch): inswapper_128, ArcFace, DeepFaceLive DFM, GFPGAN/GPEN; each returns the path it wrote."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]


def _save(graph, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    onnx.checker.check_model(model)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return Path(path)


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array, np.float32), name)


def inswapper_like(path: Path, size: int = 128, seed: int = 0) -> Path:
    """target 1x3xSxS RGB [0,1] + source 1x512 -> 1x3xSxS: sigmoid(conv(target) + source @ W), with a
    512x512 `emap` initializer (unused by the graph itself, as in the real one)."""
    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Conv", ["target", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("MatMul", ["source", "proj"], ["s"]),  # 1x3: the identity's colour shift
        helper.make_node("Reshape", ["s", "shape"], ["s4"]),
        helper.make_node("Add", ["c", "s4"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["output"]),
    ]
    w = rng.normal(0, 0.1, (3, 3, 3, 3))
    w[range(3), range(3), 1, 1] += 4.0  # mostly the target itself
    inits = [
        _init("w", w),
        _init("proj", rng.normal(0, 1, (512, 3))),
        numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape"),
        _init("emap", rng.normal(0, 1 / np.sqrt(512), (512, 512))),
    ]
    graph = helper.make_graph(
        nodes,
        "inswapper_like",
        [
            helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, size, size]),
            helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])],
        inits,
    )
    return _save(graph, path)


def arcface_like(path: Path, size: int = 112, seed: int = 0) -> Path:
    """1x3xSxS -> 1x512: a strided conv, ReLU, 8x8 average pooling, flattened, projected."""
    rng = np.random.default_rng(seed)
    cells = (size // 4 // 8) ** 2
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], strides=[4, 4], kernel_shape=[4, 4]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("AveragePool", ["r"], ["p"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "proj"], ["embedding"]),
    ]
    inits = [
        _init("w", rng.normal(0, 0.3, (16, 3, 4, 4))),
        _init("proj", rng.normal(0, 1, (16 * cells, 512))),
    ]
    graph = helper.make_graph(
        nodes,
        "arcface_like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 512])],
        inits,
    )
    return _save(graph, path)


def dfm_like(path: Path, size: int = 64, morph: bool = True, seed: int = 0) -> Path:
    """in_face:0 (1,S,S,3) BGR [0,1] (+ morph_value:0) -> out_face_mask:0, out_celeb_face:0,
    out_celeb_face_mask:0 (NHWC). The celeb face is 1 - in_face (times morph when present)."""
    nodes = [helper.make_node("Sub", ["one", "in_face:0"], ["inv"])]
    inputs = [helper.make_tensor_value_info("in_face:0", TensorProto.FLOAT, [1, size, size, 3])]
    if morph:
        inputs.append(helper.make_tensor_value_info("morph_value:0", TensorProto.FLOAT, [1]))
        nodes.append(helper.make_node("Mul", ["inv", "morph_value:0"], ["out_celeb_face:0"]))
    else:
        nodes.append(helper.make_node("Identity", ["inv"], ["out_celeb_face:0"]))
    nodes += [
        helper.make_node("ReduceMean", ["in_face:0"], ["m"], axes=[3], keepdims=1),
        helper.make_node("Sigmoid", ["m"], ["out_face_mask:0"]),
        helper.make_node("Identity", ["out_face_mask:0"], ["out_celeb_face_mask:0"]),
    ]
    inits = [_init("one", 1.0)]
    outs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, size, size, c])
        for n, c in (("out_face_mask:0", 1), ("out_celeb_face:0", 3), ("out_celeb_face_mask:0", 1))
    ]
    return _save(helper.make_graph(nodes, "dfm_like", inputs, outs, inits), path)


def enhancer_like(path: Path, size: int = 64, seed: int = 0) -> Path:
    """1x3xSxS in [-1,1] -> the same, sharpened a little (a 3x3 conv), clipped by tanh."""
    k = np.zeros((3, 3, 3, 3))
    for c in range(3):
        k[c, c] = [[0, -0.1, 0], [-0.1, 1.4, -0.1], [0, -0.1, 0]]
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Tanh", ["c"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "enhancer_like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])],
        [_init("w", k)],
    )
    return _save(graph, path)
