"""The outlined copy of a math function and its vector variants, for modules that call it often.

Past its first few calls a math function is called rather than inlined (see ``INLINED_USES``): one
outlined copy that names vector variants for LLVM's loop vectoriser, so a vectorised loop still runs
the function on whole vectors.
"""
from __future__ import annotations

from llvmlite import ir

from .formats import FloatFormat

_VECTOR_BITS = (128, 256, 512)


class _OutlinedAttributes(ir.values.FunctionAttributes):
    """Function attributes that also take LLVM string attributes (``"key"="value"``), which
    llvmlite's own set rejects."""

    def add(self, name):
        if name.startswith('"'):
            set.add(self, name)
        else:
            super().add(name)


def outlined_function(module: ir.Module, inline: ir.Function, fmt: FloatFormat) -> ir.Function:
    """``<inline>.outlined``: never inlined; names its vector variants for the loop vectoriser
    (the ``vector-function-abi-variant`` attribute, LLVM's own mangling ``_ZGV_LLVM_N<lanes>v...``)."""
    symbol = inline.name + ".outlined"
    existing = module.globals.get(symbol)
    if existing is not None:
        return existing
    variants = [_vector_variant(module, inline, bits // fmt.bits, bits // 8) for bits in _VECTOR_BITS]
    arity = len(inline.args)
    mangled = ",".join(f"_ZGV_LLVM_N{v.args[0].type.count}{'v' * arity}_{symbol}({v.name})" for v in variants)
    fn = ir.Function(module, inline.function_type, symbol)
    fn.linkage = "internal"
    fn.attributes = _OutlinedAttributes(["noinline", "nounwind", "readnone", "norecurse"])
    fn.attributes.add(f'"vector-function-abi-variant"="{mangled}"')
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(b.call(inline, list(fn.args)))
    return fn


def _vector_variant(module: ir.Module, inline: ir.Function, lanes: int, align: int) -> ir.Function:
    """``<inline>.v<lanes>``: the function on vectors of ``lanes`` (``align`` bytes), a loop over the
    lanes that LLVM vectorises. Linkage ``weak_odr``: kept until the vectoriser has placed its calls, though
    nothing calls it before."""
    ty = inline.function_type.return_type
    vector = ir.VectorType(ty, lanes)
    fn = ir.Function(module, ir.FunctionType(vector, [vector] * len(inline.args)), f"{inline.name}.v{lanes}")
    fn.linkage = "weak_odr"
    for attribute in ("noinline", "nounwind", "norecurse"):
        fn.attributes.add(attribute)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    array = ir.ArrayType(ty, lanes)
    # the slots are read and written as whole vectors, so aligned as one: a store of a vector assumes
    # it, and an array's own alignment is its element's (512-bit spills to such a slot faulted)
    arguments = []
    for arg in fn.args:
        slot = b.alloca(array)
        slot.align = align
        b.store(arg, b.bitcast(slot, vector.as_pointer()), align=align)
        arguments.append(slot)
    result = b.alloca(array)
    result.align = align
    zero = ir.Constant(ir.IntType(64), 0)
    loop, done = fn.append_basic_block("lane"), fn.append_basic_block("done")
    start = b.block
    b.branch(loop)
    b.position_at_end(loop)
    lane = b.phi(ir.IntType(64))
    lane.add_incoming(zero, start)
    values = [b.load(b.gep(slot, [zero, lane], inbounds=True)) for slot in arguments]
    b.store(b.call(inline, values), b.gep(result, [zero, lane], inbounds=True))
    following = b.add(lane, ir.Constant(ir.IntType(64), 1))
    lane.add_incoming(following, loop)
    b.cbranch(b.icmp_unsigned("<", following, ir.Constant(ir.IntType(64), lanes)), loop, done)
    b.position_at_end(done)
    b.ret(b.load(b.bitcast(result, vector.as_pointer()), align=align))
    return fn
