"""NumPy implementations of the neural-network ops: random numbers (``ir/ops/random.py``) and image patches
(``ir/ops/conv.py``); the op modules' docstrings specify what they compute."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from graphc.ir.ops import conv as _conv, random as _random  # noqa: F401  (registers the ops)
from graphc.ir.registry import implement

BACKEND = "numpy"

# -- Philox-4x32-10 -------------------------------------------------------------------------------
_MASK32 = np.uint64(0xFFFFFFFF)
_MULTIPLIERS = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_KEY_BUMPS = (0x9E3779B9, 0xBB67AE85)


def philox4x32(counter: tuple, key: tuple[int, int], rounds: int = 10) -> tuple:
    """The Philox-4x32 bijection of four uint64 arrays of 32-bit counter words under a 32-bit key pair."""
    c0, c1, c2, c3 = (np.asarray(c, np.uint64) for c in counter)
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + _KEY_BUMPS[0]) & 0xFFFFFFFF, (k1 + _KEY_BUMPS[1]) & 0xFFFFFFFF
        p0, p1 = _MULTIPLIERS[0] * c0, _MULTIPLIERS[1] * c2
        c0, c1, c2, c3 = (
            (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & _MASK32,
            (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & _MASK32,
        )
    return c0, c1, c2, c3


def random_words(key: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` 32-bit words (as uint64) of the stream of ``key`` = (seed, counter)."""
    seed, counter = (int(k) & 0xFFFFFFFFFFFFFFFF for k in key)
    blocks = np.arange(-(-count // 4), dtype=np.uint64)
    words = philox4x32(
        (blocks & _MASK32, blocks >> np.uint64(32), np.uint64(counter & 0xFFFFFFFF), np.uint64(counter >> 32)),
        (seed & 0xFFFFFFFF, seed >> 32),
    )
    return np.stack(np.broadcast_arrays(*words), axis=1).reshape(-1)[:count]


def _uniform(key, shape, dtype) -> np.ndarray:
    size = int(np.prod(shape, dtype=np.int64))
    bits = np.finfo(dtype.numpy).nmant + 1
    if bits <= 24:  # float32, float16: one word per element, its top bits (exact in the dtype)
        values = (random_words(key, size) >> np.uint64(32 - bits)).astype(np.float32) * np.float32(2.0 ** -bits)
    else:
        words = random_words(key, 2 * size).reshape(size, 2)
        high, low = words[:, 0] >> np.uint64(5), words[:, 1] >> np.uint64(6)
        values = (high * np.uint64(1 << 26) + low).astype(np.float64) * 2.0 ** -53
    return values.reshape(shape)


implement("random_uniform", BACKEND)(lambda key, shape, dtype: _uniform(key, shape, dtype))
implement("random_uniform_like", BACKEND)(lambda key, like, dtype: _uniform(key, like.shape, dtype))


# -- image patches --------------------------------------------------------------------------------
@implement("extract_patches", BACKEND)
def _extract_patches(x, sizes, strides, padding):
    (kh, kw), (sh, sw) = sizes, strides
    top, bottom, left, right = padding
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    windows = sliding_window_view(padded, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # [N, OH, OW, C, kh, kw]
    n, oh, ow, c = windows.shape[:4]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n, oh, ow, kh * kw * c)


@implement("extract_patches_transpose", BACKEND)
def _extract_patches_transpose(patches, image_shape, sizes, strides, padding):
    (h, w, c), (kh, kw), (sh, sw) = image_shape, sizes, strides
    top, bottom, left, right = padding
    n, oh, ow = patches.shape[:3]
    windows = patches.reshape(n, oh, ow, kh, kw, c)
    padded = np.zeros((n, top + h + bottom, left + w + right, c), patches.dtype)
    for a in range(kh):
        for b in range(kw):
            padded[:, a:a + sh * (oh - 1) + 1:sh, b:b + sw * (ow - 1) + 1:sw] += windows[:, :, :, a, b]
    return padded[:, top:top + h, left:left + w]
