"""The text form of a graph: printed by ``str(graph)``, read back by ``parse_graph``.

    graph predict(%0:f32[2,3] x, %1:f32[d0,4] b)
      var @w: f32[3,4]
      %2:f32[3,4] = read_variable {var=@w}   # model.py:11
      %3:f32[2,4] = matmul %0, %2   # model.py:12 @dense_1
      %4:f32[2,4] = add %3, %1   # model.py:12 @dense_1 grad
      return %4

One node a line: results with their types, the op, its inputs, attributes in braces, and a comment
with the user's source line, the name scope (``@scope``) and ``grad`` for gradient nodes. Values
(``%0``) and symbolic dimensions (``d0``) are numbered afresh in order of appearance, so the text
does not depend on how or when the graph was built. Names that are not plain identifiers are
quoted (``"x[0]"``, ``@"my var"``).

With a ``Renaming`` the text numbers the graph's names instead of printing them (the graph's, its
inputs', its variables', its source files and lines), so graphs that differ only in names print
alike; the same renaming reads such text back with the names of the graph it was made from.
"""
from __future__ import annotations

import base64
import json
import math
import re

import numpy as np

from .errors import IRError
from .graph import Graph, Value
from .location import Location
from .types import DType, TensorType, as_dtype, fresh_dim

_INLINE_CONSTANT_SIZE = 16
_STRING = r'"(?:[^"\\]|\\.)*"'
_BARE_GRAPH_NAME = re.compile(r"[\w.<>-]+")
_BARE_INPUT_NAME = re.compile(r"(?!(?:inf|nan)$)[A-Za-z_]\w*")
_BARE_REF = re.compile(r"[\w./-]+")  # variable and scope names after '@'


# -- printing -----------------------------------------------------------------------------------
class Renaming:
    """The names a graph's text uses in place of a graph's own: the graph's and its nested graphs'
    names and their inputs' names become ``"#0"``, ``"#1"``..., variables ``@v0``, ``@v1``... in the
    order of ``graph.variables``, and source locations ``L:0``, ``L:1``..., each numbered in order of
    first appearance (nested graphs included). Names the graph does not hold print as they are.

    Made from one graph (``of``), it prints that graph and graphs derived from it whose variables and
    locations are among its own (its optimised and fused forms; KeyError otherwise), and reads their
    text back with that graph's names and locations (``parse_graph``). An attribute holding a Python
    object, which the text cannot carry, raises ValueError."""

    def __init__(self, names: list[str], variables: list[str], locations: list[Location]):
        self.names = {name: f"#{i}" for i, name in enumerate(names)}
        self.real_names = {printed: name for name, printed in self.names.items()}
        self.variables = {name: f"v{i}" for i, name in enumerate(variables)}
        self.variable_names = {printed: name for name, printed in self.variables.items()}
        self.location_numbers = {loc: i for i, loc in enumerate(locations)}
        self.locations = locations

    @classmethod
    def of(cls, graph: Graph) -> "Renaming":
        names: dict[str, None] = {}
        locations: dict[Location, None] = {}

        def visit(g: Graph) -> None:
            names.setdefault(g.name)
            names.update(dict.fromkeys(v.name for v in g.inputs if v.name))
            for node in g.nodes:
                if node.loc:
                    locations.setdefault(node.loc)
                for body in node.subgraphs.values():
                    visit(body)

        visit(graph)
        return cls(list(names), list(graph.variables), list(locations))

    def location(self, loc: Location) -> str:
        return f"L:{self.location_numbers[loc]}"


class ValuePrinter:
    """Numbers values and symbolic dimensions in order of first appearance."""

    def __init__(self, full_constants: bool, renaming: Renaming | None = None):
        self.full_constants = full_constants
        self.renaming = renaming
        self.values: dict[Value, str] = {}
        self.dims: dict[str, str] = {}

    def value(self, v: Value) -> str:
        if v not in self.values:
            self.values[v] = f"%{len(self.values)}"
        return self.values[v]

    def type(self, t: TensorType) -> str:
        return f"{t.dtype.short}[{','.join(self.dim(d) for d in t.shape)}]"

    def dim(self, d) -> str:
        if isinstance(d, int):
            return str(d)
        if d not in self.dims:
            self.dims[d] = f"d{len(self.dims)}"
        return self.dims[d]

    def typed(self, v: Value) -> str:
        return f"{self.value(v)}:{self.type(v.type)}"

    def nested(self) -> "ValuePrinter":
        """A printer for a nested graph: its own value numbers, the same dimension names."""
        inner = ValuePrinter(self.full_constants, self.renaming)
        inner.dims = self.dims
        return inner

    def variable(self, name: str) -> str:
        return self.renaming.variables[name] if self.renaming else name

    def name(self, name: str) -> str:
        return self.renaming.names.get(name, name) if self.renaming else name

    def location(self, loc: Location) -> str:
        return self.renaming.location(loc) if self.renaming else str(loc)


def format_graph(graph: Graph, *, full_constants: bool = False, renaming: Renaming | None = None) -> str:
    """The graph as text; large constants are elided unless ``full_constants`` (needed to parse back);
    names and locations are replaced as ``renaming`` says (see ``Renaming``)."""
    return "\n".join(_graph_lines(graph, ValuePrinter(full_constants, renaming), ""))


def _graph_lines(graph: Graph, p: ValuePrinter, indent: str) -> list[str]:
    """The lines of ``graph``; a node holding graphs (a fused kernel's ``body``, a cond's
    ``then_branch`` and ``else_branch``) is followed by each graph's own lines, indented, after
    ``NAME {`` (on the node's line, then on the line closing the previous graph: ``} NAME {``), the
    last closed by ``}``. Nested values are numbered afresh, symbolic dimensions keep the outer names."""
    params = ", ".join(p.typed(v) + (f" {_quoted(p.name(v.name), _BARE_INPUT_NAME)}" if v.name else "")
                       for v in graph.inputs)
    lines = [f"{indent}graph {_quoted(p.name(graph.name), _BARE_GRAPH_NAME)}({params})"]
    lines += [f"{indent}  var {_ref(p.variable(name))}: {p.type(var.type)}" for name, var in graph.variables.items()]
    for node in graph.nodes:
        text = node.op
        if node.outputs:
            text = ", ".join(p.typed(v) for v in node.outputs) + " = " + text
        if node.inputs:
            text += " " + ", ".join(p.value(v) for v in node.inputs)
        attrs = {k: p.variable(a) if k == "var" else a for k, a in node.attrs.items() if not isinstance(a, Graph)}
        bodies = [(k, a) for k, a in node.attrs.items() if isinstance(a, Graph)]
        if attrs:
            strict = p.renaming is not None
            text += " {" + ", ".join(f"{k}={format_attr(k, a, p.full_constants, strict)}" for k, a in attrs.items()) + "}"
        if bodies:
            text += f" {bodies[0][0]} {{"
        comment = ([p.location(node.loc)] if node.loc else []) + ([_ref(node.scope)] if node.scope else [])
        comment += ["grad"] if node.is_gradient else []
        lines.append(f"{indent}  " + text + (f"   # {' '.join(comment)}" if comment else ""))
        for i, (_, body) in enumerate(bodies):
            lines += _graph_lines(body, p.nested(), indent + "    ")
            lines.append(f"{indent}  }}" + (f" {bodies[i + 1][0]} {{" if i + 1 < len(bodies) else ""))
    lines.append(f"{indent}  return " + ", ".join(p.value(v) for v in graph.outputs))
    return lines


def _quoted(name: str, bare: re.Pattern) -> str:
    return name if bare.fullmatch(name) else json.dumps(name)


def _ref(name: str) -> str:
    return "@" + _quoted(name, _BARE_REF)


def format_attr(key: str, value, full: bool = False, strict: bool = False) -> str:
    """One attribute value as text (``var`` names a variable, ``index`` is a getitem index). A Python
    object prints as ``opaque"repr"``, which does not read back; ``strict`` raises ValueError instead."""
    if key == "var":
        return _ref(value)
    if key == "index":
        return "[" + ", ".join(format_attr("", v, full, strict) for v in value) + "]"
    if isinstance(value, np.ndarray):
        return _format_array(value, full)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, DType):
        return value.short
    if isinstance(value, slice):
        parts = ["" if p is None else str(p) for p in (value.start, value.stop, value.step)]
        return ":".join(parts[:2]) + (f":{parts[2]}" if value.step is not None else "")
    if isinstance(value, tuple):
        inner = ", ".join(format_attr("", v, full, strict) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, str):
        return json.dumps(value)
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if strict:
        raise ValueError(f"attribute {key or 'item'} holds a {type(value).__name__}, which the text cannot carry")
    return "opaque" + json.dumps(repr(value))


def _format_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def _format_array(value: np.ndarray, full: bool) -> str:
    t = TensorType(value.shape, as_dtype(value.dtype))
    if value.size <= _INLINE_CONSTANT_SIZE:
        body = ", ".join(map(str, value.reshape(-1)))  # NumPy's shortest text that reads back exactly
        return f"dense<{t}: [{body}]>"
    if full:
        return f'dense<{t}: b64"{base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()}">'
    return f"dense<{t}: ...>"


# -- parsing ------------------------------------------------------------------------------------
_TOKEN = re.compile(
    rf"""\s*(?:
        (?P<comment>\#.*)
      | (?P<b64>b64"[A-Za-z0-9+/=]*")
      | (?P<opaque>opaque{_STRING})
      | (?P<str>{_STRING})
      | (?P<num>-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+|inf|nan)(?![\w]))
      | (?P<value>%\d+)
      | (?P<ref>@(?:{_STRING}|[\w./-]+))
      | (?P<name>[A-Za-z_][\w]*)
      | (?P<punct>\.\.\.|[\[\](){{}},:=<>])
    )""",
    re.VERBOSE,
)
_COMMENT = re.compile(rf"#\s*(?P<loc>\S+:\d+)?\s*(?:@(?P<scope>{_STRING}|\S+))?\s*(?P<grad>grad)?\s*")
_HEADER = re.compile(rf"graph ({_STRING}|[^\s(]+)\((.*)\)")


class _Tokens:
    def __init__(self, text: str, line_no: int):
        self.items, self.line_no, pos = [], line_no, 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise self.error(f"cannot read {text[pos:pos + 20]!r}")
            self.items.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
        self.i = 0

    def error(self, message: str) -> IRError:
        return IRError(f"line {self.line_no}: {message}")

    def peek(self) -> tuple:
        return self.items[self.i] if self.i < len(self.items) else (None, None)

    def next(self) -> tuple:
        tok = self.peek()
        if tok[0] is None:
            raise self.error("unexpected end of line")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.next()[1]
        if tok != text:
            raise self.error(f"expected {text!r}, got {tok!r}")

    def accept(self, text: str) -> bool:
        if self.peek()[1] == text:
            self.i += 1
            return True
        return False

    def kind(self, kind: str) -> str:
        k, tok = self.next()
        if k != kind:
            raise self.error(f"expected a {kind}, got {tok!r}")
        return tok

    def done(self) -> bool:
        return self.peek()[0] in (None, "comment")


class _Parser:
    """Reads one graph; symbolic dimension names of the text become fresh dimensions."""

    def __init__(self, text: str, variables: dict | None, fresh_dims: bool = True, renaming: Renaming | None = None):
        self.lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
        self.variables = variables or {}
        self.renaming = renaming
        self.env: dict[str, Value] = {}
        self.dims: dict[str, str] = {}
        self.fresh_dims = fresh_dims

    def parse(self) -> Graph:
        if not self.lines:
            raise IRError("line 1: expected 'graph NAME(...)', got nothing")
        graph = self.header(*self.lines[0])
        self.pos = 1
        while self.pos < len(self.lines):
            line_no, line = self.lines[self.pos]
            self.pos += 1
            ts = _Tokens(line, line_no)
            if ts.accept("var"):
                self.variable(graph, ts)
            elif ts.accept("return"):
                graph.outputs = self.value_list(ts)
            else:
                self.node(graph, ts)
            if not ts.done():
                raise ts.error(f"unexpected {ts.peek()[1]!r}")
        return graph

    def body(self, ts: _Tokens, name: str) -> tuple[Graph, str | None]:
        """The nested graph that follows a ``NAME {`` line, up to its closing ``}``; and the name of
        the next nested graph of the same node when the closing line opens one (``} NAME {``)."""
        depth, start = 1, self.pos
        while self.pos < len(self.lines):
            line = self.lines[self.pos][1].split("#")[0].strip()
            self.pos += 1
            opens, closes = line.endswith("{"), line.startswith("}")
            depth += opens - closes
            if depth == 0 or (depth == 1 and opens and closes):
                inner = _Parser("", self.variables, self.fresh_dims, self.renaming)
                inner.lines, inner.dims = self.lines[start:self.pos - 1], self.dims
                following = line[1:-1].strip() if opens else None
                return inner.parse(), following
        raise ts.error(f"a '{name} {{' has no closing '}}'")

    def header(self, line_no: int, line: str) -> Graph:
        m = _HEADER.fullmatch(line.strip())
        if not m:
            raise IRError(f"line {line_no}: expected 'graph NAME(...)', got {line.strip()!r}")
        graph = Graph(self.real_name(_unquoted(m.group(1))))
        ts = _Tokens(m.group(2), line_no)
        while not ts.done():
            number = ts.kind("value")
            ts.expect(":")
            t = self.type(ts)
            name = None
            if ts.peek()[0] in ("name", "str"):
                name = self.real_name(_unquoted(ts.next()[1]))
            self.define(number, graph.add_input(t, name), ts)
            if not ts.done():
                ts.expect(",")
        return graph

    def variable(self, graph: Graph, ts: _Tokens) -> None:
        name = self.variable_name(_unquoted(ts.kind("ref")[1:]), ts)
        ts.expect(":")
        declared = self.type(ts)
        var = self.variables.get(name)
        if var is None:
            var = _DeclaredVariable(name, declared)
        elif self._static(var.type) != self._static(declared):
            raise ts.error(f"variable @{name} is declared {declared}, the object given has type {var.type}")
        graph.variables[name] = var

    def real_name(self, printed: str) -> str:
        return self.renaming.real_names.get(printed, printed) if self.renaming else printed

    def variable_name(self, printed: str, ts: _Tokens) -> str:
        if self.renaming is None:
            return printed
        if printed not in self.renaming.variable_names:
            raise ts.error(f"no variable is printed as @{printed}")
        return self.renaming.variable_names[printed]

    @staticmethod
    def _static(t: TensorType) -> tuple:
        return t.dtype, tuple(d if isinstance(d, int) else None for d in t.shape)

    def node(self, graph: Graph, ts: _Tokens) -> None:
        results = []
        if ts.peek()[0] == "value":
            while True:
                number = ts.kind("value")
                ts.expect(":")
                results.append((number, self.type(ts)))
                if not ts.accept(","):
                    break
            ts.expect("=")
        op = ts.kind("name")
        inputs = self.value_list(ts)
        attrs = self.attrs(ts)
        opens_graph = ts.peek()[0] == "name" and ts.items[ts.i + 1:ts.i + 2] == [("punct", "{")]
        name = ts.kind("name") if opens_graph else None
        if name is not None:
            ts.expect("{")
        meta = _parse_comment(ts.next()[1]) if ts.peek()[0] == "comment" else {}
        if self.renaming and meta.get("loc"):
            if meta["loc"].line >= len(self.renaming.locations):
                raise ts.error(f"no source location is printed as {meta['loc']}")
            meta["loc"] = self.renaming.locations[meta["loc"].line]
        while name is not None:  # the node's graphs: NAME { ... } NAME { ... }
            attrs[name], name = self.body(ts, name)
        node = graph.add_node(op, inputs, attrs, [t for _, t in results], **meta)
        for (number, _), v in zip(results, node.outputs):
            self.define(number, v, ts)

    def define(self, number: str, v: Value, ts: _Tokens) -> None:
        if number in self.env:
            raise ts.error(f"{number} is defined twice")
        self.env[number] = v

    def value_list(self, ts: _Tokens) -> list[Value]:
        values = []
        while ts.peek()[0] == "value":
            number = ts.next()[1]
            if number not in self.env:
                raise ts.error(f"{number} is not defined")
            values.append(self.env[number])
            if not ts.accept(","):
                break
        return values

    def type(self, ts: _Tokens) -> TensorType:
        dtype = as_dtype(ts.kind("name"))
        ts.expect("[")
        dims = []
        while not ts.accept("]"):
            kind, tok = ts.next()
            dims.append(int(tok) if kind == "num" else self.dim(tok))
            ts.accept(",")
        return TensorType(tuple(dims), dtype)

    def dim(self, name: str) -> str:
        if not self.fresh_dims:
            return name
        if name not in self.dims:
            self.dims[name] = fresh_dim()
        return self.dims[name]

    def attrs(self, ts: _Tokens) -> dict:
        attrs = {}
        if not ts.accept("{"):
            return attrs
        while not ts.accept("}"):
            key = ts.kind("name")
            ts.expect("=")
            attrs[key] = _parse_index(ts) if key == "index" else _parse_value(ts)
            if key == "var":
                attrs[key] = self.variable_name(attrs[key], ts)
            ts.accept(",")
        return attrs


def parse_graph(text: str, variables: dict | None = None, renaming: Renaming | None = None) -> Graph:
    """Reads the text form back into a graph. ``variables`` maps names to variable objects; without
    it, placeholders carrying only the declared type stand in. Text printed with a ``renaming`` is read
    with the same renaming. The graph is not verified."""
    return _Parser(text, variables, renaming=renaming).parse()


def parse_type(text: str) -> TensorType:
    """A tensor type such as ``f32[2,d0]`` (symbolic dimensions keep their names)."""
    ts = _Tokens(text, 1)
    t = _Parser("", None, fresh_dims=False).type(ts)
    if not ts.done():
        raise ts.error(f"unexpected {ts.peek()[1]!r} after the type")
    return t


def _unquoted(text: str) -> str:
    return json.loads(text) if text.startswith('"') else text


def _parse_scalar(ts: _Tokens, kind: str, tok: str):
    if kind == "num":
        return float(tok) if any(c in tok for c in ".eEni") else int(tok)
    if kind == "str":
        return json.loads(tok)
    if kind == "name":
        if tok in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[tok]
        return as_dtype(tok)
    if kind == "opaque":
        raise ts.error(f"an attribute holds a Python object ({json.loads(tok[6:])}) that the text form cannot carry")
    raise ts.error(f"unexpected {tok!r}")


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
    if kind == "ref":
        return _unquoted(tok[1:])
    return _parse_scalar(ts, kind, tok)


def _parse_dense(ts: _Tokens) -> np.ndarray:
    ts.expect("<")
    dtype = as_dtype(ts.kind("name")).numpy
    ts.expect("[")
    dims = []
    while not ts.accept("]"):
        dims.append(int(ts.kind("num")))
        ts.accept(",")
    ts.expect(":")
    kind, tok = ts.next()
    if kind == "b64":
        array = np.frombuffer(base64.b64decode(tok[4:-1]), dtype=dtype).reshape(dims).copy()
    elif tok == "...":
        raise ts.error("a constant was elided; print the graph with full_constants=True to parse it")
    elif tok == "[":
        values = []
        while not ts.accept("]"):
            values.append(_parse_value(ts))
            ts.accept(",")
        array = np.array(values, dtype=dtype).reshape(dims)
    else:
        raise ts.error(f"expected the constant's values, got {tok!r}")
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
                current = _parse_scalar(ts, kind, tok)
        parts.append(current)
        items.append(parts[0] if len(parts) == 1 else slice(*parts))
        ts.accept(",")
    return tuple(items)


def _parse_comment(comment: str) -> dict:
    m = _COMMENT.fullmatch(comment)
    if not m:
        return {}
    loc = None
    if m.group("loc"):
        file, _, line = m.group("loc").rpartition(":")
        loc = Location(file, int(line))
    return {"scope": _unquoted(m.group("scope") or ""), "loc": loc, "is_gradient": bool(m.group("grad"))}


class _DeclaredVariable:
    """A variable known only by name and type (a parsed graph without the real objects)."""

    def __init__(self, name: str, type: TensorType):
        self.name, self.type = name, type
        self.value = np.zeros(tuple(type.shape), type.dtype.numpy) if type.is_static else None
