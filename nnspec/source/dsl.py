"""The nnspec text DSL (``.nns``) -> the same ``Document`` the YAML loader gives.

The grammar is ``dsl.lark`` (lark, LALR, with the expression grammar of
``nnspec/expr/expr.lark`` imported for penalties and ``expr(...)`` values).
lark calls ``_Build`` as it reduces each rule (its ``transformer=`` option), so
no lark Tree is built and no ``propagate_positions`` meta is computed: a node
takes its position from its first token (rules marked ``!`` in dsl.lark keep
their keywords and brackets for that) and, where needed, its last line from
the post-lexer (LALR reduces a rule when the token after it arrives). The
nodes are lowered to plain data exactly as the equivalent YAML would
load, with a position in ``pos`` for every path, pointing into the .nns text;
schema, resolve, shapes, summary and compile cannot tell the two apart.

Lowering rules (the syntax is in README.md and dsl.lark):

* ``T(args)`` is the item ``{T: {args}}``; positional arguments are ``from``
  (one: that value; several: a list); ``n = T(...)`` sets ``name: n``.
* a name assigned more than once (``x = LSTM(x, ...)``) is a *variable*, not
  a layer name: its layers keep Keras-style auto names. A use of it right
  after its layer becomes "the previous layer" (no ``from``); elsewhere the
  layer it stands for gets its auto name written out, so references stay
  explicit and stable.
* a layer call as the only positional argument (``Dense(Flatten(x))``) is a
  layer of its own, placed just before.
* ``f(a=1)`` is ``{f: {a: 1}}``, ``f(v)`` is ``{f: v}``, ``f()`` is ``{f: {}}``;
  ``expr(...)`` is ``{expr: "<the expression's text>"}``.
"""
from __future__ import annotations

import json
import math
import os
import re
from contextvars import ContextVar

from .. import codes
from ..diagnostics import Diagnostic, Span
from ..naming import TOP_KEYS, AutoNamer, is_expansion, item_type
from ..document import Document
from .yaml_loader import MAX_BYTES, MAX_DEPTH, MAX_INT_DIGITS, MAX_NODES, decode

# lark's lexer and LALR loop take a few microseconds a token: the budget is
# charged per token as the lexer gives it, before the rest of the file is read
# (about 10.6 tokens a layer: a 6,500-layer spec has about 69,000)
MAX_TOKENS = 70_000

_HERE = os.path.dirname(os.path.abspath(__file__))
_EXPR_DIR = os.path.join(os.path.dirname(_HERE), "expr")
TAB = 8

_parser = None


class DslRefused(Exception):
    def __init__(self, code, message, line_col=(1, 1), hint=None):
        super().__init__(message)
        self.code, self.message, self.line_col, self.hint = code, message, line_col, hint


def _get_parser():
    global _parser
    if _parser is None:
        from lark import Lark
        from ..lark_cache import cache_file
        options = dict(rel_to=__file__, parser="lalr", import_paths=[_EXPR_DIR], postlex=_PostLex(),
                       transformer=_Build())
        try:
            _parser = Lark.open("dsl.lark", cache=cache_file("dsl"), **options)
        except OSError:  # pragma: no cover - an unwritable cache file: no cache
            _parser = Lark.open("dsl.lark", **options)
    return _parser


# ---------------------------------------------------------------- post-lexer
class _Parse:
    """One parse's state: its text, and what the post-lexer notes for ``_Build`` and the error
    messages. The parser (built once, shared) holds no state of its own: each parse sets its
    ``_Parse`` in ``_STATE``, so parses in several threads do not mix."""

    __slots__ = ("text", "comments", "open", "before")

    def __init__(self, text: str):
        self.text = text
        self.comments = []  # (line, text, own line?) of every comment, for fmt
        self.open = []  # (bracket, line, col) of the brackets not closed yet
        self.before = None  # the token before the last _NL or ')' given to the parser: see _Build


_STATE: ContextVar[_Parse] = ContextVar("nnspec_dsl_parse")


class _PostLex:
    """Newlines end statements except inside brackets; indentation opens and
    closes block bodies (Python's rules); comments are collected for ``fmt``."""

    always_accept = ("_NL",)
    BRACKETS = {"LPAR": 1, "LSQB": 1, "LBRACE": 1, "RPAR": -1, "RSQB": -1, "RBRACE": -1}

    def process(self, stream):
        from lark import Token
        st = _STATE.get()
        depth = 0
        indents = [0]
        last = None  # the last token given to the parser
        opened = st.open
        brackets = self.BRACKETS
        for tok in self._counted(stream):
            t = tok.type
            if t == "_NL":
                # an _NL is a line break and the blank and comment lines after it (up to 1,000
                # comment lines; more are the next _NL). The parser gets the first of a run; the
                # last gives the indentation.
                if "#" in tok.value:
                    self._collect_comments(st, tok)
                if depth > 0 or last is None:
                    continue
                if last.type != "_NL":
                    st.before = last
                    yield tok
                    last = tok
                if st.text.startswith("#", tok.end_pos):
                    continue
                indent_str = tok.value.rsplit("\n", 1)[1]
                indent = len(indent_str.expandtabs(TAB)) if indent_str else 0
                if indent == indents[-1]:
                    continue
                line = tok.end_line
                if indent > indents[-1]:
                    indents.append(indent)
                    if len(indents) > MAX_DEPTH:
                        raise DslRefused(codes.TOO_DEEP, f"nesting deeper than {MAX_DEPTH} levels", (line, indent + 1),
                                         "flatten the spec")
                    last = Token("_INDENT", indent_str, tok.end_pos, line, indent + 1, line, indent + 1, tok.end_pos)
                    yield last
                    continue
                while indent < indents[-1]:
                    indents.pop()
                    last = Token("_DEDENT", indent_str, tok.end_pos, line, indent + 1, line, indent + 1, tok.end_pos)
                    yield last
                if indent != indents[-1]:
                    raise DslRefused(codes.DSL_SYNTAX, f"this line is indented to column {indent + 1}, which "
                                     "matches no enclosing block", (line, indent + 1),
                                     "indent a block's body consistently; dedent to an earlier level")
                continue
            b = brackets.get(t)
            if b is not None:
                if b > 0:
                    depth += 1
                    opened.append((tok.value, tok.line, tok.column))
                    if depth > MAX_DEPTH:
                        raise DslRefused(codes.TOO_DEEP, f"nesting deeper than {MAX_DEPTH} levels",
                                         (tok.line, tok.column), "flatten the spec")
                else:
                    if depth > 0:
                        depth -= 1
                        opened.pop()
                    if t == "RPAR":
                        st.before = last
            yield tok
            last = tok
        n = len(st.text)
        for _ in indents[1:]:
            yield Token("_DEDENT", "", n, 1, 1, 1, 1, n)

    @staticmethod
    def _counted(stream):
        """lark's tokens, charged to MAX_TOKENS as the lexer gives them."""
        count = 0
        for tok in stream:
            count += 1
            if tok.type == "_NL" and "#" in tok.value:  # comment lines: one token each (kept for fmt)
                count += tok.value.count("\n")
            if count > MAX_TOKENS:
                raise DslRefused(codes.TOO_MANY_TOKENS, f"the spec has more than {MAX_TOKENS:,} tokens (names, "
                                 "numbers, symbols, line breaks and comments)", (tok.line, tok.column),
                                 "split the spec; blocks and repeat write repeated layers once")
            yield tok

    @staticmethod
    def _collect_comments(st, tok):
        line = tok.line
        start = tok.start_pos
        for k, seg in enumerate(tok.value.split("\n")):
            i = seg.find("#")
            if i >= 0:
                if k == 0:
                    before = st.text[st.text.rfind("\n", 0, start) + 1:start]
                    own = not before.strip()
                else:
                    own = True
                st.comments.append((line + k, seg[i:].rstrip(), own))


# ---------------------------------------------------------------- nodes, built while parsing
class _Node:
    """What lark's Tree gave (``data``, ``children``: nodes and the named tokens),
    with the position of the first token and, for statements, the last line."""

    __slots__ = ("data", "children", "line", "column", "end_line")

    def __init__(self, data, children, line, column, end_line=0):
        self.data, self.children, self.line, self.column, self.end_line = data, children, line, column, end_line


class _Expr(_Node):
    """An expression: only its text is used, ``text[start_pos:end_pos]``."""

    __slots__ = ("start_pos", "end_pos")


# what may lie between two tokens: ignored blanks, and (inside brackets) line breaks and comments
_GAP = re.compile(r"(?:[\t \f]+|\r?\n|#[^\n]*)*")


def _node(data, first=0):
    """A rule's callback: its children from ``first`` on, at the first child."""
    def build(self, c):
        f = c[0]
        return _Node(data, c[first:] if first else c, f.line, f.column)
    return build


def _stmt(data, first):
    """A simple statement's callback: it ends before the _NL lark was just given."""
    def build(self, c):
        f = c[0]
        return _Node(data, c[first:] if first else c, f.line, f.column, _STATE.get().before.end_line)
    return build


def _nodes_only(data, body=False):
    """Keeps the nodes: drops the ! tokens and the Nones. A block's or repeat's header (``body``)
    ends with its ':' (the body's statements are noted apart)."""
    def build(self, c):
        f = c[0]
        end = max((x.end_line for x in c if getattr(x, "type", None) == "COLON"), default=f.line) if body else 0
        return _Node(data, [x for x in c if type(x) is _Node], f.line, f.column, end)
    return build


class _Build:
    """lark's ``transformer=``: lark calls ``getattr(self, rule)(children)`` as it
    reduces a rule. The children are those lark's Tree would have (anonymous
    tokens dropped, ``[...]`` giving None) plus the keywords and brackets of the
    rules marked ``!`` in dsl.lark, which only give the position. A statement
    ends with the token before the ``_NL`` after it, the one lark has just been
    given (``_Parse.before``); block and repeat end with their ``_DEDENT``. No
    attribute has a terminal's name (lark would take it for a lexer callback)."""

    setting_key = _node("setting_key")
    pair = _node("pair")
    param = _node("param")
    block_opts = _node("block_opts")
    string = _node("string")
    number = _node("number")
    quantity = _node("quantity")
    ref = _node("ref")
    word = _node("word")
    ident = _node("ident")
    dotted = _node("dotted")
    entry = _node("entry")
    call = _node("call")
    positional = _node("positional")
    kwarg = _node("kwarg")
    true = _node("true", 1)
    false = _node("false", 1)
    null = _node("null", 1)
    version = _stmt("version", 1)
    model = _stmt("model", 1)
    optimizer = _stmt("optimizer", 1)
    setting = _stmt("setting", 0)
    output = _stmt("output", 1)
    penalty_on = _stmt("penalty_on", 2)
    penalty_map = _stmt("penalty_map", 1)
    layer = _stmt("layer", 0)
    list = _nodes_only("list")
    map = _nodes_only("map")
    block_def = _nodes_only("block_def", True)
    repeat_stmt = _nodes_only("repeat_stmt", True)

    def start(self, c):
        return c

    def input(self, c):  # "input" ident value ("dtype" value)?
        kw = c[0]
        return _Node("input", c[1:3] + c[4:], kw.line, kw.column, _STATE.get().before.end_line)

    def output_layer(self, c):  # "output" ident "=" call pair*
        kw = c[0]
        return _Node("output_layer", [c[1]] + c[3:], kw.line, kw.column, _STATE.get().before.end_line)

    def penalty_expr(self, c):  # "penalty" expression
        kw = c[0]
        return _Node("penalty_expr", [self._expr_after(c[1], kw)], kw.line, kw.column, _STATE.get().before.end_line)

    def exprlit(self, c):  # "expr" "(" expression ")"
        kw = c[0]
        return _Node("exprlit", [self._expr_after(c[2], c[1])], kw.line, kw.column)

    def expression(self, c):  # ends before the _NL or ')' lark was just given
        e = _Expr("expression", c, 0, 0)
        e.end_pos = _STATE.get().before.end_pos
        return e

    def _expr_after(self, expr, tok):
        """The expression starts at the first token after ``tok``."""
        text = _STATE.get().text
        start = _GAP.match(text, tok.end_pos).end()
        nl = text.rfind("\n", tok.end_pos, start)
        if nl < 0:
            expr.line, expr.column = tok.end_line, tok.end_column + (start - tok.end_pos)
        else:
            expr.line, expr.column = tok.end_line + text.count("\n", tok.end_pos, start), start - nl
        expr.start_pos = start
        return expr


# ---------------------------------------------------------------- errors
_WORDS = {"NAME": "a name", "expr__NAME": "a name", "NUMBER": "a number", "expr__NUMBER": "a number",
          "QUANTITY": "a quantity (5M, 2GiB)",
          "STRING": "a quoted string", "REF": "a $parameter", "_NL": "the end of the line",
          "_INDENT": "an indented block", "_DEDENT": "the end of the block", "$END": "the end of the file",
          "expr__BOOL": "true/false"}


def _keywords(parser) -> set:
    """The grammar's keywords (nnspec, input, repeat, true, expr, ...): its literal terminals that are words."""
    return {t.pattern.value for t in parser.terminals if t.pattern.type == "str" and t.pattern.value.isidentifier()}


def _describe_terminal(name, parser) -> str:
    if name in _WORDS:
        return _WORDS[name]
    try:
        term = parser.get_terminal(name)
    except KeyError:
        return name
    pat = term.pattern
    if pat.type == "str":
        return f"'{pat.value}'"
    return name


def _expected(names, parser) -> list[str]:
    names = set(names)
    if "NAME" in names or "expr__NAME" in names:  # keywords are names too there: do not list them all
        keywords = _keywords(parser)
        names = {n for n in names if _describe_terminal(n, parser).strip("'") not in keywords}
    words = sorted({_describe_terminal(n, parser) for n in names if n not in ("__IGNORE_0",)},
                   key=lambda w: (not w.startswith("a"), w))
    return words


def _found(tok, parser) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type in ("_NL", "_INDENT", "_DEDENT"):
        return {"_NL": "the end of the line", "_INDENT": "indentation",
                "_DEDENT": "the end of the block"}[tok.type]
    value = str(tok)
    kind = {"NAME": "name", "NUMBER": "number", "STRING": "string", "expr__NAME": "name",
            "expr__NUMBER": "number"}.get(tok.type)
    if len(value) > 40:
        value = value[:37] + "..."
    return f"{kind} '{value}'" if kind else f"'{value}'"


def _syntax_diag(e, text, file, parser, unclosed=()) -> Diagnostic:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken
    if unclosed and (isinstance(e, UnexpectedEOF) or getattr(getattr(e, "token", None), "type", "") == "$END"):
        b, bl, bc = unclosed[-1]
        line, col = _end_position(text)
        return Diagnostic(codes.DSL_SYNTAX, f"syntax error: the file ends inside the '{b}' opened at line {bl}, "
                          f"column {bc}", Span(file, line, col),
                          "close it with '" + {"(": ")", "[": "]", "{": "}"}[b] + "'")
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            line, col = _end_position(text)
        else:
            line, col = tok.line, tok.column
        names = e.expected
        ip = getattr(e, "interactive_parser", None)
        if ip is not None:
            try:
                terms = {t.name for t in parser.terminals} | {"_INDENT", "_DEDENT", "$END"}
                choices = {t for t in ip.choices() if t in terms}
                names = choices or names
            except Exception:  # pragma: no cover - lark internals
                pass
        expected = _expected(names, parser)
        msg = f"syntax error: unexpected {_found(tok, parser)}"
        if expected:
            msg += "; expected " + _join(expected)
        return Diagnostic(codes.DSL_SYNTAX, msg, Span(file, line, col), _hint(tok, expected))
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        expected = _expected(e.allowed or (), parser)
        msg = f"syntax error: unexpected character {ch!r}"
        if expected:
            msg += "; expected " + _join(expected)
        hint = ("strings with spaces or symbols need double quotes" if ch not in "\"'" else
                "strings use double quotes and stay on one line")
        return Diagnostic(codes.DSL_SYNTAX, msg, Span(file, e.line, e.column), hint)
    if isinstance(e, UnexpectedEOF):
        line, col = _end_position(text)
        expected = _expected(e.expected, parser)
        return Diagnostic(codes.DSL_SYNTAX, "syntax error: the file ends too early" +
                          ("; expected " + _join(expected) if expected else ""), Span(file, line, col),
                          "check for an unclosed bracket")
    return Diagnostic(codes.DSL_SYNTAX, f"syntax error: {str(e).splitlines()[0]}",
                      Span(file, getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1))


def _join(words, n=8) -> str:
    words = list(words)
    if len(words) > n:
        words = words[:n] + ["..."]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _hint(tok, expected) -> str:
    if "an indented block" in expected:
        return "indent the body of a block or repeat under its line ending in ':'"
    if tok.type == "_NL" and "')'" in expected:
        return "close the bracket, or break the line inside it"
    if tok.type == "_NL":
        return "a statement ends at the end of its line; continue it inside brackets"
    if tok.type == "_INDENT":
        return "only the body of a block or repeat is indented"
    if tok.type == "NAME" and ("'='" in expected or "'('" in expected):
        return "a layer is written Type(arg=value, ...) or name = Type(...)"
    if "','" in expected:
        return "separate arguments and items with commas"
    return "see the DSL syntax in README.md"


def _end_position(text):
    body = text.rstrip("\n")
    line = body.count("\n") + 1
    col = len(body) - (body.rfind("\n") + 1) + 1
    return line, col


# ---------------------------------------------------------------- entry points
def load_dsl(raw: bytes | str, file: str = "<string>") -> tuple[Document | None, list[Diagnostic]]:
    """Parse a .nns spec. Returns (document or None, diagnostics)."""
    doc, diags, _ = parse_dsl(raw, file)
    return doc, diags


def parse_dsl(raw: bytes | str, file: str = "<string>"):
    """(document or None, diagnostics, comments): comments for ``fmt`` as
    ``{"lead": {path: [lines]}, "trail": {path: text}, "end": [lines]}``."""
    if isinstance(raw, bytes):
        text, diags = decode(raw, file)
        if text is None:
            return None, diags, None
    else:
        text = raw
        if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
            doc, diags = decode(text.encode("utf-8", "surrogatepass"), file)
            return None, diags, None
        if "\x00" in text:
            _, diags = decode(text.encode("utf-8", "surrogatepass"), file)
            return None, diags, None
    bad = _refuse_characters(text, file)
    if bad:
        return None, bad, None
    from lark.exceptions import UnexpectedInput, VisitError
    parser = _get_parser()
    state = _Parse(text + "\n")
    reset = _STATE.set(state)
    try:
        stmts = parser.parse(state.text)
    except DslRefused as r:
        return None, [Diagnostic(r.code, r.message, Span(file, *r.line_col), r.hint)], None
    except UnexpectedInput as e:
        orig = e
        return None, [_syntax_diag(orig, text, file, parser, list(state.open))], None
    except VisitError as e:  # pragma: no cover - _Build raises nothing; lark would not wrap it anyway
        if isinstance(e.orig_exc, DslRefused):
            r = e.orig_exc
            return None, [Diagnostic(r.code, r.message, Span(file, *r.line_col), r.hint)], None
        raise e.orig_exc
    finally:
        _STATE.reset(reset)
    comments = state.comments
    low = _Lower(text, file)
    try:
        low.spec(stmts)
    except DslRefused as r:
        return None, low.diags + [Diagnostic(r.code, r.message, Span(file, *r.line_col), r.hint)], None
    if low.diags:
        return None, low.diags, None
    data = low.data if low.data else None
    if data is None:
        pos = {(): (0, 0, 1, 1)}
    else:
        pos = low.pos
        pos[()] = (0, 0, 1, 1)
        over = _yaml_limits(data)
        if over is not None:
            code, message, path = over
            p = pos.get(path) or pos.get(path[:-1]) or (0, 0, 1, 1)
            hint = "flatten the spec" if code == codes.TOO_DEEP else "split the spec"
            return None, [Diagnostic(code, message, Span(file, p[2], p[3]),
                                     f"{hint}; the YAML form could not hold it either")], None
    return Document(file=file, data=data, pos=pos, text=text), [], attach_comments(comments, low.stmts)


# The characters the YAML reader refuses in a file (YAML's non-printable set), and the
# YAML 1.1 line breaks the DSL would read as text (a lone CR, NEL, LS, PS): a .nns spec
# holds the same text a YAML spec can, so every .nns converts to YAML (comments too).
_NOT_IN_A_SPEC = re.compile("[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
                            "|\r(?!\n)")


def _refuse_characters(text, file):
    m = _NOT_IN_A_SPEC.search(text)
    if m is None:
        return []
    line, col = text.count("\n", 0, m.start()) + 1, m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    code = ord(m.group()[0])
    return [Diagnostic(codes.DSL_SYNTAX, f"the character U+{code:04X} is not allowed in a spec", Span(file, line, col),
                       f"remove it; inside a quoted string write it as \\u{code:04x}")]


def _yaml_limits(data):
    """The YAML loader's limits on the lowered data: (code, message, path) of the
    first one exceeded, or None. Depth counts lists and mappings, the root too;
    nodes count every value (keys not), as the loader's budget does."""
    stack = [(data, 1, ())]
    nodes = 1
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            return codes.TOO_DEEP, f"nesting deeper than {MAX_DEPTH} levels", path
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            nodes += 1
            if isinstance(v, (dict, list)):
                stack.append((v, depth + 1, path + (k,)))
        if nodes > MAX_NODES:
            return codes.TOO_MANY_NODES, f"the spec has more than {MAX_NODES:,} nodes", path
    return None


def attach_comments(comments, stmts):
    """``comments``: (line, text, own line?); ``stmts``: (first line, last line,
    path) of each statement (a block's or repeat's header only: the statements
    of its body are noted apart). Own-line comments lead the next statement,
    or trail the statement whose lines they are inside; end-of-line comments
    trail the statement on that line. The YAML side (emit.yaml_comments) uses
    the same rules, so comments stay with their statement in both forms."""
    import bisect
    lead, trail, end = {}, {}, []
    stmts = sorted(stmts, key=lambda s: s[0])
    starts = [s[0] for s in stmts]
    for line, text, own in comments:
        i = bisect.bisect_right(starts, line) - 1  # the last statement starting at or before the line
        inside = i >= 0 and stmts[i][0] <= line <= stmts[i][1]
        if own and not (inside and line != stmts[i][0]):
            if i + 1 < len(stmts):
                lead.setdefault(stmts[i + 1][2], []).append(text)
            else:
                end.append(text)
        elif i >= 0:
            trail.setdefault(stmts[i][2], []).append(text)
        else:
            end.append(text)
    return {"lead": lead, "trail": {k: "  ".join(v) for k, v in trail.items()}, "end": end}


# ---------------------------------------------------------------- lowering
_INT_RE = re.compile(r"^-?\d+\Z")


def _lc(node):
    """(line, col) of a node or token."""
    return node.line, node.column


def _end_line(node):
    return node.end_line


_OUTPUT_KEY = object()  # a variable used as an output's name


class _Var:
    """A use of a variable inside ``from``: patched once all layers are known."""

    __slots__ = ("name", "entry", "lc", "suffix")

    def __init__(self, name, entry, lc, suffix=""):
        self.name, self.entry, self.lc = name, entry, lc
        self.suffix = suffix  # ".state_h": an output of the variable's layer


class _Lower:
    def __init__(self, text, file):
        self.text, self.file = text, file
        self.data: dict = {}
        self.pos: dict = {}
        self.diags: list[Diagnostic] = []
        self.stmts: list = []  # (first line, last line, path) of each statement, for comments
        self.seen: dict = {}  # top-level key -> (line, col) of its statement
        self.nodes = 0
        self.variables: set = set()
        self.var_uses: list = []  # (_Var, container, key)

    # ------------------------------------------------------------ helpers
    def error(self, message, node, hint=None, code=codes.DSL_SYNTAX):
        self.diags.append(Diagnostic(code, message, Span(self.file, *_lc(node)), hint))

    def count(self):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise DslRefused(codes.TOO_MANY_NODES, f"the spec has more than {MAX_NODES:,} nodes", (1, 1),
                             "split the spec")

    def top(self, key, stmt):
        lc = _lc(stmt)
        if key in self.seen:
            first = self.seen[key]
            word = {"name": "model", "training": "optimizer/training"}.get(key, key)
            self.error(f"'{word}' is given twice (first at line {first[0]}, column {first[1]})", stmt,
                       "give it once", code=codes.DUPLICATE_KEY)
            return False
        self.seen[key] = lc
        return True

    def note(self, stmt, path):
        self.stmts.append((_lc(stmt)[0], _end_line(stmt), path))

    # ------------------------------------------------------------ values
    def value(self, node, path, key_lc=(0, 0)):
        """The plain value of a value node; records pos[path] (and below)."""
        self.count()
        line, col = _lc(node)
        self.pos[path] = key_lc + (line, col)
        kind = node.data if hasattr(node, "data") else None
        if kind == "string":
            return self.string(node.children[0])
        if kind == "number":
            return self.number(node.children[0])
        if kind == "true":
            return True
        if kind == "false":
            return False
        if kind == "null":
            return None
        if kind == "word" or kind == "ident" or kind == "dotted" or kind == "quantity":
            return str(node.children[0])
        if kind == "ref":
            return str(node.children[0])
        if kind == "list":
            out = []
            for item in node.children:
                if item is None:
                    continue
                out.append(self.value(item, path + (len(out),)))
            return out
        if kind == "map":
            return self.map(node, path)
        if kind == "call":
            return self.call_value(node, path)
        if kind == "exprlit":
            expr = node.children[0]
            self.pos[path + ("expr",)] = (line, col) + _lc(expr)
            return {"expr": self.expr_text(expr)}
        raise DslRefused(codes.DSL_SYNTAX, f"unexpected {kind or node!r}", (line, col))  # pragma: no cover

    def string(self, tok):
        try:
            value = json.loads(tok)
        except ValueError as e:
            raise DslRefused(codes.DSL_SYNTAX, f"bad string {str(tok)[:40]}: {e.args[0].split(':')[0]}",
                             (tok.line, tok.column), 'escapes are JSON\'s: \\" \\\\ \\n \\t \\uXXXX') from None
        if not value.isprintable():  # quick test; a lone surrogate is not printable
            for ch in value:
                if 0xD800 <= ord(ch) <= 0xDFFF:
                    raise DslRefused(codes.DSL_SYNTAX, f"the string has a lone surrogate \\u{ord(ch):04x}",
                                     (tok.line, tok.column),
                                     "a \\uD800-\\uDFFF escape must be half of a pair: write the character "
                                     "itself; YAML cannot hold a lone one")
        return value

    def number(self, tok):
        text = str(tok)
        if _INT_RE.match(text):
            if sum(ch.isdigit() for ch in text) > MAX_INT_DIGITS:
                raise DslRefused(codes.NUMBER_TOO_LARGE, f"integer with more than {MAX_INT_DIGITS} digits",
                                 (tok.line, tok.column), "use a realistic value")
            return int(text)
        value = float(text)
        if not math.isfinite(value):
            raise DslRefused(codes.BAD_NUMBER, f"number '{text[:40]}' is not finite", (tok.line, tok.column),
                             "use a finite number")
        return value

    def key_of(self, node):
        """A key: an ident tree or a STRING token."""
        if hasattr(node, "data"):
            return str(node.children[0]), _lc(node)
        return self.string(node), _lc(node)

    def map(self, node, path):
        out = {}
        for entry in node.children:
            if entry is None:
                continue
            knode, vnode = entry.children
            key, klc = self.key_of(knode)
            if key in out:
                self.error(f"duplicate key '{key}'", knode, "remove or rename one of them", code=codes.DUPLICATE_KEY)
                continue
            out[key] = self.value(vnode, path + (key,), klc)
        return out

    def args(self, call):
        """(name token, [positional nodes], [(key node, value node)])."""
        name = call.children[0]
        pos, kw = [], []
        for a in call.children[1:]:
            if a is None:
                continue
            if a.data == "positional":
                if kw:
                    self.error("a positional argument after keyword arguments", a.children[0],
                               "inputs come first: Type(input, arg=value)")
                pos.append(a.children[0])
            else:
                kw.append((a.children[0], a.children[1]))
        return name, pos, kw

    def call_value(self, node, path):
        """``f(a=1)`` -> {f: {a: 1}}; ``f(v)`` -> {f: v}; ``f()`` -> {f: {}}."""
        name, pos, kw = self.args(node)
        fname = str(name.children[0])
        flc = _lc(name)
        p = path + (fname,)
        if pos and kw:
            self.error(f"{fname}(...) takes either one value or keyword arguments, not both", node,
                       f"write {fname}(key=value, ...)")
            return {fname: None}
        if len(pos) > 1:
            self.error(f"{fname}(...) takes one value; got {len(pos)}", pos[1],
                       f"write {fname}([a, b]) for a list")
            return {fname: None}
        if pos:
            return {fname: self.value(pos[0], p, flc)}
        self.pos[p] = flc + flc
        return {fname: self.kwargs(kw, p)}

    def kwargs(self, kw, path):
        out = {}
        for knode, vnode in kw:
            key = str(knode.children[0])
            if key in out:
                self.error(f"argument '{key}' is given twice", knode, "remove one of them", code=codes.DUPLICATE_KEY)
                continue
            out[key] = self.value(vnode, path + (key,), _lc(knode))
        return out

    def expr_text(self, expr):
        return self.text[expr.start_pos:expr.end_pos]

    def pairs(self, nodes, path, out=None):
        out = {} if out is None else out
        for pair in nodes:
            knode, vnode = pair.children
            key = str(knode.children[0])
            if key in out:
                self.error(f"'{key}' is given twice", knode, "remove one of them", code=codes.DUPLICATE_KEY)
                continue
            out[key] = self.value(vnode, path + (key,), _lc(knode))
        return out

    # ------------------------------------------------------------ statements
    def spec(self, stmts):
        stmts = [c for c in stmts if c is not None]
        # variables: names assigned more than once, anywhere at the top level
        counts: dict = {}
        for s in stmts:
            if s.data == "layer" and len(s.children) >= 2 and s.children[0] is not None \
                    and getattr(s.children[0], "data", None) == "ident":
                n = str(s.children[0].children[0])
                counts[n] = counts.get(n, 0) + 1
        self.variables = {n for n, c in counts.items() if c > 1}
        self.bindings: dict = {}
        for s in stmts:
            getattr(self, "s_" + s.data)(s)
        self.patch_variables()
        self.data = {k: self.data[k] for k in TOP_KEYS if k in self.data} | {
            k: v for k, v in self.data.items() if k not in TOP_KEYS}

    def s_version(self, s):
        if self.top("nnspec", s):
            self.data["nnspec"] = self.value(s.children[0], ("nnspec",), _lc(s))
        self.note(s, ("nnspec",))

    def s_model(self, s):
        if self.top("name", s):
            self.data["name"] = self.value(s.children[0], ("name",), _lc(s))
        self.note(s, ("name",))

    def s_setting(self, s):
        key = str(s.children[0].children[0])
        if self.top(key, s):
            self.data[key] = self.value(s.children[1], (key,), _lc(s))
        self.note(s, (key,))

    def s_input(self, s):
        name_node, shape = s.children[0], s.children[1]
        dtype = s.children[2] if len(s.children) > 2 else None
        name = str(name_node.children[0])
        if "inputs" in self.seen and "inputs" in self.data and not isinstance(self.data.get("inputs"), dict):
            self.error("'inputs' is given twice", s, code=codes.DUPLICATE_KEY)
            return
        inputs = self.data.setdefault("inputs", {})
        self.seen.setdefault("inputs", _lc(s))
        self.pos.setdefault(("inputs",), _lc(s) + _lc(s))
        if name in inputs:
            self.error(f"input '{name}' is declared twice", name_node, "give each input a unique name",
                       code=codes.DUPLICATE_KEY)
            return
        path = ("inputs", name)
        klc = _lc(name_node)
        if dtype is None:
            inputs[name] = self.value(shape, path, klc)
        else:
            self.pos[path] = klc + _lc(shape)
            inputs[name] = {"shape": self.value(shape, path + ("shape",), _lc(shape)),
                            "dtype": self.value(dtype, path + ("dtype",), _lc(dtype))}
        self.note(s, path)

    def s_output(self, s):
        name_node = s.children[0]
        name = str(name_node.children[0])
        outputs = self.data.setdefault("outputs", {})
        self.seen.setdefault("outputs", _lc(s))
        self.pos.setdefault(("outputs",), _lc(s) + _lc(s))
        if not isinstance(outputs, dict):
            self.error("'outputs' is given twice", s, code=codes.DUPLICATE_KEY)
            return
        if name in outputs:
            self.error(f"output '{name}' is declared twice", name_node, "give each output once",
                       code=codes.DUPLICATE_KEY)
            return
        path = ("outputs", name)
        if name in self.variables and name in self.bindings:
            self.var_uses.append((_Var(name, self.bindings[name], _lc(name_node)), outputs, _OUTPUT_KEY))
        rest = [c for c in s.children[1:] if c is not None]
        klc = _lc(name_node)
        if not rest:
            self.pos[path] = klc + klc
            outputs[name] = None
        elif rest[0].data == "map":
            outputs[name] = self.value(rest[0], path, klc)
        else:
            self.pos[path] = klc + _lc(rest[0])
            outputs[name] = self.pairs(rest, path)
        self.note(s, path)

    def s_output_layer(self, s):
        """``output n = Type(...) loss ...``: the layer n, and n as an output."""
        name_node, call, *pairs = [c for c in s.children if c is not None]
        layers = self.layer_list(s)
        if layers is None:
            return
        first = len(layers)
        self.lower_call(call, name_node, layers, ("layers",), top=False)
        self.note(s, ("layers", first))
        outputs = self.data.setdefault("outputs", {})
        self.seen.setdefault("outputs", _lc(s))
        self.pos.setdefault(("outputs",), _lc(s) + _lc(s))
        name = str(name_node.children[0])
        if not isinstance(outputs, dict) or name in outputs:
            self.error(f"output '{name}' is declared twice", name_node, code=codes.DUPLICATE_KEY)
            return
        path = ("outputs", name)
        klc = _lc(name_node)
        if pairs:
            self.pos[path] = klc + _lc(pairs[0])
            outputs[name] = self.pairs(pairs, path)
        else:
            self.pos[path] = klc + klc
            outputs[name] = None

    def _penalty_list(self, s):
        penalties = self.data.setdefault("penalties", [])
        self.seen.setdefault("penalties", _lc(s))
        self.pos.setdefault(("penalties",), _lc(s) + _lc(s))
        if not isinstance(penalties, list):
            self.error("'penalties' is given twice", s, code=codes.DUPLICATE_KEY)
            return None, None
        path = ("penalties", len(penalties))
        self.note(s, path)
        return penalties, path

    def s_penalty_expr(self, s):
        penalties, path = self._penalty_list(s)
        if penalties is None:
            return
        expr = s.children[0]
        self.pos[path] = (0, 0) + _lc(s)
        self.pos[path + ("expr",)] = _lc(s) + _lc(expr)
        penalties.append({"expr": self.expr_text(expr)})

    def s_penalty_on(self, s):
        penalties, path = self._penalty_list(s)
        if penalties is None:
            return
        on_value, *rest = s.children
        self.pos[path] = (0, 0) + _lc(s)
        p = {"on": self.value(on_value, path + ("on",), _lc(s))}
        if isinstance(p["on"], str) and p["on"] in self.variables and p["on"] in self.bindings:
            self.var_uses.append((_Var(p["on"], self.bindings[p["on"]], _lc(on_value)), p, "on"))
        penalties.append(self.pairs(rest, path, p))

    def s_penalty_map(self, s):
        penalties, path = self._penalty_list(s)
        if penalties is None:
            return
        penalties.append(self.value(s.children[0], path, (0, 0)))

    def s_optimizer(self, s):
        if self.top("training", s):
            self.pos[("training",)] = _lc(s) + _lc(s)
            self.data["training"] = {"optimizer": self.value(s.children[0], ("training", "optimizer"), _lc(s))}
        self.note(s, ("training",))

    # ------------------------------------------------------------ layers
    def layer_list(self, s):
        layers = self.data.setdefault("layers", [])
        self.seen.setdefault("layers", _lc(s))
        self.pos.setdefault(("layers",), _lc(s) + _lc(s))
        if not isinstance(layers, list):
            self.error("'layers' is given twice", s, code=codes.DUPLICATE_KEY)
            return None
        return layers

    def s_layer(self, s):
        layers = self.layer_list(s)
        if layers is None:
            return
        first = len(layers)
        self.lower_layer(s, layers, ("layers",), top=True)
        self.note(s, ("layers", first))

    def s_repeat_stmt(self, s):
        layers = self.layer_list(s)
        if layers is None:
            return
        first = len(layers)
        self.lower_repeat(s, layers, ("layers",))
        self.note(s, ("layers", first))

    def lower_layer(self, s, layers, lpath, top=False):
        target, call = (s.children if len(s.children) == 2 else (None, s.children[0]))
        self.lower_call(call, target, layers, lpath, top)

    def lower_call(self, call, target, layers, lpath, top):
        name_node, pos, kw = self.args(call)
        type_name = str(name_node.children[0])
        tlc = _lc(name_node)
        index = len(layers)
        path = lpath + (index, type_name)
        args: dict = {}
        # reuse(layer, inputs...)
        if type_name == "reuse" and pos and getattr(pos[0], "data", None) in ("word", "string"):
            args["layer"] = self.value(pos[0], path + ("layer",), _lc(pos[0]))
            pos = pos[1:]
        nested = [p for p in pos if getattr(p, "data", None) == "call"]
        if nested:
            if len(pos) > 1:
                self.error("a layer call as an input must be the only input", nested[0],
                           "name it (n = Type(...)) and pass n")
                return
            self.lower_call(nested[0], None, layers, lpath, top)
            index = len(layers)
            path = lpath + (index, type_name)
            pos = []
        self.pos[lpath + (index,)] = (0, 0) + _lc(call)
        self.pos[path] = tlc + tlc
        args.update(self.kwargs(kw, path))
        if pos:
            if "from" in args:
                self.error("the input is given twice: as a positional argument and as from=", pos[0],
                           "keep one", code=codes.DUPLICATE_KEY)
            elif len(pos) == 1:
                args["from"] = self.value(pos[0], path + ("from",), _lc(pos[0]))
                self.track_vars(args, "from", pos[0], layers, index, top, single=True)
            else:
                fpath = path + ("from",)
                self.pos[fpath] = _lc(pos[0]) + _lc(pos[0])
                args["from"] = [self.value(p, fpath + (j,), _lc(p)) for j, p in enumerate(pos)]
                self.track_vars(args, "from", pos, layers, index, top, single=False)
        if target is not None:
            tname = str(target.children[0])
            if top and tname in self.variables:
                self.bindings[tname] = (layers, index, _lc(target))
            else:
                if "name" in args:
                    self.error(f"the layer is named twice: '{tname} =' and name=", target, "keep one",
                               code=codes.DUPLICATE_KEY)
                else:
                    args["name"] = tname
                    self.pos[path + ("name",)] = _lc(target) + _lc(target)
        layers.append({type_name: args})

    def track_vars(self, args, key, nodes, layers, index, top, single):
        """Uses of variables in from: the previous layer or an auto-named one."""
        if not self.variables:
            return
        value = args[key]
        if single and isinstance(value, str) and getattr(nodes, "data", None) == "word":
            if value in self.variables:
                binding = self.bindings.get(value)
                if binding is None:
                    return  # not bound yet: a plain name (an input, say); resolve reports it otherwise
                blayers, bindex, _ = binding
                if blayers is layers and bindex == index - 1 and "name" not in layers[bindex][next(iter(layers[bindex]))]:
                    del args[key]  # the previous layer: the default
                    return
                self.var_uses.append((_Var(value, binding, _lc(nodes)), args, key))
            return
        if single and isinstance(value, str) and getattr(nodes, "data", None) == "dotted":
            base, _, out = value.partition(".")
            if base in self.variables and base in self.bindings:  # x.state_h: an output of x's layer
                self.var_uses.append((_Var(base, self.bindings[base], _lc(nodes), "." + out), args, key))
            return
        slots = list(enumerate(value)) if isinstance(value, list) else []
        containers = [value] * len(slots)
        if isinstance(value, dict):  # from: {input: x, initial_state: [x.state_h, ...]}
            for k, v in value.items():
                for j, x in (enumerate(v) if isinstance(v, list) else [(k, v)]):
                    slots.append((j, x))
                    containers.append(v if isinstance(v, list) else value)
        for (j, v), container in zip(slots, containers):
            if not isinstance(v, str):
                continue
            base, dot, out = v.partition(".")
            if base in self.variables and base in self.bindings:
                self.var_uses.append((_Var(base, self.bindings[base], (0, 0), dot + out), container, j))

    def patch_variables(self):
        if not self.var_uses:
            return
        layers = self.data.get("layers")
        auto = self.auto_names(layers)
        for var, container, key in self.var_uses:
            blayers, bindex, lc = var.entry
            if blayers is not layers:
                self.error(f"'{var.name}' stands for a layer inside a block; name that layer", _Tok(lc),
                           "name it: n = Type(...)")
                continue
            (typ, args), = blayers[bindex].items()
            name = args.get("name") if isinstance(args, dict) else None
            if not isinstance(name, str):
                name = auto.get(bindex)
                if name is None:
                    self.error(f"'{var.name}' cannot be referred to here: its layer has no stable name", _Tok(lc),
                               "name the layer: n = Type(...)")
                    continue
                args["name"] = name
                p = ("layers", bindex, typ)
                self.pos[p + ("name",)] = self.pos.get(p, (0, 0, 1, 1))
            if key is _OUTPUT_KEY:
                old = var.name
                items = list(container.items())
                container.clear()
                for k, v in items:
                    container[name if k == old else k] = v
                for q in [q for q in self.pos if q[:2] == ("outputs", old)]:
                    self.pos[("outputs", name) + q[2:]] = self.pos.pop(q)
            else:
                container[key] = name + var.suffix

    def auto_names(self, layers) -> dict:
        """index -> the Keras-style name resolve gives an unnamed layer (nnspec.naming)."""
        if any(is_expansion(k) for e in layers for k in e):
            return {}  # blocks rename what they expand: refer to their layers by explicit names
        taken = {a.get("name") for e in layers for a in e.values() if isinstance(a, dict) and a.get("name")}
        taken |= set(self.data.get("inputs") or {}) if isinstance(self.data.get("inputs"), dict) else set()
        auto = AutoNamer(taken)
        return {i: auto(item_type(key, args)) for i, e in enumerate(layers)
                for key, args in e.items() if not (args or {}).get("name")}

    def lower_repeat(self, s, layers, lpath):
        children = [c for c in s.children if c is not None]
        target = None
        if children and getattr(children[0], "data", None) == "ident":
            target = children[0]
            children = children[1:]
        times, *rest = children
        pairs = [c for c in rest if getattr(c, "data", None) == "pair"]
        body = [c for c in rest if getattr(c, "data", None) in ("layer", "repeat_stmt")]
        index = len(layers)
        path = lpath + (index, "repeat")
        self.pos[lpath + (index,)] = (0, 0) + _lc(s)
        rlc = _lc(times)
        self.pos[path] = rlc + rlc
        args = {"times": self.value(times, path + ("times",), rlc)}
        self.pairs(pairs, path, args)
        if target is not None:
            args["name"] = str(target.children[0])
            self.pos[path + ("name",)] = _lc(target) + _lc(target)
        self.body(body, args, path, _lc(s))
        layers.append({"repeat": args})

    def body(self, stmts, holder, path, lc):
        if "layers" in holder:
            self.error("'layers' is given twice", _Tok(lc), code=codes.DUPLICATE_KEY)
            return
        inner = holder["layers"] = []
        self.pos[path + ("layers",)] = lc + lc
        for st in stmts:
            self.note(st, path + ("layers", len(inner)))
            if st.data == "layer":
                self.lower_layer(st, inner, path + ("layers",))
            else:
                self.lower_repeat(st, inner, path + ("layers",))

    def s_block_def(self, s):
        children = [c for c in s.children if c is not None]
        name_node = children[0]
        name = str(name_node.children[0])
        params = [c for c in children if getattr(c, "data", None) == "param"]
        opts = [c for c in children if getattr(c, "data", None) == "block_opts"]
        body = [c for c in children if getattr(c, "data", None) in ("layer", "repeat_stmt")]
        blocks = self.data.setdefault("blocks", {})
        self.seen.setdefault("blocks", _lc(s))
        self.pos.setdefault(("blocks",), _lc(s) + _lc(s))
        if not isinstance(blocks, dict):
            self.error("'blocks' is given twice", s, code=codes.DUPLICATE_KEY)
            return
        if name in blocks:
            self.error(f"block '{name}' is defined twice", name_node, code=codes.DUPLICATE_KEY)
            return
        path = ("blocks", name)
        self.note(s, path)
        self.pos[path] = _lc(name_node) + _lc(name_node)
        d: dict = {}
        if params:
            ps = d["params"] = {}
            self.pos[path + ("params",)] = _lc(params[0]) + _lc(params[0])
            for prm in params:
                pname_node, ptype, pdefault = (list(prm.children) + [None, None])[:3]
                pname = str(pname_node.children[0])
                ppath = path + ("params", pname)
                plc = _lc(pname_node)
                if pname in ps:
                    self.error(f"parameter '{pname}' is declared twice", pname_node, code=codes.DUPLICATE_KEY)
                    continue
                if ptype is not None and pdefault is not None:
                    self.pos[ppath] = plc + _lc(ptype)
                    ps[pname] = {"type": self.value(ptype, ppath + ("type",), _lc(ptype)),
                                 "default": self.value(pdefault, ppath + ("default",), _lc(pdefault))}
                elif ptype is not None:
                    ps[pname] = self.value(ptype, ppath, plc)
                elif pdefault is not None:
                    self.pos[ppath] = plc + _lc(pdefault)
                    ps[pname] = {"default": self.value(pdefault, ppath + ("default",), _lc(pdefault))}
                else:
                    self.pos[ppath] = plc + plc
                    ps[pname] = None
        for o in opts:
            for pair in o.children:
                if str(pair.children[0].children[0]) in ("params", "layers") and \
                        str(pair.children[0].children[0]) in d:
                    self.error(f"'{pair.children[0].children[0]}' is given twice", pair, code=codes.DUPLICATE_KEY)
                    continue
                self.pairs([pair], path, d)
        self.body(body, d, path, _lc(s))
        blocks[name] = d


class _Tok:
    """A stand-in with a position, for diagnostics."""

    def __init__(self, lc):
        self.line, self.column = lc
