"""The text form of a graph: printed by ``str(graph)``, read back by ``parse_graph``.

    graph predict(%0:f32[2,3] x, %1:f32[d0,4] b)
      var @w: f32[3,4]
      %2:f32[3,4] = read_variable {var=@w}   # model.py:11
      %3:f32[2,4] = matmul %0, %2   # model.py:12 @dense_1
      %4:f32[2,4] = add %3, %1   # model.py:12 @dense_1 grad
      return %4

One node a line: results with their types, the op, its inputs, attributes in braces, and a comment
with the user's source line, the name scope (``@scope``) and ``grad`` for gradient nodes. Values are
numbered afresh in order, so the text does not depend on how the graph was built.
"""
from __future__ import annotations

import base64
import math
import re

import numpy as np

from .errors import IRError
from .graph import Graph, Value
from .location import Location
from .types import DType, TensorType, as_dtype

_INLINE_CONSTANT_SIZE = 16


# -- printing -----------------------------------------------------------------------------------
def format_graph(graph: Graph, *, full_constants: bool = False) -> str:
    """The graph as text; large constants are elided unless ``full_constants`` (needed to parse back)."""
    names: dict[Value, str] = {}

    def name(v: Value) -> str:
        if v not in names:
            names[v] = f"%{len(names)}"
        return names[v]

    params = ", ".join(f"{name(v)}:{v.type}" + (f" {v.name}" if v.name else "") for v in graph.inputs)
    lines = [f"graph {graph.name}({params})"]
    for var_name, var in graph.variables.items():
        lines.append(f"  var @{var_name}: {var.type}")
    for node in graph.nodes:
        results = ", ".join(f"{name(v)}:{v.type}" for v in node.outputs)
        text = (results + " = " if results else "") + node.op
        if node.inputs:
            text += " " + ", ".join(name(v) for v in node.inputs)
        if node.attrs:
            text += " {" + ", ".join(f"{k}={format_attr(k, a, full_constants)}" for k, a in node.attrs.items()) + "}"
        comment = [str(node.loc)] if node.loc else []
        if node.scope:
            comment.append(f"@{node.scope}")
        if node.is_gradient:
            comment.append("grad")
        lines.append("  " + text + (f"   # {' '.join(comment)}" if comment else ""))
    lines.append("  return " + ", ".join(name(v) for v in graph.outputs))
    return "\n".join(lines)


def format_attr(key: str, value, full: bool = False) -> str:
    if key == "var":
        return f"@{value}"
    if isinstance(value, np.ndarray):
        return _format_array(value, full)
    if isinstance(value, DType):
        return value.short
    if isinstance(value, slice):
        parts = ["" if p is None else str(p) for p in (value.start, value.stop, value.step)]
        return ":".join(parts[:2]) + (f":{parts[2]}" if value.step is not None else "")
    if key == "index":
        return "[" + ", ".join(format_attr("", v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(format_attr("", v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _format_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def _format_array(value: np.ndarray, full: bool) -> str:
    t = TensorType(value.shape, as_dtype(value.dtype))
    if value.size <= _INLINE_CONSTANT_SIZE:
        items = value.reshape(-1).tolist()
        body = ", ".join(_format_float(v) if isinstance(v, float) else repr(v) for v in items)
        return f"dense<{t}: [{body}]>"
    if full:
        return f'dense<{t}: b64"{base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()}">'
    return f"dense<{t}: ...>"


# -- parsing ------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<b64>b64"[A-Za-z0-9+/=]*")
      | (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<num>-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+|inf|nan)(?![\w]))
      | (?P<value>%\d+)
      | (?P<var>@[\w./-]+)
      | (?P<name>[A-Za-z_][\w]*)
      | (?P<punct>\.\.\.|[\[\](){},:=<>])
    )""",
    re.VERBOSE,
)


class _Tokens:
    def __init__(self, text: str, line_no: int):
        self.items, self.line_no, pos = [], line_no, 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise IRError(f"line {line_no}: cannot read {text[pos:pos + 20]!r}")
            self.items.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
        self.i = 0

    def peek(self):
        return self.items[self.i] if self.i < len(self.items) else (None, None)

    def next(self):
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, text: str):
        kind, tok = self.next()
        if tok != text:
            raise IRError(f"line {self.line_no}: expected {text!r}, got {tok!r}")

    def accept(self, text: str) -> bool:
        if self.peek()[1] == text:
            self.i += 1
            return True
        return False


_TYPE = re.compile(r"(\w+)\[([^\]]*)\]")


def parse_type(text: str) -> TensorType:
    m = _TYPE.fullmatch(text.strip())
    if not m:
        raise IRError(f"bad tensor type {text!r}")
    dims = tuple(int(d) if d.lstrip("-").isdigit() else d for d in m.group(2).split(",") if d)
    return TensorType(dims, as_dtype(m.group(1)))


def _parse_scalar(kind, tok):
    if kind == "num":
        return float(tok) if any(c in tok for c in ".eEni") else int(tok)
    if kind == "str":
        return tok[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if kind == "name":
        if tok in ("True", "False"):
            return tok == "True"
        if tok == "None":
            return None
        return as_dtype(tok)
    raise IRError(f"unexpected {tok!r}")


def _parse_value(ts: _Tokens):
    kind, tok = ts.next()
    if tok == "(":
        items = []
        while not ts.accept(")"):
            items.append(_parse_value(ts))
            ts.accept(",")
        return tuple(items)
    if tok == "dense":
        return _parse_dense(ts)
    if kind == "var":
        return tok[1:]
    return _parse_scalar(kind, tok)


def _parse_dense(ts: _Tokens) -> np.ndarray:
    ts.expect("<")
    dtype_name = ts.next()[1]
    ts.expect("[")
    dims = []
    while not ts.accept("]"):
        dims.append(int(ts.next()[1]))
        ts.accept(",")
    ts.expect(":")
    dtype = as_dtype(dtype_name).numpy
    kind, tok = ts.next()
    if kind == "b64":
        array = np.frombuffer(base64.b64decode(tok[4:-1]), dtype=dtype).reshape(dims).copy()
    elif tok == "...":
        raise IRError(f"line {ts.line_no}: a constant was elided; print the graph with full_constants=True to parse it")
    else:
        values = []
        while not ts.accept("]"):
            values.append(_parse_value(ts))
            ts.accept(",")
        array = np.array(values, dtype=dtype).reshape(dims)
    ts.expect(">")
    return array


def _parse_index(ts: _Tokens) -> tuple:
    ts.expect("[")
    items = []
    while not ts.accept("]"):
        parts, current = [], None
        while ts.peek()[1] not in (",", "]"):
            kind, tok = ts.next()
            if tok == ":":
                parts.append(current)
                current = None
            else:
                current = _parse_scalar(kind, tok)
        parts.append(current)
        items.append(parts[0] if len(parts) == 1 else slice(*parts))
        ts.accept(",")
    return tuple(items)


def _parse_attrs(ts: _Tokens) -> dict:
    attrs = {}
    if not ts.accept("{"):
        return attrs
    while not ts.accept("}"):
        key = ts.next()[1]
        ts.expect("=")
        attrs[key] = _parse_index(ts) if key == "index" else _parse_value(ts)
        ts.accept(",")
    return attrs


def parse_graph(text: str, variables: dict | None = None) -> Graph:
    """Reads the text form back into a graph. ``variables`` maps names to variable objects; without
    it, placeholders carrying only the declared type stand in."""
    lines = [(i + 1, l) for i, l in enumerate(text.splitlines()) if l.strip()]
    if not lines or not lines[0][1].startswith("graph "):
        raise IRError("line 1: expected 'graph NAME(...)'")
    header = re.fullmatch(r"graph ([\w.<>-]+)\((.*)\)", lines[0][1].strip())
    if not header:
        raise IRError(f"line 1: cannot read the graph header {lines[0][1]!r}")
    graph = Graph(header.group(1))
    env: dict[str, Value] = {}
    for param in filter(None, (p.strip() for p in header.group(2).split(", %"))):
        m = re.fullmatch(r"%?(\d+):(\w+\[[^\]]*\])(?: (.+))?", param)
        if not m:
            raise IRError(f"line 1: cannot read the input {param!r}")
        env[m.group(1)] = graph.add_input(parse_type(m.group(2)), m.group(3))
    for line_no, line in lines[1:]:
        code, _, comment = line.strip().partition("   # ")
        if code.startswith("var @"):
            m = re.fullmatch(r"var @([\w./-]+): (.+)", code)
            name, vtype = m.group(1), parse_type(m.group(2))
            graph.variables[name] = (variables or {}).get(name) or _DeclaredVariable(name, vtype)
            continue
        if code.startswith("return"):
            graph.outputs = [_lookup(env, v.strip(), line_no) for v in code[len("return"):].split(",") if v.strip()]
            continue
        _parse_node(graph, env, code, comment, line_no)
    return graph


def _lookup(env, name: str, line_no: int) -> Value:
    key = name.strip().lstrip("%")
    if key not in env:
        raise IRError(f"line {line_no}: {name} is not defined")
    return env[key]


def _parse_node(graph: Graph, env: dict, code: str, comment: str, line_no: int) -> None:
    results_text, eq, rest = code.partition(" = ")
    if not eq:
        results_text, rest = "", code
    results = [r.strip() for r in results_text.split(", ")] if results_text else []
    ts = _Tokens(rest, line_no)
    op = ts.next()[1]
    inputs = []
    while ts.peek()[0] == "value":
        inputs.append(_lookup(env, ts.next()[1], line_no))
        ts.accept(",")
    attrs = _parse_attrs(ts)
    if ts.peek()[1] is not None:
        raise IRError(f"line {line_no}: unexpected {ts.peek()[1]!r}")
    out_types = [parse_type(r.split(":", 1)[1]) for r in results]
    node = graph.add_node(op, inputs, attrs, out_types, **_parse_comment(comment))
    for r, v in zip(results, node.outputs):
        env[r.split(":", 1)[0].lstrip("%")] = v


def _parse_comment(comment: str) -> dict:
    meta = {"scope": "", "loc": None, "is_gradient": False}
    for word in comment.split():
        if word == "grad":
            meta["is_gradient"] = True
        elif word.startswith("@"):
            meta["scope"] = word[1:]
        elif ":" in word:
            file, _, line = word.rpartition(":")
            meta["loc"] = Location(file, int(line))
    return meta


class _DeclaredVariable:
    """A variable known only by name and type (a parsed graph without the real objects)."""

    def __init__(self, name: str, type: TensorType):
        self.name, self.type = name, type
        self.value = np.zeros(tuple(type.shape), type.dtype.numpy) if type.is_static else None
