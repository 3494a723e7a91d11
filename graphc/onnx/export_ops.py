"""How each graphc op is written in ONNX: the table ``EXPORTERS``, graphc op name -> rule.

A rule ``rule(b, node, *inputs)`` receives the ``Builder`` of the graph being written, the graphc
node and the ONNX names of its inputs, adds ONNX nodes through ``b.op`` and returns the name (or
the list of names) of the node's results. Ops without a rule but with a ``decomposition`` are
written as that decomposition; ``NOT_EXPORTABLE`` says why the remaining ops cannot be written.
Every rule keeps graphc's meaning exactly (the NumPy reference), dtype for dtype.
"""
from __future__ import annotations

import math

import numpy as np

from graphc.ir.ops.layout import source_indices
from graphc.ir.types import int64

INT_MAX, INT_MIN = 2**63 - 1, -(2**63)

# one ONNX op of the same meaning
UNARY = {
    "negative": "Neg", "abs": "Abs", "sign": "Sign", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "sin": "Sin",
    "cos": "Cos", "tanh": "Tanh", "sigmoid": "Sigmoid", "erf": "Erf", "logical_not": "Not", "is_nan": "IsNaN",
    "is_inf": "IsInf", "asin": "Asin", "acos": "Acos", "atan": "Atan", "asinh": "Asinh", "acosh": "Acosh",
    "atanh": "Atanh", "identity": "Identity", "stop_gradient": "Identity", "floor": "Floor", "ceil": "Ceil",
}
BINARY = {
    "add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "pow": "Pow", "maximum": "Max",
    "minimum": "Min", "equal": "Equal", "less": "Less", "less_equal": "LessOrEqual", "greater": "Greater",
    "greater_equal": "GreaterOrEqual", "logical_and": "And", "logical_or": "Or", "matmul": "MatMul",
}
REDUCTIONS = {"reduce_sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin", "reduce_prod": "ReduceProd"}

# ops ONNX cannot express with graphc's meaning, and why
NOT_EXPORTABLE = {
    "assign_variable": "an ONNX model is a pure function: it cannot assign a variable (export an inference function)",
    "random_uniform": "ONNX's RandomUniform draws other numbers than graphc's counter-based generator",
    "random_uniform_like": "ONNX's RandomUniform draws other numbers than graphc's counter-based generator",
    "extract_patches_transpose": "a gradient op (conv2d_transpose, the backward pass of a convolution): export the forward pass",
    "remap_adjoint": "a gradient op (the backward pass of pad, tile, repeat or roll): export the forward pass",
    "fused": "a fused kernel: export the graph before fusion",
    "host_call": "a call back into Python (gc.numpy_function, gc.print): an ONNX model runs without Python",
    "pure_host_call": "a call back into Python (gc.numpy_function): an ONNX model runs without Python",
}


def _same(op_type):
    return lambda b, node, *xs: b.op(op_type, list(xs))


def _const(b, array, dtype=None):
    return b.const(np.asarray(array, dtype=dtype))


def _ints(b, values):
    return _const(b, list(values), np.int64)


def _scalar(b, value, like):
    """A scalar constant of the dtype of graphc value ``like``."""
    return _const(b, value, like.dtype.numpy)


# -- elementwise --------------------------------------------------------------------------------
def _relu(b, node, x):
    if node.inputs[0].dtype.is_floating:
        return b.op("Relu", [x])
    return b.op("Max", [x, _scalar(b, 0, node.inputs[0])])


def _round(b, node, x):  # ONNX's Round rounds halves to even, as NumPy; integers are already round
    return b.op("Round", [x]) if node.inputs[0].dtype.is_floating else b.op("Identity", [x])


def _square(b, node, x):
    return b.op("Mul", [x, x])


def _rsqrt(b, node, x):
    return b.op("Reciprocal", [b.op("Sqrt", [x])])


def _is_finite(b, node, x):
    return b.op("Not", [b.op("Or", [b.op("IsNaN", [x]), b.op("IsInf", [x])])])


def _not_equal(b, node, x, y):
    return b.op("Not", [b.op("Equal", [x, y])])


def _log1p(b, node, x):
    """Kahan's log1p: ``log(u) * x / (u - 1)`` with ``u = 1 + x`` is exact to a few ulp."""
    v = node.inputs[0]
    u = b.op("Add", [x, _scalar(b, 1, v)])
    d = b.op("Sub", [u, _scalar(b, 1, v)])
    ratio = b.op("Div", [b.op("Mul", [b.op("Log", [u]), x]), d])
    inner = b.op("Where", [b.op("IsInf", [u]), u, ratio])
    return b.op("Where", [b.op("Equal", [d, _scalar(b, 0, v)]), x, inner])


def _expm1(b, node, x):
    """Kahan's expm1: ``(u - 1) * x / log(u)`` with ``u = exp(x)``."""
    v = node.inputs[0]
    u = b.op("Exp", [x])
    d = b.op("Sub", [u, _scalar(b, 1, v)])
    ratio = b.op("Div", [b.op("Mul", [d, x]), b.op("Log", [u])])
    inner = b.op("Where", [b.op("IsInf", [u]), u, ratio])
    inner = b.op("Where", [b.op("Equal", [d, _scalar(b, -1, v)]), d, inner])
    return b.op("Where", [b.op("Equal", [u, _scalar(b, 1, v)]), x, inner])


def _fmod_fix(b, v, y, r):
    """(r, wrong): ``r`` a C remainder; ``wrong`` where NumPy's floored remainder differs from it."""
    zero = _scalar(b, 0, v)
    nonzero = b.op("Not", [b.op("Equal", [r, zero])])
    return b.op("And", [nonzero, b.op("Xor", [b.op("Less", [r, zero]), b.op("Less", [y, zero])])])


def _mod(b, node, x, y):
    v = node.inputs[0]
    if not v.dtype.is_floating:
        return b.op("Mod", [x, y], fmod=0)  # integers: the sign of the divisor, as NumPy
    r = b.op("Mod", [x, y], fmod=1)
    return b.op("Where", [_fmod_fix(b, v, y, r), b.op("Add", [r, y]), r])


def _floordiv(b, node, x, y):
    v = node.inputs[0]
    if not v.dtype.is_floating:  # x - floored_mod(x, y) is a multiple of y: exact
        return b.op("Div", [b.op("Sub", [x, b.op("Mod", [x, y], fmod=0)]), y])
    # NumPy's npy_divmod: (x - fmod(x, y)) / y, one less where the remainder changes sign, then rounded
    r = b.op("Mod", [x, y], fmod=1)
    div = b.op("Div", [b.op("Sub", [x, r]), y])
    div = b.op("Where", [_fmod_fix(b, v, y, r), b.op("Sub", [div, _scalar(b, 1, v)]), div])
    floor = b.op("Floor", [div])
    up = b.op("Greater", [b.op("Sub", [div, floor]), _scalar(b, 0.5, v)])
    result = b.op("Where", [up, b.op("Add", [floor, _scalar(b, 1, v)]), floor])
    plain = b.op("Div", [x, y])  # a zero divisor: NumPy's x / y (inf or nan)
    return b.op("Where", [b.op("Equal", [y, _scalar(b, 0, v)]), plain, result])


def _sign_bit(b, v, x):
    """Where ``x`` is negative, -0.0 included (1 / -0.0 is -inf)."""
    zero = _scalar(b, 0, v)
    negative_zero = b.op("And", [b.op("Equal", [x, zero]), b.op("Less", [b.op("Div", [_scalar(b, 1, v), x]), zero])])
    return b.op("Or", [b.op("Less", [x, zero]), negative_zero])


def _atan2(b, node, y, x):
    """atan(y / x), plus or minus pi left of the y axis; zeros and infinities as C's atan2."""
    v = node.inputs[0]
    negative_y, negative_x = _sign_bit(b, v, y), _sign_bit(b, v, x)
    pi = _scalar(b, math.pi, v)
    half_turn = b.op("Where", [negative_y, b.op("Neg", [pi]), pi])
    zero = _scalar(b, 0, v)
    turn = b.op("Where", [negative_x, half_turn, zero])
    result = b.op("Add", [b.op("Atan", [b.op("Div", [y, x])]), turn])
    both_zero = b.op("And", [b.op("Equal", [x, zero]), b.op("Equal", [y, zero])])
    result = b.op("Where", [both_zero, b.op("Where", [negative_x, half_turn, y]), result])
    quarter = b.op("Where", [negative_x, _scalar(b, 3 * math.pi / 4, v), _scalar(b, math.pi / 4, v)])
    corner = b.op("Where", [negative_y, b.op("Neg", [quarter]), quarter])
    both_inf = b.op("And", [b.op("IsInf", [x]), b.op("IsInf", [y])])
    return b.op("Where", [both_inf, corner, result])


def _where(b, node, c, x, y):
    if node.outputs[0].dtype.is_bool:  # ONNX Runtime has no boolean Where
        return b.op("Or", [b.op("And", [c, x]), b.op("And", [b.op("Not", [c]), y])])
    return b.op("Where", [c, x, y])


def _cast(b, node, x):
    return b.op("Cast", [x], to=b.onnx_type(node.outputs[0].dtype))


# -- creation -----------------------------------------------------------------------------------
def _constant(b, node):
    return b.const(np.asarray(node.attrs["value"]))


def _computed(b, node, *inputs):  # fill, range, eye: their static attributes give the array
    return b.const(b.evaluate(node))


def _full_like(b, node, x):
    value = _const(b, node.attrs["value"], node.outputs[0].dtype.numpy)
    return b.op("Expand", [value, b.op("Shape", [x])])


# -- reductions ---------------------------------------------------------------------------------
def _reduction(op_type):
    def rule(b, node, x):
        axes, keepdims = node.attrs["axes"], node.attrs["keepdims"]
        if not axes:
            return b.op("Identity", [x])
        return b.op(op_type, [x, _ints(b, axes)], keepdims=int(keepdims))

    return rule


def _arg(op_type):
    def rule(b, node, x):
        index = b.op(op_type, [x], axis=node.attrs["axis"], keepdims=0, select_last_index=0)
        return _cast(b, node, index) if node.outputs[0].dtype != int64 else index

    return rule


def _dim_size(b, node, x):
    sizes = b.op("Gather", [b.op("Shape", [x]), _ints(b, node.attrs["axes"])], axis=0)
    return _cast(b, node, b.op("ReduceProd", [sizes], keepdims=0))


def _cumsum(b, node, x):
    axis = _const(b, node.attrs["axis"], np.int64)
    return b.op("CumSum", [x, axis], exclusive=int(node.attrs["exclusive"]), reverse=int(node.attrs["reverse"]))


def _cumprod(b, node, x):
    """A scan in log2(n) steps (Hillis-Steele): each multiplies in the product ``shift`` places back."""
    axis, v = node.attrs["axis"], node.inputs[0]
    (n,) = b.static_shape(v, "the scanned axis")[axis:axis + 1]
    if n == 0:
        return b.op("Identity", [x])

    def flip(t):
        return b.op("Slice", [t, _ints(b, [-1]), _ints(b, [INT_MIN]), _ints(b, [axis]), _ints(b, [-1])])

    def shifted(t, k):  # t moved k places along the axis, ones coming in
        pads = [0] * (2 * v.ndim)
        pads[axis] = k
        head = b.op("Slice", [t, _ints(b, [0]), _ints(b, [n - k]), _ints(b, [axis])])
        return b.op("Pad", [head, _ints(b, pads), _scalar(b, 1, v)])

    x = flip(x) if node.attrs["reverse"] else x
    x = shifted(x, 1) if node.attrs["exclusive"] else x
    shift = 1
    while shift < n:
        x = b.op("Mul", [x, shifted(x, shift)])
        shift *= 2
    return flip(x) if node.attrs["reverse"] else x


# -- shapes -------------------------------------------------------------------------------------
def _reshape(b, node, x):
    shape = node.attrs["shape"]
    return b.op("Reshape", [x, _ints(b, shape)], allowzero=int(0 in shape))  # 0 is a size, not "copy"


def _reshape_like(b, node, x, like):
    return b.op("Reshape", [x, b.op("Shape", [like])], allowzero=1)


def _broadcast_to(b, node, x):
    shape = node.attrs["shape"]
    if 0 in shape:  # nothing to broadcast (and ONNX Runtime's Expand keeps a 1 against a 0)
        return b.const(np.zeros(shape, node.outputs[0].dtype.numpy))
    return b.op("Expand", [x, _ints(b, shape)])


def _broadcast_like(b, node, x, like):
    return b.op("Expand", [x, b.op("Shape", [like])])


def _expand_dims(b, node, x):
    return b.op("Unsqueeze", [x, _ints(b, node.attrs["axes"])])


def _squeeze(b, node, x):
    return b.op("Squeeze", [x, _ints(b, node.attrs["axes"])])


def _transpose(b, node, x):
    return b.op("Transpose", [x], perm=list(node.attrs["perm"]))


def _concat(b, node, *xs):
    return b.op("Concat", list(xs), axis=node.attrs["axis"])


def _split(b, node, x):
    sizes = node.attrs["sizes"]
    return b.op("Split", [x, _ints(b, sizes)], outputs=len(sizes), axis=node.attrs["axis"])


# -- indexing -----------------------------------------------------------------------------------
def _getitem(b, node, x):
    """Slices (ints as one-element slices, then squeezed), then the new axes of ``None``."""
    starts, ends, steps, axes, squeezed, new_axes = [], [], [], [], [], []
    axis = position = 0
    for item in node.attrs["index"]:
        if item is None:
            new_axes.append(position)
            position += 1
            continue
        if isinstance(item, slice):
            step = item.step or 1
            if (item.start, item.stop, step) != (None, None, 1):
                starts.append(item.start if item.start is not None else 0 if step > 0 else INT_MAX)
                ends.append(item.stop if item.stop is not None else INT_MAX if step > 0 else INT_MIN)
                steps.append(step)
                axes.append(axis)
            position += 1
        else:
            starts.append(item)
            ends.append(item + 1 if item != -1 else INT_MAX)
            steps.append(1)
            axes.append(axis)
            squeezed.append(axis)
        axis += 1
    if axes:
        x = b.op("Slice", [x, _ints(b, starts), _ints(b, ends), _ints(b, axes), _ints(b, steps)])
    if squeezed:
        x = b.op("Squeeze", [x, _ints(b, squeezed)])
    if new_axes:
        x = b.op("Unsqueeze", [x, _ints(b, new_axes)])
    return x if axes or squeezed or new_axes else b.op("Identity", [x])


def _scatter_slice(b, node, base, update):
    shape = b.static_shape(node.inputs[0], "the base of a sliced assignment")
    flat = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[node.attrs["index"]]
    flat_base = b.op("Reshape", [base, _ints(b, [-1])])
    flat_update = b.op("Reshape", [update, _ints(b, [-1])])
    scattered = b.op("ScatterElements", [flat_base, _ints(b, flat.reshape(-1)), flat_update], axis=0)
    return b.op("Reshape", [scattered, _ints(b, shape)], allowzero=1)


def _gather(b, node, params, indices):
    return b.op("Gather", [params, indices], axis=node.attrs["axis"])


def _scatter_add(b, node, base, indices, updates):
    """ScatterND adding along axis 0, the axis moved to the front of ``base`` and ``updates``."""
    axis, rank, k = node.attrs["axis"], node.inputs[0].ndim, node.inputs[1].ndim
    base_perm = [axis, *range(axis), *range(axis + 1, rank)]
    update_perm = [*range(axis, axis + k), *range(axis), *range(axis + k, rank - 1 + k)]
    moved = b.op("Transpose", [base], perm=base_perm) if axis else base
    moved_updates = b.op("Transpose", [updates], perm=update_perm) if axis else updates
    where = b.op("Unsqueeze", [b.op("Cast", [indices], to=b.onnx_type(int64)), _ints(b, [-1])])
    added = b.op("ScatterND", [moved, where, moved_updates], reduction="add")
    return b.op("Transpose", [added], perm=list(np.argsort(base_perm))) if axis else added


# -- windows and layouts ------------------------------------------------------------------------
def _extract_patches(b, node, x):
    """Zero padding, then one strided slice per window position, concatenated along the channels."""
    (kh, kw), (sh, sw), (top, bottom, left, right) = (node.attrs[k] for k in ("sizes", "strides", "padding"))
    _, oh, ow, _ = node.outputs[0].shape
    if any(node.attrs["padding"]):
        x = b.op("Pad", [x, _ints(b, [0, top, left, 0, 0, bottom, right, 0]), _scalar(b, 0, node.inputs[0])])
    taps = []
    for a in range(kh):
        for c in range(kw):
            ends = [a + sh * (oh - 1) + 1, c + sw * (ow - 1) + 1]
            taps.append(b.op("Slice", [x, _ints(b, [a, c]), _ints(b, ends), _ints(b, [1, 2]), _ints(b, [sh, sw])]))
    return taps[0] if len(taps) == 1 else b.op("Concat", taps, axis=3)


def _remap(b, node, x):
    """Each axis laid out by its rule: a gather of the source indices where the size is known, Pad
    (constant or reflect) and Tile otherwise; constant padding last, as one Pad."""
    v = node.inputs[0]
    rules, value = node.attrs["rules"], node.attrs["value"]
    pads = [0] * (2 * v.ndim)
    for axis, (rule, n, m) in enumerate(zip(rules, v.shape, node.outputs[0].shape)):
        kind = rule[0]
        if kind == "keep":
            continue
        if kind == "pad" and rule[3] == "constant":
            pads[axis], pads[v.ndim + axis] = rule[1], rule[2]
        elif isinstance(n, int):
            indices, _ = source_indices(rule, n, m)
            x = b.op("Gather", [x, _ints(b, indices)], axis=axis)
        elif kind == "pad" and rule[3] == "reflect":
            axis_pads = [0] * (2 * v.ndim)
            axis_pads[axis], axis_pads[v.ndim + axis] = rule[1], rule[2]
            x = b.op("Pad", [x, _ints(b, axis_pads)], mode="reflect")
        elif kind == "tile":
            x = b.op("Tile", [x, _ints(b, [rule[1] if a == axis else 1 for a in range(v.ndim)])])
        else:
            raise b.error(f"a {kind} rule ({rule}) on axis {axis}, whose size is known only at run time")
    if any(pads):
        x = b.op("Pad", [x, _ints(b, pads), _scalar(b, value, v)])
    return x


# -- functions, variables, control flow -----------------------------------------------------------
def _call(b, node, *xs):
    return b.inline(node.attrs["function"].graph, list(xs))


def _custom_gradient(b, node, *xs):  # the forward results are the inputs; the gradient is not exported
    return [b.op("Identity", [x]) for x in xs[:len(node.outputs)]]


def _read_variable(b, node):
    return b.variable(node.attrs["var"])


def _cond(b, node, pred, *operands):
    then_branch = b.region(node.attrs["then_branch"], list(operands), "then")
    else_branch = b.region(node.attrs["else_branch"], list(operands), "else")
    return b.op("If", [pred], outputs=len(node.outputs), then_branch=then_branch, else_branch=else_branch)


def _while_loop(b, node, *operands):
    """ONNX's Loop tests its condition after each iteration: the first test runs before it."""
    cond, body, limit = node.attrs["cond"], node.attrs["body"], node.attrs["maximum_iterations"]
    (first,) = b.inline(cond, list(operands))
    count = "" if limit is None else _const(b, limit, np.int64)
    n = len(body.outputs)
    loop_body = b.loop_body(cond, body, list(operands[n:]))
    results = b.op("Loop", [count, first, *operands[:n]], outputs=n, body=loop_body)
    return results if n > 1 else [results]


EXPORTERS = {
    **{op: _same(onnx_op) for op, onnx_op in {**UNARY, **BINARY}.items()},
    **{op: _reduction(onnx_op) for op, onnx_op in REDUCTIONS.items()},
    "relu": _relu, "round": _round, "square": _square, "rsqrt": _rsqrt, "is_finite": _is_finite,
    "not_equal": _not_equal, "log1p": _log1p, "expm1": _expm1, "mod": _mod, "floordiv": _floordiv,
    "atan2": _atan2, "where": _where, "cast": _cast,
    "constant": _constant, "fill": _computed, "range": _computed, "eye": _computed, "full_like": _full_like,
    "argmax": _arg("ArgMax"), "argmin": _arg("ArgMin"), "dim_size": _dim_size, "cumsum": _cumsum, "cumprod": _cumprod,
    "reshape": _reshape, "reshape_like": _reshape_like, "broadcast_to": _broadcast_to,
    "broadcast_like": _broadcast_like, "expand_dims": _expand_dims, "squeeze": _squeeze,
    "transpose": _transpose, "concat": _concat, "split": _split,
    "getitem": _getitem, "scatter_slice": _scatter_slice, "gather": _gather, "scatter_add": _scatter_add,
    "extract_patches": _extract_patches, "remap": _remap,
    "call": _call, "custom_gradient": _custom_gradient, "read_variable": _read_variable,
    "cond": _cond, "while_loop": _while_loop,
}
