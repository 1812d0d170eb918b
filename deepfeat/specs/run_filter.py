"""The run filter language of `GET /v1/runs?filter=`: comparisons over spec values, best metrics and
metadata joined by `and`/`or`/`not`, e.g. `metrics.val_accuracy > 0.9 and training.optimizer.lr < 0.01`.

Parsed by a Lark LALR grammar into a small tree (never evaluated as code); anything else is a 422 that
names the character where it went wrong. The repository turns the tree into SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from deepfeat.errors import DeepfeatError

MAX_FILTER_CHARS = 2000
MAX_DEPTH = 16  # nested and/or/not: bounds the SQL expression (and its compilation's recursion)
MAX_COMPARISONS = 64
# Top-level keys of a run spec a bare path may start with (the spec's own names; see specs/runs.py).
SPEC_ROOTS = frozenset({"name", "dataset", "task", "target", "model", "training"})

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negation
         | atom
?atom: comparison
     | "(" or_expr ")"
comparison: path OP value
path: SEGMENT ("." SEGMENT)*
value: SIGNED_NUMBER -> number
     | DOUBLE_STRING -> string
     | SINGLE_STRING -> string
     | _TRUE -> true
     | _FALSE -> false

OP: "==" | "!=" | "<=" | ">=" | "<" | ">" | "="
_AND.2: /and\b/i
_OR.2: /or\b/i
_NOT.2: /not\b/i
_TRUE.2: /true\b/i
_FALSE.2: /false\b/i
SEGMENT: /[A-Za-z_][A-Za-z0-9_]*|[0-9]+/
DOUBLE_STRING: /"(?:[^"\\\x00-\x1f]|\\["\\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/
SINGLE_STRING: /'[^'\\\x00-\x1f]*'/
%import common.SIGNED_NUMBER
%import common.WS
%ignore WS
"""

_PARSER = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)

Source = Literal["spec", "metrics", "metadata"]
Value = float | str | bool


class FilterError(DeepfeatError):
    """A filter that does not parse or means nothing; `offset` is the 0-based character it points at."""

    status_code = 422
    error = "invalid_filter"

    def __init__(self, offset: int, detail: str, param: str = "filter") -> None:
        super().__init__(f"{param}: at character {offset}: {detail}", loc=f"/{param}", offset=offset)
        self.offset = offset


@dataclass(frozen=True)
class Field:
    source: Source
    path: tuple[str, ...]


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str  # ==, !=, <, <=, >, >=
    value: Value


@dataclass(frozen=True)
class BoolOp:
    op: Literal["and", "or"]
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | BoolOp | Not


def parse_filter(text: str) -> Node:
    """The tree of `text`, or FilterError pointing at the offending character."""
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(MAX_FILTER_CHARS, f"longer than {MAX_FILTER_CHARS} characters")
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise FilterError(*_describe(exc, text)) from None
    _check_size(tree)
    return _build(tree)


def parse_field(text: str, param: str = "filter", offset: int = 0) -> Field:
    """A dotted path (`metrics.val_loss`, `training.optimizer.lr`, `spec.model.type`, `metadata.team`)."""
    parts = text.split(".")
    if not all(parts):
        raise FilterError(offset, f"{text!r} is not a dotted path", param)
    head, rest = parts[0], tuple(parts[1:])
    if head in ("metrics", "metadata"):
        if len(rest) != 1:
            raise FilterError(offset, f"write {head}.<key> (one key), not {text!r}", param)
        return Field(head, rest)  # type: ignore[arg-type]  # head is one of the two literals
    if head == "spec":
        head, rest = (rest[0], rest[1:]) if rest else ("", ())
    if head not in SPEC_ROOTS:
        roots = ", ".join(sorted(SPEC_ROOTS))
        raise FilterError(
            offset,
            f"unknown field {text!r}: use metrics.<key>, metadata.<key> or a spec path ({roots})",
            param,
        )
    return Field("spec", (head, *rest))


def _describe(exc: UnexpectedInput, text: str) -> tuple[int, str]:
    if isinstance(exc, UnexpectedEOF):
        return len(
            text
        ), "the filter ends too early (a comparison such as `metrics.val_loss < 0.5` is expected)"
    if isinstance(exc, UnexpectedCharacters):
        at = exc.pos_in_stream or 0
        return at, f"unexpected character {text[at]!r}"
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            return len(text), "the filter ends too early"
        expected = ", ".join(sorted(_names(exc.expected)))
        return token.start_pos or 0, f"unexpected {str(token)!r}; expected {expected}"
    return max(exc.pos_in_stream or 0, 0), "cannot parse the filter"


def _names(expected: set[str]) -> set[str]:
    words = {"SEGMENT": "a field", "OP": "a comparison (== != < <= > >=)", "LPAR": "(", "RPAR": ")"}
    words |= {"_AND": "and", "_OR": "or", "_NOT": "not", "SIGNED_NUMBER": "a number", "$END": "the end"}
    words |= {"DOUBLE_STRING": "a string", "SINGLE_STRING": "a string", "_TRUE": "true", "_FALSE": "false"}
    return {words.get(name, name.lower()) for name in expected}


def _check_size(tree: Tree[Token]) -> None:
    """Depth and size, walked without recursion (a deep input must not exhaust the stack)."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    comparisons = 0
    while stack:
        node, depth = stack.pop()
        if node.data == "comparison":
            comparisons += 1
            if comparisons > MAX_COMPARISONS:
                raise FilterError(_start(node), f"more than {MAX_COMPARISONS} comparisons")
            continue
        if depth > MAX_DEPTH:
            raise FilterError(_start(node), f"nested deeper than {MAX_DEPTH} levels of and/or/not")
        stack += [(child, depth + 1) for child in node.children if isinstance(child, Tree)]


def _start(node: Tree[Token]) -> int:
    return int(getattr(node.meta, "start_pos", 0) or 0)


def _build(node: Tree[Token]) -> Node:
    children = [c for c in node.children if isinstance(c, Tree)]
    if node.data == "comparison":
        return _comparison(node)
    if node.data == "negation":
        return Not(_build(children[0]))
    if node.data in ("or_expr", "and_expr"):
        return BoolOp("or" if node.data == "or_expr" else "and", tuple(_build(c) for c in children))
    raise FilterError(_start(node), "cannot parse the filter")  # the grammar makes no other node


def _comparison(node: Tree[Token]) -> Compare:
    path, op_token, value_node = node.children
    assert isinstance(path, Tree)
    assert isinstance(op_token, Token)
    assert isinstance(value_node, Tree)
    text = ".".join(str(t) for t in path.children)
    field = parse_field(text, offset=_start(path))
    op = "==" if str(op_token) == "=" else str(op_token)
    value = _value(value_node)
    where = op_token.start_pos or 0
    if field.source == "metadata" and not isinstance(value, str):
        raise FilterError(_start(value_node), "metadata values are strings: compare with a quoted string")
    if not isinstance(value, float) and op not in ("==", "!="):
        raise FilterError(where, f"{op} compares numbers; strings and booleans take == or !=")
    return Compare(field, op, value)


def _value(node: Tree[Token]) -> Value:
    token = node.children[0] if node.children else None
    if node.data == "true":
        return True
    if node.data == "false":
        return False
    assert isinstance(token, Token)
    if node.data == "number":
        return float(token)  # 1e999 is inf: it compares, it does not fail
    raw = str(token)
    text: str = json.loads(raw) if raw.startswith('"') else raw[1:-1]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FilterError(token.start_pos or 0, "the string holds a lone surrogate escape") from None
    if "\x00" in text:
        raise FilterError(token.start_pos or 0, "the string holds a NUL character")
    return text
