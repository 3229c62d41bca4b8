"""Exact rational arithmetic over a whitelisted expression syntax: the only calculator h1 uses.

`parse("48/2 + x")` turns an arithmetic expression into a small tuple tree; `evaluate(tree, env)`
computes it exactly. Integers stay Python ints (fast path) and every other value is a
`fractions.Fraction`; no float ever enters a result. Text is read with `ast.parse` and only
numbers, names, parentheses, unary +/-, and binary + - * / ** are accepted, so dataset text is
never given to `eval`/`exec`.

Simplifications: `**` takes a small integral exponent only; `%`, `//`, comparisons and calls
are rejected (GSM8K's calculator notes do not need them).

Tree nodes: ("num", value) | ("var", key) | ("neg", node) | (op, left, right) with op in
"+", "-", "*", "/", "**". A var key is whatever `env` is indexed by (a name in a dict, or an
index in a list), so compiled programs can use list indices for speed.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from fractions import Fraction
from typing import Any

Number = int | Fraction
Node = tuple

MAX_EXPRESSION_CHARS = 400
MAX_EXPONENT = 64
MAX_ABS_VALUE = 10**60

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


class ArithError(ValueError):
    """The expression is not in the whitelisted syntax, or cannot be computed exactly."""


def to_number(text: str) -> Number:
    """A decimal or integer literal ("1,000", "0.25", ".5", "7/2") as an exact number."""
    cleaned = text.strip().replace(",", "")
    try:
        value = Fraction(cleaned)
    except (ValueError, ZeroDivisionError) as error:
        raise ArithError(f"not a number: {text!r}") from error
    return normalize(value)


def normalize(value: Number) -> Number:
    """Fractions with denominator 1 become ints, so integer arithmetic stays on the fast path."""
    if type(value) is Fraction and value.denominator == 1:
        return value.numerator
    return value


def format_number(value: Number) -> str:
    """The plain answer string: "42", "3.5" for terminating decimals, else "7/3"."""
    value = normalize(value)
    if type(value) is int:
        return str(value)
    denominator = value.denominator
    # A fraction has a finite decimal exactly when its denominator is 2^a * 5^b.
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    digits = max(twos, fives)
    scaled = abs(value) * 10**digits
    sign = "-" if value < 0 else ""
    whole, frac = divmod(int(scaled), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}"


def parse(text: str) -> Node:
    """The expression tree of `text`; raises ArithError on anything outside the whitelist."""
    if not isinstance(text, str):
        raise ArithError(f"expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ArithError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise ArithError(f"cannot parse {text!r}: {type(error).__name__}") from error
    try:
        return _convert(tree.body, text.strip())
    except RecursionError as error:
        raise ArithError(f"expression nested too deeply: {text[:40]!r}") from error


def _convert(node: ast.AST, source: str) -> Node:
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise ArithError(f"only numeric literals are allowed, got {node.value!r}")
        # Read the literal's own characters: going through a float would lose exactness.
        literal = ast.get_source_segment(source, node)
        if literal is None or any(ch in literal for ch in "eEjJxXoObB_"):
            raise ArithError(f"unsupported numeric literal {literal!r}")
        return ("num", to_number(literal))
    if isinstance(node, ast.Name):
        return ("var", node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _convert(node.operand, source)
        return ("neg", operand) if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return (_BINOPS[type(node.op)], _convert(node.left, source), _convert(node.right, source))
    raise ArithError(f"{type(node).__name__} is not allowed in an arithmetic expression")


def evaluate(node: Node, env: Any = None) -> Number:
    """The exact value of a tree; `env[key]` supplies each ("var", key)."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "var":
        try:
            return env[node[1]]
        except (KeyError, IndexError, TypeError) as error:
            raise ArithError(f"unknown variable {node[1]!r}") from error
    if kind == "neg":
        return -evaluate(node[1], env)
    left = evaluate(node[1], env)
    right = evaluate(node[2], env)
    if kind == "+":
        result = left + right
    elif kind == "-":
        result = left - right
    elif kind == "*":
        result = left * right
    elif kind == "/":
        result = _divide(left, right)
    elif kind == "**":
        result = _power(left, right)
    else:
        raise ArithError(f"unknown operator {kind!r}")
    if type(result) is Fraction:
        result = normalize(result)
    if abs(result) > MAX_ABS_VALUE:
        raise ArithError(f"intermediate value exceeds {MAX_ABS_VALUE:.0e}")
    return result


def compile_tree(node: Node) -> Callable[[Any], Number]:
    """The tree as a closure `f(env) -> value`: same results as `evaluate`, about twice as fast.

    Built from the parsed tree only (no `eval`). Values inside one tree may be unnormalised
    Fractions; `evaluate_compiled` normalises and bounds the result, as `evaluate` does.
    """
    kind = node[0]
    if kind == "num":
        value = node[1]
        return lambda env: value
    if kind == "var":
        return operator.itemgetter(node[1])
    if kind == "neg":
        inner = compile_tree(node[1])
        return lambda env: -inner(env)
    left, right = compile_tree(node[1]), compile_tree(node[2])
    if kind == "+":
        return lambda env: left(env) + right(env)
    if kind == "-":
        return lambda env: left(env) - right(env)
    if kind == "*":
        return lambda env: left(env) * right(env)
    if kind == "/":
        return lambda env: _divide(left(env), right(env))
    if kind == "**":
        return lambda env: _power(left(env), right(env))
    raise ArithError(f"unknown operator {kind!r}")


def evaluate_compiled(function: Callable[[Any], Number], env: Any) -> Number:
    """Run a compiled tree; raises ArithError like `evaluate` (division by zero, size)."""
    try:
        result = function(env)
    except (KeyError, IndexError) as error:
        raise ArithError(f"unknown variable {error}") from error
    if type(result) is Fraction:
        result = normalize(result)
    if abs(result) > MAX_ABS_VALUE:
        raise ArithError(f"value exceeds {MAX_ABS_VALUE:.0e}")
    return result


def _divide(left: Number, right: Number) -> Number:
    if right == 0:
        raise ArithError("division by zero")
    if type(left) is int and type(right) is int:
        quotient, remainder = divmod(left, right)
        return quotient if remainder == 0 else Fraction(left, right)
    return Fraction(left) / right


def _power(base: Number, exponent: Number) -> Number:
    if type(exponent) is not int or abs(exponent) > MAX_EXPONENT:
        raise ArithError(f"exponent must be an integer of at most {MAX_EXPONENT}, got {exponent}")
    if base == 0 and exponent < 0:
        raise ArithError("zero to a negative power")
    if abs(base) > 10**6 and abs(exponent) > 2:
        raise ArithError("power too large")
    return Fraction(base) ** exponent if exponent < 0 else base**exponent


def evaluate_text(text: str, env: Any = None) -> Number:
    """Parse and evaluate in one call."""
    return evaluate(parse(text), env)


def render(node: Node, names: Any = None) -> str:
    """The tree as fully parenthesised text that `parse` reads back to an equal tree.

    `names[key]` renames variables (e.g. list indices to "q0"); without it keys print as-is.
    """
    kind = node[0]
    if kind == "num":
        text = format_number(node[1])
        return f"({text})" if ("/" in text or text.startswith("-")) else text
    if kind == "var":
        return str(names[node[1]] if names is not None else node[1])
    if kind == "neg":
        return f"-({render(node[1], names)})"
    return f"({render(node[1], names)} {kind} {render(node[2], names)})"


def variables(node: Node) -> set:
    """The var keys a tree reads."""
    kind = node[0]
    if kind == "num":
        return set()
    if kind == "var":
        return {node[1]}
    if kind == "neg":
        return variables(node[1])
    return variables(node[1]) | variables(node[2])


def map_tree(node: Node, leaf: Any) -> Node:
    """A copy of the tree with every "num"/"var" leaf replaced by `leaf(node)`."""
    kind = node[0]
    if kind in ("num", "var"):
        return leaf(node)
    if kind == "neg":
        return ("neg", map_tree(node[1], leaf))
    return (kind, map_tree(node[1], leaf), map_tree(node[2], leaf))
