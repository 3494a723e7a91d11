"""``einsum``: Einstein summation, built from transposes, reshapes, gathers, sums and matmuls.

The equation is parsed into one list of index letters per operand and one for the result (an
ellipsis becomes letters of its own, right-aligned, so its axes broadcast). Each operand first
takes its diagonals (a letter written twice) and sums the letters no one else needs; then the
operands are contracted left to right, each pair as one batched matmul: the letters both share and
someone needs later are the batch, the others they share are summed by the product. Being built
from differentiable ops, it has gradients of every order and native code for free.
"""
from __future__ import annotations

import string

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from . import reduction as red
from . import shape as sh
from .common import promote, reshape_target, shape_of, unchanged, user_op
from .creation import constant
from .indexing import gather
from .linalg import matmul


@user_op("einsum")
def einsum(equation, *inputs):
    """Einstein summation over ``inputs`` as ``equation`` says, as ``tf.einsum`` and ``np.einsum``:
    ``"ij,jk->ik"`` (matmul), ``"bhqd,bhkd->bhqk"``, ``"ii->i"`` (diagonal), ``"...ij->...ji"``;
    without ``->`` the result holds the letters written once, in alphabetical order."""
    if not isinstance(equation, str):
        raise InvalidArgumentError(f"equation must be a str, got {type(equation).__name__}")
    if not inputs:
        raise InvalidArgumentError("einsum needs at least one operand")
    operands = list(promote(*inputs))
    terms, result = _parse(equation, [len(shape_of(x)) for x in operands])
    _check_sizes(equation, terms, operands)
    pending = [_reduced(x, term, terms[:i] + terms[i + 1:], result) for i, (x, term) in enumerate(zip(operands, terms))]
    x, letters = pending[0]
    for i, (y, y_letters) in enumerate(pending[1:], start=1):
        later = {c for _, t in pending[i + 1:] for c in t} | set(result)
        x, letters = _contract(x, letters, y, y_letters, later)
    x, letters = _reduced(x, letters, [], result)
    return sh.transpose(x, [letters.index(c) for c in result]) if letters != result else unchanged(x)


# -- parsing ----------------------------------------------------------------------------------------
def _parse(equation: str, ranks: list[int]) -> tuple[list[list[str]], list[str]]:
    """The letters of each operand and of the result, an ellipsis spelt out as letters."""
    spec = equation.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise InvalidArgumentError(f"equation {equation!r} names {len(terms)} operands, got {len(ranks)}")
    for part in terms + [rhs]:
        if set(part.replace("...", "")) - set(string.ascii_letters) or part.count("...") > 1:
            raise InvalidArgumentError(f"equation {equation!r}: a term is letters and at most one '...', got {part!r}")
    unused = iter(sorted(set(string.ascii_letters) - set(spec)))
    widest = max((r - len(t.replace("...", "")) for t, r in zip(terms, ranks) if "..." in t), default=0)
    ellipsis = [next(unused) for _ in range(max(widest, 0))]
    spelled = []
    for i, (term, rank) in enumerate(zip(terms, ranks)):
        named = len(term.replace("...", ""))
        if rank < named or ("..." not in term and rank != named):
            raise ShapeError(f"equation {equation!r}: operand {i} has rank {rank}, its term {term!r} names {named} axes")
        before, dots, after = term.partition("...")
        covered = ellipsis[len(ellipsis) - (rank - named):] if dots else []
        spelled.append(list(before) + covered + list(after))
    if arrow:
        before, dots, after = rhs.partition("...")
        if ellipsis and not dots:
            raise InvalidArgumentError(f"equation {equation!r}: the operands have '...' axes, so the result must "
                                       "say where they go ('...' after '->')")
        result = list(before) + (ellipsis if dots else []) + list(after)
    else:
        written = [c for t in spelled for c in t]
        result = ellipsis + sorted(c for c in set(written) if written.count(c) == 1 and c not in ellipsis)
    for c in result:
        if c not in {c for t in spelled for c in t}:
            raise InvalidArgumentError(f"equation {equation!r}: output letter {c!r} is in no operand")
        if result.count(c) > 1:
            raise InvalidArgumentError(f"equation {equation!r}: output letter {c!r} appears twice")
    return spelled, result


def _check_sizes(equation: str, terms: list[list[str]], operands: list) -> None:
    """Raises unless each letter has one size in every operand (a size of 1 broadcasts, as in NumPy)."""
    seen: dict[str, tuple] = {}  # letter -> (size, operand)
    for i, (term, x) in enumerate(zip(terms, operands)):
        for c, d in zip(term, shape_of(x)):
            if c not in seen or seen[c][0] == 1:
                seen[c] = (d, i)
            elif d != 1 and isinstance(d, int) and isinstance(seen[c][0], int) and d != seen[c][0]:
                raise ShapeError(f"equation {equation!r}: letter {c!r} is {seen[c][0]} long in operand {seen[c][1]} "
                                 f"and {d} in operand {i}")


# -- one operand ------------------------------------------------------------------------------------
def _reduced(x, letters: list[str], others: list[list[str]], result: list[str]):
    """``x`` with its diagonals taken and the letters no other operand nor the result has summed."""
    letters = list(letters)
    for c in dict.fromkeys(letters):
        while letters.count(c) > 1:
            x, letters = _diagonal(x, letters, c)
    needed = {c for t in others for c in t} | set(result)
    axes = [i for i, c in enumerate(letters) if c not in needed]
    if axes:
        x = red.reduce_sum(x, axes)
        letters = [c for c in letters if c in needed]
    return x, letters


def _diagonal(x, letters: list[str], c: str):
    """The diagonal of the first two axes lettered ``c``, as one axis at the end: the two axes
    flattened into one and every (n + 1)-th element gathered, so it is exact for any values."""
    first = letters.index(c)
    second = letters.index(c, first + 1)
    shape = shape_of(x)
    n = shape[first]
    if not isinstance(n, int) or shape[second] != n:
        raise ShapeError(f"the diagonal of letter {c!r} needs its two axes of one size known, got {shape[first]} and "
                         f"{shape[second]} (a size known only at run time is not supported)")
    rest = [i for i in range(len(letters)) if i not in (first, second)]
    x = sh.transpose(x, rest + [first, second])
    x = sh.reshape(x, reshape_target([shape[i] for i in rest]) + [n * n])
    x = gather(x, constant(np.arange(n, dtype=np.int64) * (n + 1)), axis=-1)
    return x, [letters[i] for i in rest] + [c]


# -- two operands -----------------------------------------------------------------------------------
def _contract(x, x_letters: list[str], y, y_letters: list[str], later: set):
    """``x`` and ``y`` as one operand: a batched matmul over the letters they share."""
    shared = [c for c in x_letters if c in y_letters]
    batch = [c for c in shared if c in later]
    summed = [c for c in shared if c not in later]
    x_free = [c for c in x_letters if c not in shared]
    y_free = [c for c in y_letters if c not in shared]
    free_sizes = [shape_of(x)[x_letters.index(c)] for c in x_free] + [shape_of(y)[y_letters.index(c)] for c in y_free]
    product = matmul(_grouped(x, x_letters, [batch, x_free, summed]), _grouped(y, y_letters, [batch, summed, y_free]))
    rows, columns = len(batch), len(batch) + 1
    if len(x_free) > 1 or len(y_free) > 1:  # one axis per free letter again
        product = sh.reshape(product, reshape_target(list(shape_of(product)[:len(batch)]) + free_sizes))
    elif not x_free or not y_free:
        product = sh.squeeze(product, [a for a, g in ((rows, x_free), (columns, y_free)) if not g])
    return product, batch + x_free + y_free


def _grouped(x, letters: list[str], groups: list[list[str]]):
    """``x`` transposed to the order of ``groups`` with one axis per group after the batch letters
    (``groups[0]``): an empty group becomes an axis of size 1, a group of several letters one axis."""
    order = [letters.index(c) for g in groups for c in g]
    if order != list(range(len(letters))):
        x = sh.transpose(x, order)
    batch, *merged = groups
    if any(len(g) > 1 for g in merged):
        shape, dims, position = shape_of(x), list(shape_of(x)[:len(batch)]), len(batch)
        for g in merged:
            part = shape[position:position + len(g)]
            position += len(g)
            dims.append(int(np.prod(part)) if all(isinstance(d, int) for d in part) else part[0] if len(part) == 1 else None)
        return sh.reshape(x, reshape_target(dims))
    for i, g in enumerate(merged):
        if not g:
            x = sh.expand_dims(x, len(batch) + i)
    return x
