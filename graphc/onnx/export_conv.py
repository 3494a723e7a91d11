"""Convolutions written as ONNX ``Conv``: graphc's im2col (``extract_patches`` then a matmul with the
``[kh*kw*C, F]``-reshaped filters) found in the graph and replaced by one ``Conv`` between two
``Transpose``s (graphc's images are NHWC, ONNX's NCHW), which ONNX consumers run far faster than the
patches' slices. Any other use of ``extract_patches`` keeps its own rule (``export_ops``).
"""
from __future__ import annotations

from dataclasses import dataclass

from graphc.ir.graph import Graph, Node, Value


@dataclass
class ConvPattern:
    images: Value  # [N, H, W, C]
    filters: Value  # [kh, kw, C, F]
    patches: Node  # the extract_patches node


def find_convolutions(graph: Graph) -> tuple[dict[Node, ConvPattern], set[Node]]:
    """``({node: the convolution it computes}, nodes the convolutions make unnecessary)``. A
    convolution is a matmul of float patches with a reshape of rank-4 filters ``[kh, kw, C, F]``:
    of the patches themselves (batch known at run time), or of the patches reshaped to rows, the
    product reshaped back to images (a known batch); every intermediate read by nothing else."""
    users = graph.users()

    def only_use(value) -> Node | None:
        readers = users[value]
        return readers[0] if len(readers) == 1 and value not in graph.outputs else None

    found: dict[Node, ConvPattern] = {}
    replaced: set[Node] = set()
    for node in graph.nodes:
        if node.op != "matmul" or any(v.node is None for v in node.inputs):
            continue
        rows, kernel = (v.node for v in node.inputs)
        patches, last, chain = rows, node, [node]
        if rows.op == "reshape" and rows.inputs[0].node is not None:  # rows of a known batch
            patches, last = rows.inputs[0].node, only_use(node.outputs[0])
            chain = [rows, node]
            if last is None or last.op != "reshape" or last.outputs[0].ndim != 4 or only_use(rows.outputs[0]) is None:
                continue
        if patches.op != "extract_patches" or kernel.op != "reshape" or only_use(patches.outputs[0]) is None:
            continue
        filters = kernel.inputs[0]
        kh, kw = patches.attrs["sizes"]
        if (filters.ndim != 4 or tuple(filters.shape[:3]) != (kh, kw, patches.inputs[0].shape[3])
                or not filters.dtype.is_floating or last.outputs[0].ndim != 4):
            continue
        found[last] = ConvPattern(patches.inputs[0], filters, patches)
        replaced.update([patches, *(n for n in chain if n is not last)])
        if only_use(kernel.outputs[0]) is not None:
            replaced.add(kernel)
    return found, replaced


def emit_convolution(b, pattern: ConvPattern, names: dict) -> str:
    """NHWC -> NCHW, Conv with the filters as [F, C, kh, kw], back to NHWC."""
    attrs = pattern.patches.attrs
    top, bottom, left, right = attrs["padding"]
    images = b.op("Transpose", [names[pattern.images]], perm=[0, 3, 1, 2])
    filters = b.op("Transpose", [names[pattern.filters]], perm=[3, 2, 0, 1])
    y = b.op("Conv", [images, filters], kernel_shape=list(attrs["sizes"]), strides=list(attrs["strides"]),
             pads=[top, left, bottom, right])
    return b.op("Transpose", [y], perm=[0, 2, 3, 1])
