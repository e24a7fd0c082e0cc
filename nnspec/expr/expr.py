"""The expression language shared by penalties, losses and constraints.

``parse(text)`` turns text into a small tree of tuples (plain data):

    ("num", value) | ("name", id, col) | ("neg", x)
    ("bin", op, a, b)                       op in + - * / **
    ("call", fn, [args], {kwarg: value}, col)

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
FUNCTIONS = {
    **{f: ("reduce", 1, 1, ("axis", "keepdims")) for f in REDUCTIONS},
    **{f: ("elementwise", 1, 1, ()) for f in ELEMENTWISE},
    "maximum": ("broadcast", 2, 2, ()),
    "minimum": ("broadcast", 2, 2, ()),
    "clip": ("clip", 3, 3, ()),
}


class ExprError(Exception):
    def __init__(self, message: str, col: int = 0, hint: str | None = None):
        super().__init__(message)
        self.message, self.col, self.hint = message, col, hint


_parser = None


def _get_parser() -> Lark:
    global _parser
    if _parser is None:
        from ..source.lark_cache import cache_file
        try:
            _parser = Lark.open("expr.lark", rel_to=__file__, parser="lalr", cache=cache_file("expr"))
        except OSError:  # an unwritable cache file: no cache
            _parser = Lark.open("expr.lark", rel_to=__file__, parser="lalr")
    return _parser


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
                "EQUAL": "'='", "BOOL": "true/false", "__ANON_0": "'**'", "$END": "the end"}


def _expected_hint(expected) -> str:
    words = sorted({_TOKEN_WORDS.get(t, t) for t in expected})
    return "expected " + ", ".join(words[:6]) if words else None


def names(node) -> list[tuple[str, int]]:
    """Every tensor name the expression uses, with its column."""
    out = []

    def walk(n):
        if n[0] == "name":
            out.append((n[1], n[2]))
        elif n[0] == "neg":
            walk(n[1])
        elif n[0] == "bin":
            walk(n[2]), walk(n[3])
        elif n[0] == "call":
            for a in n[2]:
                walk(a)
        elif n[0] == "list":
            for a in n[1]:
                walk(a)

    walk(node)
    return out


def _const_int(node):
    if node[0] == "num" and isinstance(node[1], int):
        return node[1]
    if node[0] == "neg" and node[1][0] == "num" and isinstance(node[1][1], int):
        return -node[1][1]
    return None


def infer_rank(node, ranks: dict) -> int:
    """The rank of the expression's value given each name's rank.

    Raises ExprError for unknown names or functions, wrong arity, bad axes.
    """
    kind = node[0]
    if kind == "num":
        return 0
    if kind == "bool" or kind == "list":
        raise ExprError("booleans and lists are only allowed as keyword values (axis=[0, 1], keepdims=true)")
    if kind == "name":
        if node[1] not in ranks:
            raise ExprError(f"unknown name '{node[1]}'", node[2], _names_hint(node[1], ranks))
        return ranks[node[1]]
    if kind == "neg":
        return infer_rank(node[1], ranks)
    if kind == "bin":
        return max(infer_rank(node[2], ranks), infer_rank(node[3], ranks))
    if kind == "call":
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
        rank_args = [infer_rank(a, ranks) for a in pos]
        if fkind != "reduce":
            return max(rank_args)
        r = rank_args[0]
        keep = kw.get("keepdims", ("bool", False))
        if keep[0] != "bool":
            raise ExprError(f"{fn}(): keepdims must be true or false", col)
        if "axis" not in kw:
            return r if keep[1] else 0
        axis = kw["axis"]
        axes = [axis] if axis[0] != "list" else axis[1]
        if not axes:
            raise ExprError(f"{fn}(): axis list is empty", col)
        seen = set()
        for a in axes:
            v = _const_int(a)
            if v is None:
                raise ExprError(f"{fn}(): axis must be an integer or a list of integers", col)
            if not -r <= v < r:
                raise ExprError(f"{fn}(): axis {v} is out of range for a tensor of rank {r}", col,
                                f"axes run from {-r} to {r - 1} (axis 0 is the batch)")
            if v % r in seen:
                raise ExprError(f"{fn}(): axis {v} repeated", col)
            seen.add(v % r)
        return r if keep[1] else r - len(axes)
    raise ExprError(f"unsupported expression part {kind}")  # pragma: no cover


def infer_dims(node, dims: dict) -> tuple:
    """The symbolic shape of the expression's value, given each name's shape as
    a tuple of axis labels (``("a0", "a1")``): a reduced axis kept with
    ``keepdims=true`` becomes 1, one reduced without it disappears, and
    broadcasting aligns shapes from the right as numpy does. Used where the
    result must have a given shape (a constraint's value replaces its weight).
    Raises ExprError as ``infer_rank`` does, and where shapes cannot broadcast."""
    kind = node[0]
    if kind == "num":
        return ()
    if kind in ("name", "bool", "list"):
        infer_rank(node, {k: len(v) for k, v in dims.items()})  # the same errors
        return tuple(dims[node[1]])
    if kind == "neg":
        return infer_dims(node[1], dims)
    if kind == "bin":
        return _broadcast(infer_dims(node[2], dims), infer_dims(node[3], dims), node)
    if kind == "call":
        infer_rank(node, {k: len(v) for k, v in dims.items()})  # arity, keywords, axes
        _, fn, pos, kw, col = node
        shapes = [infer_dims(a, dims) for a in pos]
        if FUNCTIONS[fn][0] != "reduce":
            out = shapes[0]
            for s in shapes[1:]:
                out = _broadcast(out, s, node)
            return out
        shape = shapes[0]
        keep = kw.get("keepdims", ("bool", False))[1]
        if "axis" not in kw:
            axes = set(range(len(shape)))
        else:
            axis = kw["axis"]
            axes = {_const_int(a) % len(shape) for a in ([axis] if axis[0] != "list" else axis[1])}
        if keep:
            return tuple(1 if i in axes else d for i, d in enumerate(shape))
        return tuple(d for i, d in enumerate(shape) if i not in axes)
    raise ExprError(f"unsupported expression part {kind}")  # pragma: no cover


def _broadcast(a: tuple, b: tuple, node) -> tuple:
    n = max(len(a), len(b))
    given = a, b
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            col = node[4] if node[0] == "call" else 0
            raise ExprError(f"shapes {fmt_dims(given[0])} and {fmt_dims(given[1])} do not line up: numpy broadcasting "
                            "matches axes from the right", col,
                            "reduce with keepdims=true to keep the axes in place, e.g. w / norm(w, axis=0, "
                            "keepdims=true)")
    return tuple(out)


def fmt_dims(dims) -> str:
    return "(" + ", ".join(str(d) for d in dims) + (",)" if len(dims) == 1 else ")")


def _names_hint(name, ranks):
    from ..diagnostics import did_you_mean
    return did_you_mean(name, ranks) or ("names here: " + ", ".join(sorted(ranks)[:12]) if ranks else None)
