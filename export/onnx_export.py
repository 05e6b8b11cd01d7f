"""A torch generator -> an ONNX ModelProto that follows the medsynth model contract.

The graph is traced with torch's ``torch.export``-based ONNX exporter (``dynamo=True``, the default since
torch 2.9; the TorchScript exporter is deprecated there). It has implementations from opset 18 up, so the
graph is exported at opset 18 and converted down to opset :data:`OPSET` with onnx's version converter,
then pinned to IR version :data:`IR_VERSION` (onnx 1.23 writes IR 14 by default and onnxruntime 1.31 reads
at most 13).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper, version_converter

from medsynth.errors import ModelError

OPSET = 17  # the opset every medsynth model is written at
IR_VERSION = 10  # the ONNX IR version every medsynth model is written at
EXPORT_OPSET = 18  # the lowest opset torch's dynamo exporter implements; converted down to OPSET
BATCH = "batch"  # the name of the dynamic batch axis
MAX_BATCH = 1 << 16  # upper bound torch.export needs for the symbolic batch size
FP16_MIN_ELEMENTS = 16  # smaller float initializers (scalars, epsilons) stay float32 under --fp16

# Reductions whose ``axes`` became an input (and which got ``noop_with_empty_axes``) in opset 18.
_REDUCE_AXES_ATTRIBUTE_IN_17 = frozenset(
    {
        "ReduceMean",
        "ReduceMax",
        "ReduceMin",
        "ReduceProd",
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSum",
        "ReduceLogSumExp",
        "ReduceSumSquare",
    }
)

# Ops that only make sense while training, or that make a generator non-deterministic.
TRAINING_ONLY_OPS = frozenset(
    {
        "Dropout",
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Bernoulli",
        "Multinomial",
        "Gradient",
        "SoftmaxCrossEntropyLoss",
    }
)


def export_onnx(net: torch.nn.Module, latent_dim: int, num_classes: int) -> onnx.ModelProto:
    """Export ``net`` (in eval mode) to an ONNX model with inputs ``z``, ``label`` and output ``image``.

    Parameters
    ----------
    net
        A generator mapping ``(z float32 (N, latent_dim), label int64 (N,))`` to ``(N, C, H, W)``.
    latent_dim
        Length of ``z``.
    num_classes
        Number of classes (the example labels used for tracing are below it).

    Returns
    -------
    onnx.ModelProto
        Opset :data:`OPSET`, IR version :data:`IR_VERSION`, batch axis named :data:`BATCH`; it passes
        :func:`check_graph`. No model card yet.

    Raises
    ------
    ModelError
        torch cannot export the network, the graph cannot be converted to opset 17, or it breaks the contract.
    """
    if net.training:
        raise ModelError("the generator must be in eval mode before export (call .eval())")
    z = torch.randn(2, latent_dim, generator=torch.Generator().manual_seed(0))
    label = torch.arange(2, dtype=torch.int64) % num_classes
    batch = torch.export.Dim(BATCH, min=1, max=MAX_BATCH)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                net,
                (z, label),
                dynamo=True,
                opset_version=EXPORT_OPSET,
                input_names=["z", "label"],
                output_names=["image"],
                dynamic_shapes=({0: batch}, {0: batch}),
                optimize=True,
                verbose=False,
                external_data=False,
            )
    except Exception as exc:  # torch raises many untyped exporter errors
        raise ModelError(
            f"torch could not export the {type(net).__name__} generator to ONNX: {_first_line(exc)}"
        ) from exc
    if program is None:  # pragma: no cover - dynamo=True always returns a program
        raise ModelError("torch returned no ONNX program")
    model = pin_versions(program.model_proto, "exported graph")
    check_graph(model)
    return model


def pin_versions(model: onnx.ModelProto, what: str) -> onnx.ModelProto:
    """``model`` converted to the pinned :data:`OPSET` and stamped with :data:`IR_VERSION` (what onnxruntime
    1.17+ reads), with its batch axis named; ModelError naming ``what`` if the conversion fails."""
    if _default_opset(model) != OPSET:
        try:
            model = version_converter.convert_version(model, OPSET)
        except Exception as exc:  # onnx raises RuntimeError/ConvertError depending on the adapter
            raise ModelError(f"the {what} cannot be converted to opset {OPSET}: {_first_line(exc)}") from exc
        _drop_opset18_reduce_attribute(model)
    model.ir_version = IR_VERSION
    _name_batch_axis(model)
    return model


def check_graph(model: onnx.ModelProto) -> None:
    """Refuse a graph that breaks the contract or carries training-only ops.

    Parameters
    ----------
    model
        The exported model.

    Raises
    ------
    ModelError
        onnx.checker fails; the IR version or opset is not the pinned one; inputs are not exactly ``z``
        (float32, rank 2) and ``label`` (int64, rank 1) or the output is not ``image`` (float32, rank 4)
        with a dynamic first axis; or a node is a training-only op (:data:`TRAINING_ONLY_OPS`), a batch norm
        in training mode, or an op from a non-standard domain (runtime-specific ops would tie the file to one
        runtime).
    """
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelError(f"the exported graph fails onnx.checker: {_first_line(exc)}") from exc
    if model.ir_version != IR_VERSION or _default_opset(model) != OPSET:
        raise ModelError(
            f"the graph has IR version {model.ir_version} and opset {_default_opset(model)}; "
            f"medsynth writes IR {IR_VERSION}, opset {OPSET}"
        )
    want_in = [("z", TensorProto.FLOAT, 2), ("label", TensorProto.INT64, 1)]
    have_in = [_signature(v) for v in model.graph.input]
    have_out = [_signature(v) for v in model.graph.output]
    if have_in != want_in or have_out != [("image", TensorProto.FLOAT, 4)]:
        raise ModelError(
            f"the graph's inputs {have_in} / outputs {have_out} are not the contract's "
            "z float32 [N, latent_dim], label int64 [N] -> image float32 [N, C, H, W]"
        )
    for value in (*model.graph.input, *model.graph.output):
        first = value.type.tensor_type.shape.dim[0]
        if first.HasField("dim_value"):
            raise ModelError(
                f"'{value.name}' has a fixed batch size {first.dim_value}; the batch axis must be dynamic"
            )
    for node in _all_nodes(model.graph):
        if node.domain not in ("", "ai.onnx"):
            raise ModelError(f"node {node.name!r} is {node.domain}::{node.op_type}, not a standard ONNX op")
        if node.op_type in TRAINING_ONLY_OPS:
            raise ModelError(
                f"node {node.name!r} is a training-only op ({node.op_type}); export the "
                "generator in eval mode without random ops"
            )
        if node.op_type == "BatchNormalization":
            training = any(a.name == "training_mode" and a.i != 0 for a in node.attribute)
            if training or len([o for o in node.output if o]) > 1:
                raise ModelError(f"node {node.name!r} is a batch norm in training mode; export in eval mode")


def store_weights_fp16(model: onnx.ModelProto) -> int:
    """Store the float32 weights of ``model`` as float16, cast back to float32 inside the graph.

    Compute, inputs and outputs stay float32, so the file is half the size and runs on every onnxruntime
    build (the CPU provider has no float16 kernels for most ops); the cost is the rounding of each weight to
    11 significant bits (relative error <= 2**-11). Initializers with fewer than :data:`FP16_MIN_ELEMENTS`
    elements (scalars, epsilons) and values outside float16's range are left as float32.

    Parameters
    ----------
    model
        Changed in place.

    Returns
    -------
    int
        How many initializers were converted.
    """
    graph = model.graph
    taken = {t.name for t in graph.initializer} | {n for node in graph.node for n in node.output}
    kept, casts, converted = [], [], 0
    for tensor in graph.initializer:
        array = numpy_helper.to_array(tensor)
        finite_in_range = array.dtype == np.float32 and np.all(np.abs(array) <= np.finfo(np.float16).max)
        if array.dtype != np.float32 or array.size < FP16_MIN_ELEMENTS or not finite_in_range:
            kept.append(tensor)
            continue
        half_name = _fresh(f"{tensor.name}_fp16", taken)
        kept.append(numpy_helper.from_array(array.astype(np.float16), half_name))
        casts.append(
            helper.make_node(
                "Cast",
                [half_name],
                [tensor.name],
                to=TensorProto.FLOAT,
                name=_fresh(f"cast_{tensor.name}", taken),
            )
        )
        converted += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return converted


# -- helpers ------------------------------------------------------------------------------------------------
def _signature(value: onnx.ValueInfoProto) -> tuple[str, int, int]:
    tensor = value.type.tensor_type
    return value.name, tensor.elem_type, len(tensor.shape.dim)


def _name_batch_axis(model: onnx.ModelProto) -> None:
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH


def _drop_opset18_reduce_attribute(model: onnx.ModelProto) -> None:
    """Remove ``noop_with_empty_axes`` from the reductions that got it only in opset 18.

    onnx's 18 -> 17 adapter turns their ``axes`` input back into an attribute but leaves this attribute, which
    opset 17 does not know, so onnx.checker refuses the node. At its default 0 it means what opset 17 does
    anyway; at 1 the graph cannot be written in opset 17.
    """
    for node in _all_nodes(model.graph):
        if node.op_type not in _REDUCE_AXES_ATTRIBUTE_IN_17:
            continue
        for attr in list(node.attribute):
            if attr.name == "noop_with_empty_axes":
                if attr.i != 0:
                    raise ModelError(
                        f"node {node.name!r} ({node.op_type}) needs noop_with_empty_axes=1, "
                        f"which opset {OPSET} cannot express"
                    )
                node.attribute.remove(attr)


def _default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _all_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attr.g)
            for sub in attr.graphs:
                yield from _all_nodes(sub)


def _fresh(name: str, taken: set[str]) -> str:
    candidate, i = name, 1
    while candidate in taken:
        candidate, i = f"{name}_{i}", i + 1
    taken.add(candidate)
    return candidate


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's chatter (torchvision not installed, axis renames, deprecations inside torch).

    None of it is actionable by a user; the graph checks and the parity test are what guard the result.
    """
    names = ("torch.onnx", "torch.export", "torch._dynamo", "torch._export", "onnxscript")
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
