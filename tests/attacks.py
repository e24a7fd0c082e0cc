"""Hostile specs: inputs built to make `nnspec validate` hang, blow up memory or crash.

Shared by tests/test_limits.py (which checks that each is accepted or refused
within the time and memory target) and bench/hostile.py (which measures them).
Every generator takes ``size``, the largest file it may produce in bytes, and
returns ``(suffix, bytes)``: ``.yaml`` or ``.nns``. The fixed ATTACKS are the
findings of issue 9; the strategies in test_limits.py vary their parameters.
"""
from __future__ import annotations

MiB = 1024 * 1024

HEAD = "nnspec: 1\nname: m\ninputs: {x: [4]}\n"
TAIL = "outputs: {out: {loss: mse}}\n"
NNS_HEAD = "nnspec 1\nmodel m\ninput x [4]\n"


def _fit(prefix: bytes, unit: bytes, suffix: bytes, size: int, count: int | None = None) -> bytes:
    """prefix + unit * n + suffix, with n as large as fits in ``size`` (or ``count``)."""
    n = max(0, (size - len(prefix) - len(suffix)) // max(1, len(unit)))
    if count is not None:
        n = min(n, count)
    return prefix + unit * n + suffix


# ------------------------------------------------------------------ YAML
def repeat_huge_in_block(size=MiB, times=10**12):
    return ".yaml", (HEAD + "blocks:\n  b:\n    layers:\n"
                     f"      - Dense: {{units: 2}}\n      - repeat: {{times: {times}, layers: []}}\n"
                     "layers:\n  - b: {name: out}\n" + TAIL).encode()


def nested_repeat_in_block(size=MiB, times=10000, depth=2, inner="ReLU: {}"):
    body = inner
    for _ in range(depth):
        body = f"repeat: {{times: {times}, layers: [{body}]}}"
    return ".yaml", (HEAD + f"blocks:\n  b:\n    layers:\n      - Dense: {{units: 2}}\n      - {body}\n"
                     "layers:\n  - b: {name: out}\n" + TAIL).encode()


def empty_nested_repeats(size=MiB, times=10000, depth=3):
    body = "repeat: {times: %d, layers: []}" % times
    for _ in range(depth - 1):
        body = f"repeat: {{times: {times}, layers: [{body}]}}"
    return ".yaml", (HEAD + f"blocks:\n  b:\n    layers:\n      - Dense: {{units: 2}}\n      - {body}\n"
                     "layers:\n  - b: {name: out}\n" + TAIL).encode()


def square_chain(size=MiB, depth=30, start=2, op="p * p"):
    """Each block calls the next with ${p * p}: the value squares at every level."""
    lines = [HEAD + "blocks:"]
    lines.append(f"  b0:\n    params: {{p: int}}\n    layers: [Dense: {{units: 2, name: \"n${{p}}\"}}]")
    for k in range(1, depth + 1):
        lines.append(f"  b{k}:\n    params: {{p: int}}\n    layers: [b{k - 1}: {{p: \"${{{op}}}\"}}]")
    lines.append(f"layers:\n  - b{depth}: {{p: {start}, name: out}}\n" + TAIL)
    return ".yaml", "\n".join(lines).encode()


def arith(size=MiB, expr="0 ** -1"):
    """One ${...} in a repeat."""
    return ".yaml", (HEAD + "layers:\n  - repeat: {times: 1, layers: [Dense: {units: 2, name: \"d${%s}\"}]}\n"
                     "  - Dense: {units: 1, name: out}\n" % expr + TAIL).encode()


def big_int_text(size=MiB):
    """A product whose decimal form has over 4,300 digits (Python refuses to print it)."""
    factor = "(2147483647 ** 64)"
    return arith(size, " * ".join([factor] * 8))


def long_template(size=MiB, times=10000):
    """A ~size-byte name with $i, copied by a repeat ``times`` times."""
    prefix = (HEAD + 'layers:\n  - Dense: {units: 2}\n  - repeat: {times: %d, layers: [Dense: {units: 1, name: "' % times).encode()
    suffix = b'$i"}]}\n  - Dense: {units: 1, name: out}\n' + TAIL.encode()
    return ".yaml", _fit(prefix, b"a", suffix, size)


def long_list_copied(size=MiB, times=10000):
    """A long list inside a repeat: every copy is a new list."""
    prefix = (HEAD + "layers:\n  - repeat: {times: %d, layers: [Dense: {units: 1, x: [" % times).encode()
    suffix = b"1]}]}\n  - Dense: {units: 1, name: out}\n" + TAIL.encode()
    return ".yaml", _fit(prefix, b"1,", suffix, size)


def block_bomb(size=MiB, depth=30):
    """Each block calls the one before twice: 2**depth layers."""
    lines = [HEAD + "blocks:", "  b0:\n    layers: [Dense: {units: 2}]"]
    for k in range(1, depth + 1):
        lines.append(f"  b{k}:\n    layers: [b{k - 1}: {{}}, b{k - 1}: {{}}]")
    lines.append(f"layers:\n  - b{depth}: {{name: out}}\n" + TAIL)
    return ".yaml", "\n".join(lines).encode()


def penalty_expr(size=MiB, expr="-" * 500 + "x"):
    return ".yaml", (HEAD + "layers: [Dense: {units: 1, name: out}]\n" + TAIL
                     + f"penalties: [{{expr: '{expr}'}}]\n").encode()


def deep_unary(size=MiB, n=500):
    return penalty_expr(size, "-" * n + "x")


def pow_chain(size=MiB, n=1300):
    return penalty_expr(size, "x" + "**x" * n)


def sum_chain(size=MiB, n=1300):
    return penalty_expr(size, "+".join(["x"] * n))


def deep_unary_template(size=MiB, n=500):
    return arith(size, "-" * n + "1")


def deep_brackets_yaml(size=MiB, n=200000):
    n = min(n, (size - 10) // 2)
    return ".yaml", b"a: " + b"[" * n + b"]" * n


def deep_indent_yaml(size=MiB, n=2000):
    lines = [("  " * k) + f"k{k}:" for k in range(n)]
    text = "\n".join(lines) + " 1\n"
    return ".yaml", text.encode()[:size]


def flow_list(size=MiB):
    return ".yaml", _fit(b"a: [", b"1,", b"1]\n", size)


def block_list(size=MiB):
    return ".yaml", _fit(b"a:\n", b"- 1\n", b"", size)


def many_layers_yaml(size=MiB):
    return ".yaml", _fit((HEAD + "layers:\n").encode(), b"  - ReLU: {}\n",
                         b"  - Dense: {units: 1, name: out}\n" + TAIL.encode(), size)


def many_keys_yaml(size=MiB):
    n = size // 12
    body = "".join(f"k{i}: 1\n" for i in range(n))
    return ".yaml", body.encode()[:size - 1]


def billion_laughs(size=MiB, width=9, depth=9):
    lines = ['a: &a ["lol"' + ',"lol"' * (width - 1) + "]"]
    names = "abcdefghijklmnopqrstuvwxyz"
    for i in range(1, depth):
        lines.append(f"{names[i]}: &{names[i]} [" + ",".join([f"*{names[i - 1]}"] * width) + "]")
    return ".yaml", "\n".join(lines).encode()


def alias_layers(size=MiB, times=10000):
    """An anchored list of layers, aliased inside a repeat."""
    return ".yaml", (HEAD + "blocks:\n  b:\n    layers: &l [ReLU: {}, ReLU: {}, ReLU: {}, ReLU: {}]\n"
                     f"layers:\n  - repeat: {{times: {times}, layers: [repeat: {{times: {times}, layers: *l}}]}}\n"
                     "  - Dense: {units: 1, name: out}\n" + TAIL).encode()


def long_line_yaml(size=MiB):
    return ".yaml", _fit(b"description: ", b"x", b"\n", size)


def blank_lines_yaml(size=MiB):
    return ".yaml", _fit(HEAD.encode(), b"\n", b"", size)


# ------------------------------------------------------------------ DSL
def blank_lines_nns(size=MiB):
    return ".nns", _fit(NNS_HEAD.encode(), b"\n", b"", size)


def comment_lines_nns(size=MiB):
    return ".nns", _fit(NNS_HEAD.encode(), b"#\n", b"", size)


def indented_blank_lines_nns(size=MiB):
    return ".nns", _fit(NNS_HEAD.encode(), b"  \n", b"", size)


def long_line_nns(size=MiB):
    return ".nns", _fit(b"nnspec 1\nmodel m\ninput x [", b"1, ", b"1]\n", size)


def many_statements_nns(size=MiB):
    return ".nns", _fit(NNS_HEAD.encode(), b"ReLU()\n", b"out = Dense(units=1)\noutput out loss mse\n", size)


def deep_brackets_nns(size=MiB, n=200000):
    n = min(n, (size - 30) // 2)
    return ".nns", NNS_HEAD.encode() + b"ReLU(a=" + b"[" * n + b"]" * n + b")\n"


def deep_unary_nns(size=MiB, n=500):
    return ".nns", (NNS_HEAD + "out = Dense(units=1)\noutput out loss mse\npenalty " + "-" * n + "x\n").encode()


def pow_chain_nns(size=MiB, n=1300):
    return ".nns", (NNS_HEAD + "out = Dense(units=1)\noutput out loss mse\npenalty x" + "**x" * n
                    + "\n").encode()


def long_expression_nns(size=MiB):
    prefix = (NNS_HEAD + "out = Dense(units=1)\noutput out loss mse\npenalty out").encode()
    return ".nns", _fit(prefix, b"+out", b"\n", size)


def block_bomb_nns(size=MiB, depth=30):
    lines = [NNS_HEAD.rstrip("\n"), "block b0():", "    Dense(units=2)"]
    for k in range(1, depth + 1):
        lines += [f"block b{k}():", f"    b{k - 1}()", f"    b{k - 1}()"]
    lines += [f"out = b{depth}()", "output out loss mse", ""]
    return ".nns", "\n".join(lines).encode()


def repeat_huge_nns(size=MiB, times=10**12):
    return ".nns", (NNS_HEAD + f"block b():\n    Dense(units=2)\n    repeat {times}:\n        repeat {times}:\n"
                    "            ReLU()\nout = b()\noutput out loss mse\n").encode()


def deep_indent_nns(size=MiB, n=2000):
    lines = [NNS_HEAD.rstrip("\n")]
    for k in range(n):
        lines.append("    " * k + "repeat 2:")
    lines.append("    " * n + "ReLU()")
    return ".nns", ("\n".join(lines) + "\n").encode()[:size]


# name -> generator: the fixed known attacks (the explicit examples of the test)
ATTACKS = {
    "repeat_huge_in_block": repeat_huge_in_block,
    "nested_repeat_in_block": nested_repeat_in_block,
    "empty_nested_repeats": empty_nested_repeats,
    "square_chain": square_chain,
    "zero_pow_neg": lambda size=MiB: arith(size, "0 ** -1"),
    "neg_pow_half": lambda size=MiB: arith(size, "(0-8) ** 0.5"),
    "big_int_text": big_int_text,
    "float_overflow": lambda size=MiB: arith(size, "1.5 ** 64 * 1e300 * 1e300"),
    "long_template": long_template,
    "long_list_copied": long_list_copied,
    "block_bomb": block_bomb,
    "deep_unary": deep_unary,
    "pow_chain": pow_chain,
    "sum_chain": sum_chain,
    "deep_unary_template": deep_unary_template,
    "deep_brackets_yaml": deep_brackets_yaml,
    "deep_indent_yaml": deep_indent_yaml,
    "flow_list": flow_list,
    "block_list": block_list,
    "many_layers_yaml": many_layers_yaml,
    "many_keys_yaml": many_keys_yaml,
    "billion_laughs": billion_laughs,
    "alias_layers": alias_layers,
    "long_line_yaml": long_line_yaml,
    "blank_lines_yaml": blank_lines_yaml,
    "blank_lines_nns": blank_lines_nns,
    "comment_lines_nns": comment_lines_nns,
    "indented_blank_lines_nns": indented_blank_lines_nns,
    "long_line_nns": long_line_nns,
    "many_statements_nns": many_statements_nns,
    "deep_brackets_nns": deep_brackets_nns,
    "deep_unary_nns": deep_unary_nns,
    "pow_chain_nns": pow_chain_nns,
    "long_expression_nns": long_expression_nns,
    "block_bomb_nns": block_bomb_nns,
    "repeat_huge_nns": repeat_huge_nns,
    "deep_indent_nns": deep_indent_nns,
}


def deep_wide_block_args(size=MiB, depth=26, count=95_000):
    """A wide list nested ``depth`` deep in a block's layer arguments (schema-valid before
    expansion): every leaf has a long path (positions are indexed by path)."""
    prefix = (HEAD + "blocks:\n  b:\n    layers: [Dense: {units: 1, x: " + "[" * depth).encode()
    suffix = ("1" + "]" * depth + "}]\nlayers:\n  - b: {name: out}\n" + TAIL).encode()
    return ".yaml", _fit(prefix, b"1,", suffix, size, count)


ATTACKS["deep_wide_block_args"] = deep_wide_block_args
