"""The op functions: each builds its operands (dtype promotion, attribute checks) and binds one
registered op, or composes several. Importing this package registers every op."""
from .common import unbroadcast
from .composite import (
    clip_by_value, gelu, log_softmax, mean, norm, one_hot, reduce_logsumexp, reduce_mean, reduce_std,
    reduce_variance, softmax, softplus, stack, unstack,
)
from .creation import constant, eye, fill, full_like, ones, ones_like, range_, zeros, zeros_like
from .elementwise import TABLED_OPS, cast, reciprocal, where

globals().update(TABLED_OPS)  # abs, add, ..., power, ...: one function per line of the elementwise tables
from .indexing import gather, getitem, scatter_slice
from .nd_indexing import boolean_mask, gather_nd, scatter_nd, tensor_scatter_nd_add, tensor_scatter_nd_update
from .sorting import argsort, sort, top_k
from .segments import segment_mean, segment_sum, unsorted_segment_mean, unsorted_segment_sum
from .einsum import einsum
from .linalg import matmul
from .scan import cumprod, cumsum
from .reduction import argmax, argmin, dim_size, reduce_max, reduce_min, reduce_prod, reduce_sum
from .shape import (
    broadcast_like, broadcast_to, concat, expand_dims, reshape, reshape_like, split, squeeze,
    swap_last_axes, transpose,
)
from .state import assign_variable, identity, read_variable, stop_gradient
from .call import GraphFunction, call
from .host import HostFunction, host_call
from . import custom as _custom  # noqa: F401  (registers the op)
from . import fused as _fused  # noqa: F401  (registers the op)
from .control import cond, while_loop
from .grids import linspace, meshgrid
from .layout import pad, repeat, reverse, roll, tile
from .metadata import rank, size  # and shape, which as a name here would hide the module .shape
from .slicing import slice_, strided_slice
from . import conv as _conv, random as _random  # noqa: F401  (registers the ops)
