"""Image patches (NHWC) and the convolution and pooling built on them.

Two primitive ops, adjoint to each other and both linear:

- ``extract_patches(x; sizes=(kh, kw), strides=(sh, sw), padding=(top, bottom, left, right))``:
  ``x`` is ``[N, H, W, C]`` with H, W, C known; the result is ``[N, OH, OW, kh*kw*C]`` with
  ``OH = (top + H + bottom - kh) // sh + 1`` (OW likewise) and
  ``out[n, i, j, (a*kw + b)*C + c] = xp[n, i*sh + a, j*sw + b, c]``, where ``xp`` is ``x`` with
  ``top``/``bottom`` rows and ``left``/``right`` columns of zeros added (TensorFlow's
  ``extract_patches`` layout).
- ``extract_patches_transpose(p; image_shape=(H, W, C), sizes, strides, padding)``: the adjoint,
  ``[N, OH, OW, kh*kw*C] -> [N, H, W, C]``: every patch element is added back at the position it
  was read from; elements read from the zero padding are dropped.

``conv2d`` is ``extract_patches`` followed by a matmul with the ``[kh*kw*C, F]``-reshaped filters
(im2col); dilated filters are filters with zeros gathered between their taps; ``conv1d`` is a
``conv2d`` of height 1, ``depthwise_conv2d`` the patches contracted per channel (an einsum), and
``conv2d_transpose`` the adjoint of ``conv2d`` (the filters' product, then
``extract_patches_transpose``). ``max_pool2d`` and ``avg_pool2d`` reduce the patches (or, for
non-overlapping windows without padding, a reshape of the input) over each window.
"""
from __future__ import annotations

import numpy as np

from ..arguments import as_int, as_shape, described, is_list
from ..dispatch import bind, type_of
from ..errors import InvalidArgumentError, ShapeError
from ..types import TensorType
from . import elementwise as ew
from . import reduction as red
from .common import define, promote, shape_of, user_op
from .creation import zeros_like
from .einsum import einsum
from .indexing import gather, getitem
from .linalg import matmul
from .shape import concat, expand_dims, reshape, squeeze, swap_last_axes


# -- geometry -----------------------------------------------------------------------------------
def pair(value, what: str) -> tuple[int, int]:
    """A positive int or a pair of them, as a pair."""
    if not is_list(value):
        return (as_int(value, what, low=1),) * 2
    if len(value) != 2:
        raise InvalidArgumentError(f"{what} must be a positive int or a pair of them, got {described(value)}")
    return as_int(value[0], f"{what}[0]", low=1), as_int(value[1], f"{what}[1]", low=1)


def output_size(size: int, window: int, stride: int, pad_before: int, pad_after: int) -> int:
    return (pad_before + size + pad_after - window) // stride + 1


def explicit_padding(padding, image: tuple[int, int], sizes, strides) -> tuple[int, int, int, int]:
    """``"valid"``, ``"same"`` (TensorFlow's rule: output ``ceil(size / stride)``, the odd pad at the
    end) or explicit ``(top, bottom, left, right)``, as explicit amounts."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode == "same":
            pads = []
            for size, window, stride in zip(image, sizes, strides):
                total = max((-(-size // stride) - 1) * stride + window - size, 0)
                pads += [total // 2, total - total // 2]
            return tuple(pads)
        raise InvalidArgumentError(f"padding must be 'valid' or 'same', got {padding!r}")
    pads = as_shape(padding, "padding")
    if len(pads) != 4:
        raise InvalidArgumentError(f"explicit padding must be 4 ints >= 0 (top, bottom, left, right), got {padding!r}")
    return pads


def _geometry(image_shape, sizes, strides, padding) -> tuple[int, int]:
    (h, w), (kh, kw), (sh, sw) = image_shape, sizes, strides
    top, bottom, left, right = padding
    oh, ow = output_size(h, kh, sh, top, bottom), output_size(w, kw, sw, left, right)
    if oh <= 0 or ow <= 0:
        raise ShapeError(
            f"a {kh}x{kw} window does not fit in a {h}x{w} image padded by {list(padding)}: no output positions"
        )
    return oh, ow


def _image_dims(t: TensorType) -> tuple[int, int, int]:
    if t.ndim != 4:
        raise ShapeError(f"expected images [batch, height, width, channels], got {t}")
    h, w, c = t.shape[1:]
    if not all(isinstance(d, int) for d in (h, w, c)):
        raise ShapeError(f"height, width and channels must be known when tracing, got {t}")
    return h, w, c


# -- the primitives ---------------------------------------------------------------------------------
def _extract_patches_infer(types, sizes, strides, padding):
    (t,) = types
    h, w, c = _image_dims(t)
    oh, ow = _geometry((h, w), sizes, strides, padding)
    return [TensorType((t.shape[0], oh, ow, sizes[0] * sizes[1] * c), t.dtype)]


def _extract_patches_transpose_infer(types, image_shape, sizes, strides, padding):
    (t,) = types
    h, w, c = image_shape
    oh, ow = _geometry((h, w), sizes, strides, padding)
    expected = (oh, ow, sizes[0] * sizes[1] * c)
    if t.ndim != 4 or tuple(t.shape[1:]) != expected:
        raise ShapeError(f"expected patches [batch, {', '.join(map(str, expected))}] for images [{h}, {w}, {c}], got {t}")
    return [TensorType((t.shape[0], h, w, c), t.dtype)]


define(
    "extract_patches", _extract_patches_infer, linear=True,
    vjp=lambda cts, inputs, outputs, sizes, strides, padding: [
        bind("extract_patches_transpose", cts[0], image_shape=tuple(inputs[0].shape[1:]),
             sizes=sizes, strides=strides, padding=padding)
    ],
)
define(
    "extract_patches_transpose", _extract_patches_transpose_infer, linear=True,
    vjp=lambda cts, inputs, outputs, image_shape, sizes, strides, padding: [
        bind("extract_patches", cts[0], sizes=sizes, strides=strides, padding=padding)
    ],
)


@user_op("extract_patches")
def extract_patches(images, sizes, strides=1, padding="valid"):
    """The ``sizes`` windows of NHWC ``images`` at ``strides``, flattened into the last axis:
    ``[N, OH, OW, kh*kw*C]``; ``padding`` is ``"valid"``, ``"same"`` or (top, bottom, left, right)."""
    (x,) = promote(images)
    h, w, _ = _image_dims(_type(x))
    sizes, strides = pair(sizes, "sizes"), pair(strides, "strides")
    pads = explicit_padding(padding, (h, w), sizes, strides)
    return bind("extract_patches", x, sizes=sizes, strides=strides, padding=pads)


@user_op("extract_patches_transpose")
def extract_patches_transpose(patches, image_shape, sizes, strides=1, padding="valid"):
    """The adjoint of ``extract_patches`` for images of ``image_shape`` (height, width, channels):
    each patch element is added back where it was read from."""
    (p,) = promote(patches)
    h, w, c = (int(d) for d in image_shape)
    sizes, strides = pair(sizes, "sizes"), pair(strides, "strides")
    pads = explicit_padding(padding, (h, w), sizes, strides)
    return bind("extract_patches_transpose", p, image_shape=(h, w, c), sizes=sizes, strides=strides, padding=pads)


def _type(x) -> TensorType:
    return type_of(x)


# -- convolution --------------------------------------------------------------------------------
@user_op("conv2d")
def conv2d(input, filters, strides=1, padding="valid", dilations=1):
    """2-D convolution (cross-correlation, as in TensorFlow) of NHWC ``input`` with ``filters``
    ``[kh, kw, C, F]``; ``padding`` is ``"valid"`` or ``"same"``; ``dilations`` spread the filter
    taps apart (strides must then be 1, as in TensorFlow). Result ``[N, OH, OW, F]``."""
    x, k, strides, pads, (oh, ow) = _windows_of(input, filters, strides, padding, dilations, "filters", "out_channels")
    kh, kw, c, f = shape_of(k)
    if (kh, kw, strides, pads) == (1, 1, (1, 1), (0, 0, 0, 0)):
        patches = x
    else:
        patches = bind("extract_patches", x, sizes=(kh, kw), strides=strides, padding=pads)
    kernel = reshape(k, [kh * kw * c, f])
    batch = shape_of(x)[0]
    if isinstance(batch, int):  # one 2-D matmul over every position
        return reshape(matmul(reshape(patches, [-1, kh * kw * c]), kernel), [batch, oh, ow, f])
    return matmul(patches, kernel)  # batch and rows broadcast over a batch known only at run time


@user_op("conv1d")
def conv1d(input, filters, stride=1, padding="valid", dilations=1):
    """1-D convolution of ``input`` ``[N, W, C]`` with ``filters`` ``[k, C, F]``: ``[N, OW, F]``."""
    x, k = promote(input, filters, to_float=True)
    if len(shape_of(x)) != 3 or len(shape_of(k)) != 3:
        raise ShapeError(f"expected input [batch, width, channels] and filters [width, in, out], got "
                         f"{list(shape_of(x))} and {list(shape_of(k))}")
    stride, rate = (_one_or_three(v, what) for v, what in ((stride, "stride"), (dilations, "dilations")))
    return squeeze(conv2d(expand_dims(x, 1), expand_dims(k, 0), (1, stride), padding, (1, rate)), [1])


@user_op("depthwise_conv2d")
def depthwise_conv2d(input, filter, strides=1, padding="valid", dilations=1):
    """Each of the C channels of NHWC ``input`` convolved with its own ``M`` filters of ``filter``
    ``[kh, kw, C, M]``: ``[N, OH, OW, C*M]``, channel ``c*M + m`` from input channel c."""
    x, k, strides, pads, (oh, ow) = _windows_of(input, filter, strides, padding, dilations, "filter", "multiplier")
    kh, kw, c, m = shape_of(k)
    patches = bind("extract_patches", x, sizes=(kh, kw), strides=strides, padding=pads)
    batch = shape_of(x)[0] if isinstance(shape_of(x)[0], int) else -1
    per_tap = reshape(patches, [batch, oh, ow, kh * kw, c])
    return reshape(einsum("nhwkc,kcm->nhwcm", per_tap, reshape(k, [kh * kw, c, m])), [batch, oh, ow, c * m])


@user_op("conv2d_transpose")
def conv2d_transpose(input, filters, output_shape, strides=1, padding="same", dilations=1):
    """The adjoint of ``conv2d`` (the gradient with respect to its input), as
    ``tf.nn.conv2d_transpose``: ``input`` ``[N, H, W, F]``, ``filters`` ``[kh, kw, C, F]``,
    ``output_shape`` ``[N, OH, OW, C]`` (N may be None): a conv2d of an ``[OH, OW]`` image with the
    same filters, strides and padding has H x W positions."""
    x, k = promote(input, filters, to_float=True)
    h, w, f = _image_dims(_type(x))
    kshape = shape_of(k)
    if len(kshape) != 4 or kshape[3] != f:
        raise ShapeError(f"filters must be [height, width, out_channels, {f}] for {f}-channel input, got {list(kshape)}")
    if not is_list(output_shape) or len(output_shape) != 4:
        raise InvalidArgumentError(f"output_shape must be 4 sizes [batch, height, width, channels], got "
                                   f"{described(output_shape)}")
    oh, ow, c = (as_int(d, f"output_shape[{i + 1}]", low=1) for i, d in enumerate(output_shape[1:]))
    if c != kshape[2]:
        raise ShapeError(f"output_shape has {c} channels, the filters {kshape[2]}")
    strides = _pair_or_four(strides, "strides")
    k = _dilated(k, _dilations(dilations, strides))
    kh, kw = shape_of(k)[:2]
    pads = explicit_padding(padding, (oh, ow), (kh, kw), strides)
    if _geometry((oh, ow), (kh, kw), strides, pads) != (h, w):
        raise ShapeError(f"output_shape {list(output_shape)} does not fit: a convolution of a {oh}x{ow} image with "
                         f"{kh}x{kw} filters, strides {list(strides)} and padding {padding!r} has "
                         f"{'x'.join(map(str, _geometry((oh, ow), (kh, kw), strides, pads)))} positions, the input {h}x{w}")
    patches = matmul(x, swap_last_axes(reshape(k, [kh * kw * c, f])))
    return bind("extract_patches_transpose", patches, image_shape=(oh, ow, c), sizes=(kh, kw), strides=strides,
                padding=pads)


def _windows_of(input, filters, strides, padding, dilations, what: str, last: str):
    """(input, dilated filters, strides, explicit padding, (OH, OW)) of a 2-D convolution of NHWC
    ``input``, the filters checked to be ``[kh, kw, C, last]``."""
    x, k = promote(input, filters, to_float=True)
    h, w, c = _image_dims(_type(x))
    kshape = shape_of(k)
    if len(kshape) != 4 or kshape[2] != c:
        raise ShapeError(f"{what} must be [height, width, {c}, {last}] for {c}-channel input, got {list(kshape)}")
    strides = _pair_or_four(strides, "strides")
    k = _dilated(k, _dilations(dilations, strides))
    pads = explicit_padding(padding, (h, w), shape_of(k)[:2], strides)
    return x, k, strides, pads, _geometry((h, w), shape_of(k)[:2], strides, pads)


def _pair_or_four(value, what: str) -> tuple[int, int]:
    """An int, a pair, or TensorFlow's four ``[1, height, width, 1]``."""
    if is_list(value) and len(value) == 4:
        if as_int(value[0], f"{what}[0]") != 1 or as_int(value[3], f"{what}[3]") != 1:
            raise InvalidArgumentError(f"{what} as 4 ints must be [1, height, width, 1], got {described(value)}")
        value = value[1:3]
    return pair(value, what)


def _one_or_three(value, what: str) -> int:
    """An int, or TensorFlow's [s] or [1, s, 1] for a 1-D convolution."""
    if is_list(value):
        if len(value) == 1:
            return as_int(value[0], f"{what}[0]", low=1)
        if len(value) == 3 and as_int(value[0], f"{what}[0]") == 1 and as_int(value[2], f"{what}[2]") == 1:
            return as_int(value[1], f"{what}[1]", low=1)
        raise InvalidArgumentError(f"{what} must be an int, [n] or [1, n, 1], got {described(value)}")
    return as_int(value, what, low=1)


def _dilations(dilations, strides: tuple[int, int]) -> tuple[int, int]:
    rates = _pair_or_four(1 if dilations is None else dilations, "dilations")
    if rates != (1, 1) and strides != (1, 1):
        raise InvalidArgumentError(f"dilations {list(rates)} need strides of 1 (as in TensorFlow), got {list(strides)}")
    return rates


def _dilated(k, rates: tuple[int, int]):
    """Filters ``[kh, kw, ...]`` with ``rate - 1`` zeros between their taps along each spatial axis,
    gathered from the filters and a slice of zeros: exact for any values, and differentiable."""
    for axis, rate in enumerate(rates):
        n = shape_of(k)[axis]
        if rate == 1 or n == 1:
            continue
        zero = zeros_like(getitem(k, (slice(None),) * axis + (slice(0, 1),)))
        taps = [a // rate if a % rate == 0 else n for a in range((n - 1) * rate + 1)]
        k = gather(concat([k, zero], axis), np.asarray(taps, np.int32), axis=axis)
    return k


# -- pooling --------------------------------------------------------------------------------------
def _valid_windows(image, sizes, strides, pads) -> np.ndarray:
    """bool [OH, OW, kh*kw, 1]: which window elements lie inside the image (not in the padding)."""
    oh, ow = _geometry(image, sizes, strides, pads)
    inside = []
    for size, out, window, stride, before in zip(image, (oh, ow), sizes, strides, pads[::2]):
        positions = np.arange(out)[:, None] * stride - before + np.arange(window)[None, :]
        inside.append((positions >= 0) & (positions < size))
    rows, cols = inside
    mask = rows[:, None, :, None] & cols[None, :, None, :]
    return mask.reshape(oh, ow, sizes[0] * sizes[1], 1)


def _pool(x, pool_size, strides, padding, kind: str):
    h, w, c = _image_dims(_type(x))
    sizes = pair(pool_size, "pool_size")
    strides = sizes if strides is None else pair(strides, "strides")
    pads = explicit_padding(padding, (h, w), sizes, strides)
    oh, ow = _geometry((h, w), sizes, strides, pads)
    reduce = red.reduce_max if kind == "max" else red.reduce_sum
    if pads == (0, 0, 0, 0) and strides == sizes:  # disjoint windows: a reshape, no copies
        if (oh * sizes[0], ow * sizes[1]) != (h, w):
            x = getitem(x, (slice(None), slice(0, oh * sizes[0]), slice(0, ow * sizes[1])))
        windows = reshape(x, [-1, oh, sizes[0], ow, sizes[1], c])
        pooled = reduce(windows, (2, 4))
        return pooled if kind == "max" else ew.divide(pooled, float(sizes[0] * sizes[1]))
    patches = bind("extract_patches", x, sizes=sizes, strides=strides, padding=pads)
    windows = reshape(patches, [-1, oh, ow, sizes[0] * sizes[1], c])
    if pads == (0, 0, 0, 0):
        pooled = reduce(windows, 3)
        return pooled if kind == "max" else ew.divide(pooled, float(sizes[0] * sizes[1]))
    inside = _valid_windows((h, w), sizes, strides, pads)
    if kind == "max":  # the padding never wins
        return red.reduce_max(ew.where(inside, windows, _lowest(x)), 3)
    counts = inside.sum(axis=2).astype(_type(x).dtype.numpy)  # average over the elements inside only
    return ew.divide(red.reduce_sum(windows, 3), counts)


def _lowest(x):
    dtype = _type(x).dtype
    return -np.inf if dtype.is_floating else int(np.iinfo(dtype.numpy).min)


@user_op("max_pool2d")
def max_pool2d(input, pool_size, strides=None, padding="valid"):
    """The maximum of each ``pool_size`` window of NHWC ``input`` (``strides`` default to the
    window). The gradient is shared equally among tied maxima."""
    (x,) = promote(input)
    return _pool(x, pool_size, strides, padding, "max")


@user_op("avg_pool2d")
def avg_pool2d(input, pool_size, strides=None, padding="valid"):
    """The mean of each ``pool_size`` window of NHWC ``input``; with ``"same"`` padding, over the
    window elements inside the image only (as TensorFlow)."""
    (x,) = promote(input, to_float=True)
    return _pool(x, pool_size, strides, padding, "avg")
