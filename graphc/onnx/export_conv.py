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
    """``({matmul node: its convolution}, nodes the convolutions make unnecessary)``: a matmul of
    float patches (read by nothing else) with a reshape of rank-4 filters ``[kh, kw, C, F]``."""
    users = graph.users()
    found: dict[Node, ConvPattern] = {}
    replaced: set[Node] = set()
    for node in graph.nodes:
        if node.op != "matmul":
            continue
        patches, kernel = (v.node for v in node.inputs)
        if patches is None or kernel is None or patches.op != "extract_patches" or kernel.op != "reshape":
            continue
        filters = kernel.inputs[0]
        kh, kw = patches.attrs["sizes"]
        c = patches.inputs[0].shape[3]
        if (filters.ndim != 4 or tuple(filters.shape[:3]) != (kh, kw, c) or not filters.dtype.is_floating
                or len(users[patches.outputs[0]]) != 1 or node.inputs[0].ndim != 4):
            continue
        found[node] = ConvPattern(patches.inputs[0], filters, patches)
        replaced.add(patches)
        if len(users[kernel.outputs[0]]) == 1 and kernel.outputs[0] not in graph.outputs:
            replaced.add(kernel)
    return found, replaced - {v.node for v in graph.outputs}


def emit_convolution(b, pattern: ConvPattern, names: dict) -> str:
    """NHWC -> NCHW, Conv with the filters as [F, C, kh, kw], back to NHWC."""
    attrs = pattern.patches.attrs
    top, bottom, left, right = attrs["padding"]
    images = b.op("Transpose", [names[pattern.images]], perm=[0, 3, 1, 2])
    filters = b.op("Transpose", [names[pattern.filters]], perm=[3, 2, 0, 1])
    y = b.op("Conv", [images, filters], kernel_shape=list(attrs["sizes"]), strides=list(attrs["strides"]),
             pads=[top, left, bottom, right])
    return b.op("Transpose", [y], perm=[0, 2, 3, 1])
