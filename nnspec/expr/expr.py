"""The expression language shared by penalties, losses, constraints and the Expr layer.

``parse(text)`` turns text into a small tree of tuples (plain data):

    ("num", value) | ("name", id, col) | ("neg", x)
    ("bin", op, a, b)                       op in + - * / **
    ("cmp", op, a, b, col)                  op in < <= > >= == !=  (1.0 where true, else 0.0)
    ("call", fn, [args], {kwarg: value}, col)
    ("index", x, [items], col)              items: ("at", n) | ("slice", start, stop, step) | ("ellipsis",)
                                            (start/stop/step: a node or None)

Nothing is evaluated here. ``infer_rank`` checks names, function arity and
axes against the ranks of the tensors an expression may use; the Keras side
(compile) walks the same tree into ``keras.ops`` calls.
"""
from __future__ import annotations

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

MAX_LEN = 4000
MAX_NODES = 500
# Every walk over an expression tree (here, blocks.py's ${...}, keras/expr.py)
# recurses once or twice per level; lark's Transformer three times. The depth
# is measured on lark's tree, without recursion, before anything walks it.
MAX_DEPTH = 100

# name -> (kind, min positional, max positional, allowed kwargs)
REDUCTIONS = ("sum", "mean", "max", "min", "prod", "std", "var", "logsumexp", "norm")
ELEMENTWISE = ("abs", "square", "sqrt", "exp", "log", "log1p", "tanh", "sigmoid", "relu",
               "softplus", "sign", "sin", "cos")
# random draws, only in the Expr layer (its seed generator makes them reproducible)
RANDOM = ("normal", "uniform", "bernoulli")
MAX_CONCAT = 64
FUNCTIONS = {
    **{f: ("reduce", 1, 1, ("axis", "keepdims")) for f in REDUCTIONS},
    **{f: ("elementwise", 1, 1, ()) for f in ELEMENTWISE},
    "maximum": ("broadcast", 2, 2, ()),
    "minimum": ("broadcast", 2, 2, ()),
    "clip": ("clip", 3, 3, ()),
    "where": ("broadcast", 3, 3, ()),
    "concat": ("concat", 1, MAX_CONCAT, ("axis",)),
    "shape_of": ("shape_of", 1, 1, ()),
    "normal": ("random", 1, 1, ("mean", "stddev")),
    "uniform": ("random", 1, 1, ("minval", "maxval")),
    "bernoulli": ("bernoulli", 1, 2, ()),
}


class ExprError(Exception):
    def __init__(self, message: str, col: int = 0, hint: str | None = None):
        super().__init__(message)
        self.message, self.col, self.hint = message, col, hint


_parser = None


def _get_parser() -> Lark:
    global _parser
    if _parser is None:
        from ..lark_cache import cache_file
        try:
            _parser = Lark.open("expr.lark", rel_to=__file__, parser="lalr", cache=cache_file("expr"))
        except OSError:  # an unwritable cache file: no cache
            _parser = Lark.open("expr.lark", rel_to=__file__, parser="lalr")
    return _parser


def parses(text: str) -> bool:
    """Is ``text`` an expression by the grammar alone (no name or shape checks)?"""
    try:
        _get_parser().parse(text)
    except Exception:  # lark's UnexpectedInput and friends
        return False
    return True


@v_args(inline=True)
class _ToTree(Transformer):
    def number(self, tok):
        text = str(tok)
        value = float(text) if any(c in text for c in ".eE") else int(text)
        return ("num", value)

    def name(self, tok):
        return ("name", str(tok), tok.column)

    def neg(self, x):
        return ("neg", x)

    def add(self, a, b):
        return ("bin", "+", a, b)

    def sub(self, a, b):
        return ("bin", "-", a, b)

    def mul(self, a, b):
        return ("bin", "*", a, b)

    def div(self, a, b):
        return ("bin", "/", a, b)

    def pow(self, a, b):
        return ("bin", "**", a, b)

    def compare(self, a, op, b):
        return ("cmp", str(op), a, b, op.column)

    def index(self, x, *items):
        return ("index", x, list(items), _col(x))

    def at(self, n):
        return ("at", n)

    def slice2(self, start, stop):
        return ("slice", start, stop, None)

    def slice3(self, start, stop, step):
        return ("slice", start, stop, step)

    def ellipsis(self, tok):
        return ("ellipsis",)

    def bool(self, tok):
        return ("bool", str(tok).lower() == "true")

    def list(self, *items):
        return ("list", [i for i in items if i is not None])

    def kwarg(self, name, value):
        return ("kwarg", str(name), value)

    def args(self, *items):
        return list(items)

    def call(self, name, args=None):
        pos, kw = [], {}
        for a in args or []:
            if a[0] == "kwarg":
                if a[1] in kw:
                    raise ExprError(f"keyword '{a[1]}' given twice", name.column)
                kw[a[1]] = a[2]
            elif kw:
                raise ExprError("positional argument after a keyword argument", name.column)
            else:
                pos.append(a)
        return ("call", str(name), pos, kw, name.column)


def parse(text: str):
    """Parse an expression; raises ExprError (with a 1-based column) on bad input."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("empty expression")
    if len(text) > MAX_LEN:
        raise ExprError(f"expression longer than {MAX_LEN} characters")
    if "\n" in text.strip():
        raise ExprError("an expression must fit on one line")
    try:
        tree = _get_parser().parse(text)
    except UnexpectedCharacters as e:
        raise ExprError(f"unexpected character {text[e.pos_in_stream]!r}", e.column,
                        "expressions use numbers, tensor names, + - * / **, parentheses and function calls") from None
    except UnexpectedEOF as e:
        raise ExprError("the expression ends too early", len(text) + 1, "check for an unclosed parenthesis") from None
    except UnexpectedToken as e:
        tok = e.token
        if tok.type == "$END":
            raise ExprError("the expression ends too early", len(text.rstrip()) + 1,
                            _expected_hint(e.expected)) from None
        raise ExprError(f"unexpected {str(tok)!r}", getattr(tok, "column", 0) or len(text) + 1,
                        _expected_hint(e.expected)) from None
    except UnexpectedInput as e:  # pragma: no cover - other lark errors
        raise ExprError(str(e).splitlines()[0], getattr(e, "column", 0)) from None
    _check_size(tree, text)
    try:
        result = _ToTree().transform(tree)
    except Exception as e:  # lark wraps transformer errors in VisitError
        orig = getattr(e, "orig_exc", e)
        if isinstance(orig, ExprError):
            raise orig from None
        raise
    return result


def _check_size(tree, text: str) -> None:
    """Refuse a tree deeper than MAX_DEPTH or larger than MAX_NODES before any
    recursive walk (lark's LALR parser itself does not recurse)."""
    from lark import Tree
    stack = [(tree, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise ExprError(f"expression nested deeper than {MAX_DEPTH} levels (operators inside operators)",
                            _first_column(node),
                            "split a long chain into several penalties; remove repeated signs")
        if nodes > MAX_NODES:
            raise ExprError(f"expression has more than {MAX_NODES} terms", _first_column(node),
                            "split it into several penalties")
        for child in node.children:
            if isinstance(child, Tree):
                stack.append((child, depth + 1))


def _first_column(node) -> int:
    """The 1-based column of the first token under a lark tree node (0: none)."""
    from lark import Tree
    while isinstance(node, Tree):
        kids = [c for c in node.children if c is not None]
        if not kids:
            return 0
        node = kids[0]
    return getattr(node, "column", 0) or 0


_TOKEN_WORDS = {"NAME": "a name", "NUMBER": "a number", "LPAR": "'('", "RPAR": "')'", "PLUS": "'+'",
                "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "COMMA": "','", "RSQB": "']'", "LSQB": "'['",
                "EQUAL": "'='", "BOOL": "true/false", "__ANON_0": "'**'", "$END": "the end",
                "COMPOP": "a comparison", "ELLIPSIS": "'...'", "COLON": "':'"}


def _expected_hint(expected) -> str:
    words = sorted({_TOKEN_WORDS.get(t, t) for t in expected})
    return "expected " + ", ".join(words[:6]) if words else None


def _col(node) -> int:
    """The 1-based column where a subtree starts (0: unknown, a bare number)."""
    kind = node[0]
    if kind == "name":
        return node[2]
    if kind == "call":
        return node[4]
    if kind == "neg":
        return max(_col(node[1]) - 1, 0)
    if kind == "bin":
        return _col(node[2])
    if kind == "cmp":
        return _col(node[2]) or node[4]
    if kind == "index":
        return node[3]
    return 0


def _children(n) -> list:
    kind = n[0]
    if kind == "neg":
        return [n[1]]
    if kind in ("bin", "cmp"):
        return [n[2], n[3]]
    if kind == "call":
        return list(n[2]) + [v for v in n[3].values()]
    if kind == "list":
        return list(n[1])
    if kind == "index":
        out = [n[1]]
        for item in n[2]:
            if item[0] == "at":
                out.append(item[1])
            elif item[0] == "slice":
                out += [x for x in item[1:] if x is not None]
        return out
    return []


def names(node) -> list[tuple[str, int]]:
    """Every tensor name the expression uses, with its column."""
    out = []

    def walk(n):
        if n[0] == "name":
            out.append((n[1], n[2]))
        for c in _children(n):
            walk(c)

    walk(node)
    return out


def gradient_names(node) -> set[str]:
    """The tensor names a gradient reaches from the expression's value: not through shape_of, a
    comparison (a bool, which TensorFlow does not differentiate), where's condition, or bernoulli's
    arguments (a comparison inside). A name used only there gets no gradient (fuzzer, seed 34)."""
    out = set()

    def walk(n):
        kind = n[0]
        if kind == "name":
            out.add(n[1])
        if kind == "cmp" or (kind == "call" and n[1] in ("shape_of", "bernoulli")):
            return
        if kind == "call" and n[1] == "where":
            for c in list(n[2])[1:]:
                walk(c)
            return
        if kind == "index":
            walk(n[1])  # the indices are integers
            return
        for c in _children(n):
            walk(c)

    walk(node)
    return out


def uses_random(node) -> bool:
    """Does the expression draw random numbers (normal, uniform, bernoulli)?"""
    if node[0] == "call" and node[1] in RANDOM:
        return True
    return any(uses_random(c) for c in _children(node))


def _const_int(node):
    if node[0] == "num" and isinstance(node[1], int):
        return node[1]
    if node[0] == "neg" and node[1][0] == "num" and isinstance(node[1][1], int):
        return -node[1][1]
    return None


def _const_num(node):
    """A number written as a literal (``2``, ``-0.5``), else None."""
    if node[0] == "num":
        return float(node[1])
    if node[0] == "neg" and node[1][0] == "num":
        return -float(node[1][1])
    return None


BATCH = "batch"  # the batch axis, in the shapes the Expr layer's rule works on


def infer_rank(node, ranks: dict) -> int:
    """The rank of the expression's value given each name's rank.

    Raises ExprError for unknown names or functions, wrong arity, bad axes.
    """
    return len(infer_shape(node, {k: (None,) * r for k, r in ranks.items()}))


def infer_dims(node, dims: dict) -> tuple:
    """The symbolic shape of the expression's value, given each name's shape as
    a tuple of axis labels (``("a0", "a1")``): a reduced axis kept with
    ``keepdims=true`` becomes 1, one reduced without it disappears, and
    broadcasting aligns shapes from the right as numpy does. Used where the
    result must have a given shape (a constraint's value replaces its weight).
    Raises ExprError as ``infer_rank`` does, and where shapes cannot broadcast."""
    return infer_shape(node, dims, batch=False)


def infer_shape(node, shapes: dict, batch: bool = True, layer: bool = False) -> tuple:
    """The static shape of the expression's value given each name's shape.

    A size is an int, None (unknown) or a label (a string: two labels line up
    only when equal; ``BATCH`` is the batch axis). ``batch``: axis 0 is the
    batch (said in hints). ``layer``: the Expr layer's rules: random functions
    are allowed, and the batch axis (labelled ``BATCH`` in ``shapes``) may not
    be indexed, sliced or concatenated. Raises ExprError with a column.
    """
    return _Shapes(shapes, batch, layer).shape(node)


class _Shapes:
    def __init__(self, shapes, batch, layer):
        self.shapes, self.batch, self.layer = shapes, batch, layer
        self.hint = _TENSOR_HINT if batch else _WEIGHT_HINT

    def shape(self, node) -> tuple:
        kind = node[0]
        if kind == "num":
            return ()
        if kind in ("bool", "list"):
            raise ExprError("booleans and lists are only allowed as keyword values (axis=[0, 1], keepdims=true)",
                            _col(node))
        if kind == "name":
            if node[1] not in self.shapes:
                raise ExprError(f"unknown name '{node[1]}'", node[2], _names_hint(node[1], self.shapes))
            return tuple(self.shapes[node[1]])
        if kind == "neg":
            return self.shape(node[1])
        if kind in ("bin", "cmp"):
            return _broadcast(self.shape(node[2]), self.shape(node[3]), node, self.hint)
        if kind == "index":
            return self.index(node)
        if kind == "call":
            return self.call(node)
        raise ExprError(f"unsupported expression part {kind}")  # pragma: no cover

    def _axis_hint(self, r):
        return f"axes run from {-r} to {r - 1}" + (" (axis 0 is the batch)" if self.batch else "")

    def call(self, node) -> tuple:
        _, fn, pos, kw, col = node
        if fn not in FUNCTIONS:
            from ..diagnostics import did_you_mean
            hint = did_you_mean(fn, FUNCTIONS) or "functions: " + ", ".join(sorted(FUNCTIONS))
            raise ExprError(f"unknown function '{fn}'", col, hint)
        fkind, lo, hi, allowed = FUNCTIONS[fn]
        if not lo <= len(pos) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise ExprError(f"{fn}() takes {want} positional argument{'s' if hi > 1 else ''}, got {len(pos)}", col)
        for k in kw:
            if k not in allowed:
                raise ExprError(f"{fn}() has no keyword '{k}'", col,
                                f"{fn}() takes {', '.join(allowed)}" if allowed else f"{fn}() takes no keywords")
        if fkind in ("random", "bernoulli") and not self.layer:
            raise ExprError(f"{fn}() draws random numbers, which only the Expr layer may do", col,
                            "write the sampling as an Expr layer; losses, penalties and constraints are deterministic")
        if fkind == "shape_of":
            raise ExprError("shape_of(...) is only an argument of normal(...), uniform(...) or bernoulli(p, ...)", col,
                            "e.g. normal(shape_of(z_mean))")
        if fkind == "random":
            for k, v in kw.items():
                if _const_num(v) is None:
                    raise ExprError(f"{fn}(): {k} must be a number", col)
            if fn == "uniform" and _const_num(kw.get("minval", ("num", 0))) >= _const_num(kw.get("maxval", ("num", 1))):
                raise ExprError("uniform(): minval must be below maxval", col)
            return self.shape_arg(fn, pos[0], col)
        if fkind == "bernoulli":
            p = self.shape(pos[0])
            if len(pos) == 2:
                return _broadcast(p, self.shape_arg(fn, pos[1], col), node, self.hint)
            return p
        if fkind == "concat":
            return self.concat(node)
        shapes = [self.shape(a) for a in pos]
        if fkind != "reduce":
            out = shapes[0]
            for s in shapes[1:]:
                out = _broadcast(out, s, node, self.hint)
            return out
        shape = shapes[0]
        r = len(shape)
        keep = kw.get("keepdims", ("bool", False))
        if keep[0] != "bool":
            raise ExprError(f"{fn}(): keepdims must be true or false", col)
        if "axis" not in kw:
            axes = set(range(r))
        else:
            axes = self.axes(fn, kw["axis"], r, col)
        if keep[1]:
            return tuple(1 if i in axes else d for i, d in enumerate(shape))
        return tuple(d for i, d in enumerate(shape) if i not in axes)

    def axes(self, fn, axis, r, col) -> set:
        items = [axis] if axis[0] != "list" else axis[1]
        if not items:
            raise ExprError(f"{fn}(): axis list is empty", col)
        seen = set()
        for a in items:
            v = _const_int(a)
            if v is None:
                raise ExprError(f"{fn}(): axis must be an integer or a list of integers", col)
            if not -r <= v < r:
                raise ExprError(f"{fn}(): axis {v} is out of range for a tensor of rank {r}", col,
                                self._axis_hint(r))
            if v % r in seen:
                raise ExprError(f"{fn}(): axis {v} repeated", col)
            seen.add(v % r)
        return seen

    def shape_arg(self, fn, node, col) -> tuple:
        if not (node[0] == "call" and node[1] == "shape_of"):
            raise ExprError(f"{fn}() takes its shape as shape_of(<tensor>)", col, f"e.g. {fn}(shape_of(x))")
        _, _, pos, kw, inner_col = node
        if len(pos) != 1 or kw:
            raise ExprError("shape_of() takes one tensor", inner_col)
        return self.shape(pos[0])

    def concat(self, node) -> tuple:
        _, fn, pos, kw, col = node
        shapes = [self.shape(a) for a in pos]
        r = len(shapes[0])
        if r == 0:
            raise ExprError("concat() joins tensors of at least one axis; got a number", col)
        for s in shapes[1:]:
            if len(s) != r:
                raise ExprError(f"concat() joins tensors of one rank; got {fmt_dims(shapes[0])} and {fmt_dims(s)}",
                                col, "every argument needs the same number of axes")
        (axis,) = self.axes(fn, kw.get("axis", ("num", -1)), r, col)
        if self.layer and axis == 0:
            raise ExprError("concat() on axis 0 would join along the batch", col, "concatenate on a feature axis, "
                            "e.g. axis=-1 (the default)")
        out, total = [], 0
        for i in range(r):
            if i == axis:
                for s in shapes:
                    total = None if total is None or not isinstance(s[i], int) else total + s[i]
                out.append(total)
                continue
            dims = {s[i] for s in shapes if s[i] is not None}
            if len(dims) > 1:
                raise ExprError(f"concat() on axis {axis - r if kw.get('axis') is None else _const_int(kw['axis'])}"
                                f" needs the other axes to match; got "
                                + " and ".join(fmt_dims(s) for s in shapes), col,
                                "the tensors may differ only on the axis they are joined on")
            out.append(dims.pop() if dims else None)
        return tuple(out)

    def index(self, node) -> tuple:
        _, x, items, col = node
        shape = self.shape(x)
        r = len(shape)
        n_ell = sum(1 for it in items if it[0] == "ellipsis")
        if n_ell > 1:
            raise ExprError("an index may use '...' once", col)
        given = len(items) - n_ell
        if given > r:
            raise ExprError(f"too many indices ({given}) for a tensor of rank {r} {fmt_dims(shape)}", col,
                            self._axis_hint(r) if r else "a number cannot be indexed")
        expanded = []
        for it in items:
            if it[0] == "ellipsis":
                expanded += [("slice", None, None, None)] * (r - given)
            else:
                expanded.append(it)
        expanded += [("slice", None, None, None)] * (r - len(expanded))
        out = []
        for axis, (it, d) in enumerate(zip(expanded, shape)):
            full = it == ("slice", None, None, None)
            if self.layer and axis == 0 and not full:
                raise ExprError("the first index is the batch axis: an Expr layer keeps every sample", col,
                                "start the index with ':' or '...', e.g. x[:, 0] or x[..., 0]")
            if it[0] == "at":
                i = _const_int(it[1])
                if i is None:
                    raise ExprError("an index must be an integer", col, "e.g. x[:, 0] or x[:, -1]")
                if isinstance(d, int) and not -d <= i < d:
                    raise ExprError(f"index {i} is out of range for axis {axis} of size {d}", col,
                                    f"indices on that axis run from {-d} to {d - 1}")
                continue
            bounds = []
            for b in it[1:]:
                if b is None:
                    bounds.append(None)
                    continue
                v = _const_int(b)
                if v is None:
                    raise ExprError("slice bounds must be integers", col, "e.g. x[:, 1:3]")
                bounds.append(v)
            start, stop, step = bounds
            if step is not None and step <= 0:
                raise ExprError("a slice step must be positive", col, "e.g. x[:, ::2]")
            if full:
                out.append(d)
            elif isinstance(d, int):
                n = len(range(*slice(start, stop, step).indices(d)))
                if n == 0:
                    raise ExprError(f"the slice {_fmt_slice(start, stop, step)} of axis {axis} (size {d}) is empty",
                                    col, f"indices on that axis run from {-d} to {d - 1}")
                out.append(n)
            else:
                out.append(None)
        return tuple(out)


def _fmt_slice(start, stop, step) -> str:
    text = ("" if start is None else str(start)) + ":" + ("" if stop is None else str(stop))
    return text + (f":{step}" if step is not None else "")


def _bdim(x, y):
    if x == y or y == 1:
        return x
    if x == 1:
        return y
    if x is None and not isinstance(y, str):
        return y
    if y is None and not isinstance(x, str):
        return x
    raise ValueError  # two labels, a label and a size, or a label (the batch) and an unknown size


_WEIGHT_HINT = "reduce with keepdims=true to keep the axes in place, e.g. w / norm(w, axis=0, keepdims=true)"
_TENSOR_HINT = ("reduce with keepdims=true to keep the axes in place (x / sum(x, axis=-1, keepdims=true)), or pick "
                "matching parts with an index (x[:, 0]) or a slice (x[:, 0:4])")


def _broadcast(a: tuple, b: tuple, node, hint: str = _WEIGHT_HINT) -> tuple:
    n = max(len(a), len(b))
    given = a, b
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        try:
            out.append(_bdim(x, y))
        except ValueError:
            raise ExprError(f"shapes {fmt_dims(given[0])} and {fmt_dims(given[1])} do not line up: numpy "
                            "broadcasting matches axes from the right, and two sizes line up when they are equal "
                            "or one of them is 1", _col(node), hint) from None
    if sum(d == BATCH for d in out) > 1:
        # (batch, 1, 3) - (batch, 3) is (batch, batch, 3): every sample against every other, a shape that
        # changes with the batch size (fuzzer, seed 35 graph 2007)
        raise ExprError(f"shapes {fmt_dims(given[0])} and {fmt_dims(given[1])} line up the batch axis of one with "
                        f"another axis of the other, giving {fmt_dims(tuple(out))}: the value would mix the samples "
                        "of a batch and change shape with the batch size", _col(node),
                        "keep the axes a reduction removes with keepdims=true (a - max(a, axis=1, keepdims=true)), "
                        "or index the same axes on both sides")
    return tuple(out)


def fmt_dims(dims) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + (",)" if len(dims) == 1 else ")")


def _names_hint(name, ranks):
    from ..diagnostics import did_you_mean
    return did_you_mean(name, ranks) or ("names here: " + ", ".join(sorted(ranks)[:12]) if ranks else None)
