"""The intermediate representation: plain records, no behaviour.

A ``Spec`` is what every front end (YAML now, the DSL later) produces and what
the checks, the summary and the Keras builder consume. Shapes are tuples with
the batch axis first (``None``).
"""
from __future__ import annotations

from .record import field, record

from .diagnostics import Span


def layer_of(ref: str) -> str:
    """The layer (or input) a tensor reference names: `enc.state_h` -> `enc`; `enc` -> `enc`."""
    return ref.partition(".")[0]


def output_of(ref: str) -> str | None:
    """The output a reference names: `enc.state_h` -> `state_h`; `enc` (the main output) -> None."""
    base, dot, out = ref.partition(".")
    return out if dot else None


@record
class Input:
    name: str
    shape: tuple  # with batch: (None, 1, 64)
    dtype: str
    span: Span
    range: tuple | None = None  # (lo, hi): `range: [lo, hi]`, the default box of `nnspec bounds`
    range_span: Span | None = None


@record
class Node:
    """One layer call. A reused (shared) layer gives several nodes with one ``layer``."""

    name: str  # the output tensor's name (== layer name for the first call)
    op: str  # catalog op name
    args: dict  # given args over the op's defaults
    given: dict  # args as written in the spec
    inputs: list  # input tensor names (`x`, or `enc.state_h`: an output of a layer with several), in the op's order
    span: Span  # the type key (or `reuse`)
    arg_spans: dict = field(default_factory=dict)
    from_span: Span | None = None
    trainable: bool = True
    activity_regularizer: object = None
    layer: str = ""  # the layer whose weights this call uses
    reuse: bool = False
    ports: dict = field(default_factory=dict)  # keyword inputs (op.ports): name -> [tensor names]
    outputs: tuple = ()  # the op's output names with these args, main first; () for one output

    def __post_init__(self):
        if not self.layer:
            self.layer = self.name

    def refs(self) -> list:
        """Every tensor the call reads: its inputs, then its ports' tensors."""
        if not self.ports:
            return self.inputs
        return self.inputs + [t for ts in self.ports.values() for t in ts]

    def tensors(self) -> list:
        """The names of the tensors the call gives: `enc`, then `enc.output`, `enc.state_h`, ... (the
        main output has both names)."""
        return [self.name] + [f"{self.name}.{o}" for o in self.outputs]


@record
class Output:
    name: str
    loss: object = None  # name, {name: args} or {expr: text}
    weight: float = 1.0
    metrics: list = field(default_factory=list)
    span: Span | None = None
    expr_span: Span | None = None  # of an expression loss
    metric_spans: object = None  # index in metrics -> Span (resolve.LazySpans)


@record
class Penalty:
    kind: str  # l1 | l2 | l1_l2 | expr
    on: list  # tensor names (expr: the names it uses)
    coef: object = None  # float, or {l1, l2} for l1_l2
    reduce: str = "sum"
    text: str | None = None  # expr source
    tree: object = None  # parsed expr
    span: Span | None = None


@record
class Spec:
    file: str
    name: str
    version: int = 1
    description: str = ""
    seed: int | None = None
    inputs: dict = field(default_factory=dict)  # name -> Input
    nodes: list = field(default_factory=list)  # Node, in topological order once resolved
    outputs: dict = field(default_factory=dict)  # name -> Output
    penalties: list = field(default_factory=list)
    training: dict = field(default_factory=dict)
    weights: str | None = None  # initial weights: a path relative to the spec's directory
    weights_span: Span | None = None
    budget: dict = field(default_factory=dict)  # the spec's own limits: params, macs, ... -> budget.Limit
    allow_import: tuple = ()  # modules `custom:` objects may be imported from (the caller's permission only)
    requires_import: tuple = ()  # modules the spec declares it needs (a declaration, not a permission)
    custom_modules: tuple = ()  # modules the spec's `custom:` / Custom references name
    calls: dict = field(default_factory=dict)  # block call name -> block name
    owner: dict = field(default_factory=dict)  # expanded layer -> its top-level block call
    aliases: dict = field(default_factory=dict)  # block call -> its output layer, where the names differ
    shapes: dict = field(default_factory=dict)  # tensor name -> shape (after the shapes pass)
    params: dict = field(default_factory=dict)  # node name -> (trainable, non_trainable)
    dtypes: dict = field(default_factory=dict)  # tensor name -> dtype (after the shapes pass)

    def node(self, name: str) -> Node | None:
        for n in self.nodes:
            if n.name == name:
                return n
        return None

    def upstream(self, names, through=None, shared_inputs: bool = True) -> set:
        """Every tensor the given ones depend on, themselves included; a reused
        layer counts as used (its weights are), even where its own output is not.
        ``through(node)``, if given, says whether to go on into a node's inputs: True, False, or
        the list of those to go on into. With ``shared_inputs`` false, a reused layer is reached
        (its weights) but not the inputs of its first call (the gradient of a call reaches the
        layer's weights and that call's inputs only)."""
        by_name = {n.name: n for n in self.nodes}
        reached, stack = set(), list(names)
        while stack:
            t = stack.pop()
            if t in reached:
                continue
            reached.add(t)
            if "." in t:  # an output of a layer with several: the layer is reached too
                stack.append(layer_of(t))
                continue
            n = by_name.get(t)
            if n is not None:
                go = True if through is None else through(n)
                stack.extend(n.refs() if go is True else go or ())
                if n.reuse and shared_inputs:
                    stack.append(n.layer)
                elif n.reuse:
                    reached.add(n.layer)
        return reached
