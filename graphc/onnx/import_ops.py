"""How each ONNX op is written with graphc ops: the table ``IMPORTERS``, ONNX op type -> rule.

A rule ``rule(ctx, attrs, *inputs)`` receives the loading context (``load.Context``: constants,
subgraphs, errors naming the node), the node's attributes as Python values and its inputs (graphc
tensors, or NumPy arrays for values known when loading; None for an omitted optional input), and
returns the node's result or a list of them. Images are NCHW in ONNX and NHWC in graphc: the rules
of convolutions and pooling transpose on the way in and out.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import ops
from graphc.ir.ops import conv
from graphc.ir.ops import nn as nn_ops

from .. import control_flow
from .import_shapes import ShapeValue, shape_of, target

TO_NHWC, TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


def _unary(fn):
    return lambda ctx, attrs, x: fn(x)


def _variadic(fn):
    def rule(ctx, attrs, *xs):
        result = xs[0]
        for x in xs[1:]:
            result = fn(result, x)
        return result

    return rule


def _is_integer(x) -> bool:
    return x.dtype.kind in "iu" if isinstance(x, np.ndarray) else x.dtype.is_integer


def _div(ctx, attrs, x, y):
    if not _is_integer(x):
        return ops.divide(x, y)
    q = ops.floordiv(x, y)  # ONNX divides integers truncating toward zero
    inexact = ops.not_equal(ops.mod(x, y), 0)
    signs_differ = ops.not_equal(ops.less(x, 0), ops.less(y, 0))
    return ops.where(ops.logical_and(inexact, signs_differ), ops.add(q, 1), q)


def _mod(ctx, attrs, x, y):
    r = ops.mod(x, y)  # floored: the sign of the divisor
    if not attrs.get("fmod", 0):
        return r
    wrong = ops.logical_and(ops.not_equal(r, 0), ops.not_equal(ops.less(r, 0), ops.less(x, 0)))
    return ops.where(wrong, ops.subtract(r, y), r)  # C's fmod: the sign of the dividend


def _is_inf(ctx, attrs, x):
    hits = ops.is_inf(x)
    if not attrs.get("detect_negative", 1):
        hits = ops.logical_and(hits, ops.greater(x, 0))
    if not attrs.get("detect_positive", 1):
        hits = ops.logical_and(hits, ops.less(x, 0))
    return hits


def _cast(ctx, attrs, x):
    return ops.cast(x, ctx.dtype(attrs["to"]))


def _constant(ctx, attrs):
    if "value" in attrs:
        return ctx.array(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if key in attrs:
            return np.asarray(attrs[key], dtype)
    raise ctx.error(f"a Constant with attributes {sorted(attrs)} (graphc reads value, value_float(s), value_int(s))")


# -- shapes -----------------------------------------------------------------------------------------
def _shape(ctx, attrs, x):
    return shape_of(x, attrs.get("start", 0), attrs.get("end"))


def _target(ctx, shape, x, what: str):
    """A Reshape's or Expand's shape: ("like", tensor) or a list of ints."""
    if not isinstance(shape, ShapeValue):
        return ctx.known(shape, what).tolist()
    found = target(shape, x)
    if found is None:
        raise ctx.error(f"{what} {list(shape.dims)} has several sizes known only at run time")
    return found


def _reshape(ctx, attrs, x, shape):
    shape = _target(ctx, shape, x, "the new shape")
    if shape[0] == "like":
        return ops.reshape_like(x, shape[1])
    if not attrs.get("allowzero", 0):  # 0 copies the input's size
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    if any(not isinstance(d, int) for d in shape):
        shape = [-1 if not isinstance(d, int) else d for d in shape]
    return ops.reshape(x, shape)


def _expand(ctx, attrs, x, shape):
    shape = _target(ctx, shape, x, "the shape")
    if shape[0] == "like":
        return ops.broadcast_like(x, shape[1])
    rank = max(len(shape), len(x.shape))
    have = [1] * (rank - len(x.shape)) + list(x.shape)
    want = [1] * (rank - len(shape)) + shape
    return ops.broadcast_to(x, [h if w == 1 else w for h, w in zip(have, want)])  # bidirectional


def _flatten(ctx, attrs, x):
    axis = attrs.get("axis", 1) % (len(x.shape) + 1) if x.shape else 0
    outer, inner = x.shape[:axis], x.shape[axis:]
    if not all(isinstance(d, int) for d in inner):
        raise ctx.error(f"Flatten needs the sizes after axis {axis} when loading, got {list(x.shape)}")
    return ops.reshape(x, [-1, int(np.prod(inner, dtype=np.int64))] if outer else [1, -1])


def _axes(ctx, attrs, axes):
    """Axes from the input (opset 13+) or the attribute (earlier opsets)."""
    if axes is not None:
        return [int(a) for a in ctx.known(axes, "the axes")]
    return list(attrs.get("axes", []))


def _squeeze(ctx, attrs, x, axes=None):
    chosen = _axes(ctx, attrs, axes)
    return ops.squeeze(x, chosen or None)


def _unsqueeze(ctx, attrs, x, axes=None):
    rank = len(x.shape) + len(_axes(ctx, attrs, axes))
    result = x
    for a in sorted(a % rank for a in _axes(ctx, attrs, axes)):
        result = ops.expand_dims(result, a)
    return result


def _transpose(ctx, attrs, x):
    return ops.transpose(x, attrs.get("perm"))


def _concat(ctx, attrs, *xs):
    return ops.concat(list(xs), attrs["axis"])


def _split(ctx, attrs, x, split=None):
    axis = attrs.get("axis", 0)
    sizes = ctx.known(split, "the split sizes").tolist() if split is not None else attrs.get("split")
    if sizes is None:
        sizes = ctx.output_count()  # equal parts, one per output
    return ops.split(x, sizes, axis)


def _slice(ctx, attrs, x, starts, ends, axes=None, steps=None):
    starts, ends = ctx.known(starts, "starts").tolist(), ctx.known(ends, "ends").tolist()
    axes = ctx.known(axes, "axes").tolist() if axes is not None else list(range(len(starts)))
    steps = ctx.known(steps, "steps").tolist() if steps is not None else [1] * len(starts)
    index = [slice(None)] * len(x.shape)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        big = 2**62  # ONNX's "to the end" sentinels (INT_MAX, INT_MIN) as Python's None
        index[axis] = slice(None if abs(start) >= big else start, None if abs(end) >= big else end, step)
    return ops.getitem(x, tuple(index))


def _gather(ctx, attrs, x, indices):
    return ops.gather(x, indices, axis=attrs.get("axis", 0))


def _pad(ctx, attrs, x, pads, value=None, axes=None):
    pads = ctx.known(pads, "the pads").tolist()
    rank = len(x.shape)
    chosen = ctx.known(axes, "the axes").tolist() if axes is not None else list(range(rank))
    rows = [[0, 0] for _ in range(rank)]
    for k, axis in enumerate(chosen):
        rows[axis] = [pads[k], pads[k + len(chosen)]]
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in ("constant", "reflect"):
        raise ctx.error(f"Pad mode {mode!r} (graphc pads with 'constant' and 'reflect')")
    fill = 0 if value is None else ctx.known(value, "the pad value").item()
    return ops.pad(x, rows, mode.upper(), fill)


def _tile(ctx, attrs, x, repeats):
    return ops.tile(x, ctx.known(repeats, "the repeats").tolist())


def _range(ctx, attrs, start, limit, delta):
    start, limit, delta = (ctx.known(v, "the range bounds") for v in (start, limit, delta))
    return np.arange(start, limit, delta, dtype=np.asarray(start).dtype)


# -- reductions -------------------------------------------------------------------------------------
def _reduce(fn):
    def rule(ctx, attrs, x, axes=None):
        chosen = _axes(ctx, attrs, axes)
        if not chosen and attrs.get("noop_with_empty_axes", 0):
            return ops.identity(x)
        return fn(x, chosen or None, keepdims=bool(attrs.get("keepdims", 1)))

    return rule


def _arg(fn):
    def rule(ctx, attrs, x):
        if attrs.get("select_last_index", 0):
            raise ctx.error("select_last_index=1 (graphc's arg-extrema pick the first)")
        result = fn(x, attrs.get("axis", 0))
        return ops.expand_dims(result, attrs.get("axis", 0)) if attrs.get("keepdims", 1) else result

    return rule


def _softmax(fn):
    return lambda ctx, attrs, x: fn(x, attrs.get("axis", -1))


def _clip(ctx, attrs, x, low=None, high=None):
    if low is not None:
        x = ops.maximum(x, low)
    return ops.minimum(x, high) if high is not None else x


# -- neural-network ops ---------------------------------------------------------------------------
def _gemm(ctx, attrs, a, b, c=None):
    a = ops.transpose(a) if attrs.get("transA", 0) else a
    b = ops.transpose(b) if attrs.get("transB", 0) else b
    y = ops.matmul(a, b)
    if attrs.get("alpha", 1.0) != 1.0:
        y = ops.multiply(y, attrs["alpha"])
    if c is not None:
        y = ops.add(y, ops.multiply(c, attrs["beta"]) if attrs.get("beta", 1.0) != 1.0 else c)
    return y


def _spatial(ctx, attrs, what: str):
    """(strides, (top, bottom, left, right)) of a 2-D window op."""
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ctx.error(f"{what} with auto_pad (graphc reads explicit pads)")
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    return tuple(attrs.get("strides", [1, 1])), (top, bottom, left, right)


def _images(ctx, x, what: str):
    if len(x.shape) != 4:
        raise ctx.error(f"{what} of rank {len(x.shape)} (graphc reads 2-D images: NCHW)")
    return ops.transpose(x, TO_NHWC)


def _conv(ctx, attrs, x, w, bias=None):
    strides, pads = _spatial(ctx, attrs, "Conv")
    images = ops.pad(_images(ctx, x, "Conv"), [[0, 0], pads[:2], pads[2:], [0, 0]]) if any(pads) else _images(ctx, x, "Conv")
    groups, channels = attrs.get("group", 1), x.shape[1]
    dilations = tuple(attrs.get("dilations", [1, 1]))
    filters = ops.transpose(w, (2, 3, 1, 0))  # [F, C/g, kh, kw] -> [kh, kw, C/g, F]
    if groups == 1:
        y = conv.conv2d(images, filters, strides, "valid", dilations)
    elif groups == channels:  # depthwise: [kh, kw, 1, C*M] -> [kh, kw, C, M]
        kh, kw = w.shape[2], w.shape[3]
        y = conv.depthwise_conv2d(images, ops.reshape(filters, [kh, kw, channels, -1]), strides, "valid", dilations)
    else:
        raise ctx.error(f"Conv with {groups} groups of {channels} channels (graphc: 1 group, or one per channel)")
    if bias is not None:
        y = ops.add(y, bias)
    return ops.transpose(y, TO_NCHW)


def _pool(kind):
    def rule(ctx, attrs, x):
        if attrs.get("ceil_mode", 0) or any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise ctx.error(f"{kind} pooling with ceil_mode or dilations")
        strides, pads = _spatial(ctx, attrs, f"{kind} pooling")
        size = tuple(attrs["kernel_shape"])
        images = _images(ctx, x, f"{kind} pooling")
        if kind == "max":
            y = conv.max_pool2d(images, size, strides, pads)
        elif attrs.get("count_include_pad", 0) and any(pads):
            y = conv.avg_pool2d(ops.pad(images, [[0, 0], pads[:2], pads[2:], [0, 0]]), size, strides)
        else:
            y = conv.avg_pool2d(images, size, strides, pads)
        return ops.transpose(y, TO_NCHW)

    return rule


def _global_pool(fn):
    return lambda ctx, attrs, x: fn(x, list(range(2, len(x.shape))), keepdims=True)


def _batch_norm(ctx, attrs, x, scale, bias, mean, variance):
    if attrs.get("training_mode", 0):
        raise ctx.error("BatchNormalization in training mode (graphc loads inference graphs)")
    shape = [1, -1] + [1] * (len(x.shape) - 2)
    factor = ops.multiply(ops.rsqrt(ops.add(variance, attrs.get("epsilon", 1e-5))), scale)
    shift = ops.subtract(bias, ops.multiply(mean, factor))
    return ops.add(ops.multiply(x, ops.reshape(factor, shape)), ops.reshape(shift, shape))


def _dropout(ctx, attrs, x, ratio=None, training=None):
    if training is not None and ctx.known(training, "training_mode").item():
        raise ctx.error("Dropout in training mode (graphc loads inference graphs)")
    return ops.identity(x)


def _leaky_relu(ctx, attrs, x):
    return nn_ops.leaky_relu(x, attrs.get("alpha", 0.01))


# -- control flow -----------------------------------------------------------------------------------
def _if(ctx, attrs, pred):
    then_branch, else_branch = attrs["then_branch"], attrs["else_branch"]
    results = control_flow.cond(ops.reshape(pred, []), lambda: ctx.run_subgraph(then_branch, []),
                                lambda: ctx.run_subgraph(else_branch, []))
    return list(results)


def _loop(ctx, attrs, limit, condition, *initial):
    body = attrs["body"]
    if len(body.output) != len(initial) + 1:
        raise ctx.error("Loop with scan outputs (graphc reads loop-carried values only)")
    start = [ops.constant(np.int64(0)), ops.constant(True) if condition is None else ops.reshape(condition, [])]

    def keep_going(i, go, *values):
        return go if limit is None else ops.logical_and(go, ops.less(i, ops.reshape(limit, [])))

    def step(i, go, *values):
        go_on, *new = ctx.run_subgraph(body, [i, go, *values])
        return [ops.add(i, 1), ops.reshape(go_on, []), *new]

    results = control_flow.while_loop(keep_going, step, [*start, *initial])
    return list(results[2:])


IMPORTERS = {
    **{name: _unary(fn) for name, fn in {
        "Neg": ops.negative, "Abs": ops.abs, "Sign": ops.sign, "Exp": ops.exp, "Log": ops.log, "Sqrt": ops.sqrt,
        "Sin": ops.sin, "Cos": ops.cos, "Tanh": ops.tanh, "Sigmoid": ops.sigmoid, "Erf": ops.erf,
        "Not": ops.logical_not, "IsNaN": ops.is_nan, "Asin": ops.asin, "Acos": ops.acos, "Atan": ops.atan,
        "Asinh": ops.asinh, "Acosh": ops.acosh, "Atanh": ops.atanh, "Floor": ops.floor, "Ceil": ops.ceil,
        "Round": ops.round, "Reciprocal": ops.reciprocal, "Relu": ops.relu, "Identity": ops.identity,
        "Elu": nn_ops.elu, "Softplus": ops.softplus,
    }.items()},
    **{name: _variadic(fn) for name, fn in {
        "Add": ops.add, "Sub": ops.subtract, "Mul": ops.multiply, "Pow": ops.power, "Max": ops.maximum,
        "Min": ops.minimum, "Sum": ops.add, "Equal": ops.equal, "Less": ops.less, "LessOrEqual": ops.less_equal,
        "Greater": ops.greater, "GreaterOrEqual": ops.greater_equal, "And": ops.logical_and, "Or": ops.logical_or,
        "Xor": ops.not_equal, "MatMul": ops.matmul,
    }.items()},
    **{name: _reduce(fn) for name, fn in {
        "ReduceSum": ops.reduce_sum, "ReduceMax": ops.reduce_max, "ReduceMin": ops.reduce_min,
        "ReduceProd": ops.reduce_prod, "ReduceMean": ops.reduce_mean,
    }.items()},
    "Div": _div, "Mod": _mod, "IsInf": _is_inf, "Cast": _cast, "Constant": _constant,
    "Where": lambda ctx, attrs, c, x, y: ops.where(c, x, y), "Clip": _clip, "LeakyRelu": _leaky_relu,
    "Shape": _shape, "Reshape": _reshape, "Expand": _expand, "Flatten": _flatten, "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze, "Transpose": _transpose, "Concat": _concat, "Split": _split, "Slice": _slice,
    "Gather": _gather, "Pad": _pad, "Tile": _tile, "Range": _range,
    "ArgMax": _arg(ops.argmax), "ArgMin": _arg(ops.argmin),
    "Softmax": _softmax(ops.softmax), "LogSoftmax": _softmax(ops.log_softmax),
    "CumSum": lambda ctx, attrs, x, axis: ops.cumsum(x, int(ctx.known(axis, "the axis")), bool(attrs.get("exclusive", 0)),
                                                     bool(attrs.get("reverse", 0))),
    "Gemm": _gemm, "Conv": _conv, "MaxPool": _pool("max"), "AveragePool": _pool("average"),
    "GlobalAveragePool": _global_pool(ops.reduce_mean), "GlobalMaxPool": _global_pool(ops.reduce_max),
    "BatchNormalization": _batch_norm, "Dropout": _dropout,
    "If": _if, "Loop": _loop,
}
