"""Lowering of the neural-network ops: Philox random numbers and image patches (im2col and its
adjoint). ``ir/ops/random.py`` and ``ir/ops/conv.py`` specify what they compute."""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from graphc.ir.graph import Node

from . import scalar
from .lowering import node_code
from .emitter import Emitter
from .scalar import I64

I32 = ir.IntType(32)
ZERO, ONE = ir.Constant(I64, 0), ir.Constant(I64, 1)
_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_KEY_BUMPS = (0x9E3779B9, 0xBB67AE85)


def _philox(b: ir.IRBuilder, counter: list, key: list) -> list:
    """Philox-4x32-10 of four i32 counter words under two i32 key words."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(10):
        if r:
            k0 = b.add(k0, ir.Constant(I32, _KEY_BUMPS[0]))
            k1 = b.add(k1, ir.Constant(I32, _KEY_BUMPS[1]))
        p0 = b.mul(b.zext(c0, I64), ir.Constant(I64, _MULTIPLIERS[0]))
        p1 = b.mul(b.zext(c2, I64), ir.Constant(I64, _MULTIPLIERS[1]))
        hi0, lo0 = b.trunc(b.lshr(p0, ir.Constant(I64, 32)), I32), b.trunc(p0, I32)
        hi1, lo1 = b.trunc(b.lshr(p1, ir.Constant(I64, 32)), I32), b.trunc(p1, I32)
        c0, c1, c2, c3 = b.xor(b.xor(hi1, c1), k0), lo1, b.xor(b.xor(hi0, c3), k1), lo0
    return [c0, c1, c2, c3]


@node_code("random_uniform")
@node_code("random_uniform_like")
def _lower_random(em: Emitter, node: Node):
    """Block by block, four words each: float32 and float16 take one word per element, float64 two."""
    key, out = node.inputs[0], node.outputs[0]
    b = em.builder
    key_ptr, out_ptr = em.pointer(key), em.pointer(out)
    seed, counter = b.load(em.element(key_ptr, ZERO)), b.load(em.element(key_ptr, ONE))
    halves = lambda v: [b.trunc(v, I32), b.trunc(b.lshr(v, ir.Constant(I64, 32)), I32)]  # noqa: E731
    key_words = halves(seed)
    counter_words = halves(counter)
    size = em.product(out.type.shape)
    bits = np.finfo(out.dtype.numpy).nmant + 1  # significant bits: float32 24, float16 11, float64 53
    per_block = 4 if bits <= 24 else 2
    blocks = b.sdiv(b.add(size, ir.Constant(I64, per_block - 1)), ir.Constant(I64, per_block))
    ty = scalar.register_type(out.dtype)
    with em.loop(ZERO, blocks, "rb") as block:
        words = _philox(b, halves(block) + counter_words, key_words)
        if per_block == 4:
            values = [b.fmul(b.uitofp(b.lshr(w, ir.Constant(I32, 32 - bits)), ty), ir.Constant(ty, 2.0 ** -bits)) for w in words]
        else:
            values = []
            for high, low in ((words[0], words[1]), (words[2], words[3])):
                h = b.zext(b.lshr(high, ir.Constant(I32, 5)), I64)
                l_ = b.zext(b.lshr(low, ir.Constant(I32, 6)), I64)
                m = b.add(b.shl(h, ir.Constant(I64, 26)), l_)
                values.append(b.fmul(b.uitofp(m, ty), ir.Constant(ty, 2.0 ** -53)))
        for k, value in enumerate(values):
            index = b.add(b.mul(block, ir.Constant(I64, per_block)), ir.Constant(I64, k))
            with b.if_then(b.icmp_signed("<", index, size)):
                scalar.store(b, value, em.element(out_ptr, index), out.dtype)


def _patch_loops(em: Emitter, node: Node, image, patches, body, images):
    """For every element of the patches of the images in ``range(*images)``: ``body(image_offset,
    patch_offset, inside)`` where ``inside`` says whether the element comes from the image (not the
    zero padding)."""
    b = em.builder
    (kh, kw), (sh, sw) = node.attrs["sizes"], node.attrs["strides"]
    top, _, left, _ = node.attrs["padding"]
    n, h, w, c = image.type.shape
    _, oh, ow, _ = patches.type.shape
    H, W, C = (ir.Constant(I64, d) for d in (h, w, c))
    with em.loop(*images, "pn") as ni:
        with em.loop(ZERO, ir.Constant(I64, oh), "pi") as i:
            with em.loop(ZERO, ir.Constant(I64, ow), "pj") as j:
                patch_base = b.mul(b.add(b.mul(b.add(b.mul(ni, ir.Constant(I64, oh)), i), ir.Constant(I64, ow)), j),
                                   ir.Constant(I64, kh * kw * c))
                for a in range(kh):
                    y = b.add(b.mul(i, ir.Constant(I64, sh)), ir.Constant(I64, a - top))
                    for bb in range(kw):
                        x = b.add(b.mul(j, ir.Constant(I64, sw)), ir.Constant(I64, bb - left))
                        inside = b.and_(
                            b.and_(b.icmp_signed(">=", y, ZERO), b.icmp_signed("<", y, H)),
                            b.and_(b.icmp_signed(">=", x, ZERO), b.icmp_signed("<", x, W)),
                        )
                        pixel = b.mul(b.add(b.mul(b.add(b.mul(ni, H), y), W), x), C)
                        patch = b.add(patch_base, ir.Constant(I64, (a * kw + bb) * c))
                        with em.loop(ZERO, C, "pc") as ci:
                            body(b.add(pixel, ci), b.add(patch, ci), inside)


@node_code("extract_patches", splits=True)
def _lower_extract_patches(em: Emitter, node: Node):
    """Each thread the patches of some images."""
    x, out = node.inputs[0], node.outputs[0]
    b = em.builder
    src, dst = em.pointer(x), em.pointer(out)
    zero = ir.Constant(scalar.memory_type(x.dtype), 0)

    def body(pixel, patch, inside):
        safe = b.select(inside, pixel, ZERO)
        b.store(b.select(inside, b.load(em.element(src, safe)), zero), em.element(dst, patch))

    _patch_loops(em, node, x, out, body, em.chunk(em.dim(x.type.shape[0])))


@node_code("extract_patches_transpose", splits=True)
def _lower_extract_patches_transpose(em: Emitter, node: Node):
    """Each thread the images whose patches it adds up (their patches overlap no other image's)."""
    patches, out = node.inputs[0], node.outputs[0]
    b = em.builder
    images = em.chunk(em.dim(out.type.shape[0]))
    image_size = em.product(out.type.shape[1:])
    elements = tuple(b.mul(i, image_size) for i in images)
    em.scatter_add(out, patches, lambda body: _patch_loops(em, node, out, patches, body, images), elements)
