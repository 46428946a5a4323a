"""Kubernetes label selectors in their text form (pure): parsed, checked, matched.

``--selector`` takes the text form the API server's ``labelSelector``
parameter takes (``kubectl get -l``): comma-separated requirements, all of
which must hold:

==========================  =================================================
``key``                     the label is present
``!key``                    the label is absent
``key=value``, ``key==v``   present with that value (``key=`` : the empty value)
``key!=value``              absent, or present with another value
``key in (a,b)``            present with one of these values
``key notin (a,b)``         absent, or present with none of these values
``key>3``, ``key<3``        present with an integer value above / below
==========================  =================================================

Keys are qualified names (``[prefix/]name``: a DNS-1123 subdomain prefix of
at most 253 characters, a name of at most 63 of ``[A-Za-z0-9-_.]`` starting
and ending alphanumeric); values are at most 63 such characters, or empty.
:func:`parse_selector` checks all of this as the API server does, so a typo
stops the operator at start-up instead of failing every watch request;
:meth:`Selector.matches` says whether a set of labels is selected (the
emulator's list and watch use it; the API server does the same on a real
cluster); ``str(selector)`` is the canonical text sent to the API server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from drs_operator.domain.formats import is_dns1123_subdomain

__all__ = ["Requirement", "Selector", "parse_selector"]

_NAME_RE: Final = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_INT_RE: Final = re.compile(r"^-?[0-9]+$")
# Tokens: operators (longest first), parentheses, commas, and words (keys and values).
_TOKEN_RE: Final = re.compile(r"\s*(==|!=|=|!|>|<|\(|\)|,|[^\s=!<>(),]+)")
_SET_OPERATORS: Final = ("in", "notin")


def _check_key(key: str) -> None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or not is_dns1123_subdomain(prefix)):
        raise ValueError(f"label key {key!r}: the prefix must be a DNS-1123 subdomain")
    if len(name) > 63 or not _NAME_RE.match(name):
        raise ValueError(
            f"label key {key!r}: the name must be 1-63 characters of letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit"
        )


def _check_value(value: str) -> None:
    if value and (len(value) > 63 or not _NAME_RE.match(value)):
        raise ValueError(
            f"label value {value!r}: must be empty or 1-63 characters of letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit"
        )


@dataclass(frozen=True)
class Requirement:
    """One requirement: ``key``, an operator (``exists``, ``!``, ``=``, ``!=``, ``in``,
    ``notin``, ``>``, ``<``) and its values (sorted; empty for ``exists`` and ``!``)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        op = self.operator
        if op == "exists":
            return present
        if op == "!":
            return not present
        if op in ("=", "in"):
            return present and value in self.values
        if op in ("!=", "notin"):
            return not present or value not in self.values
        # ">" / "<": the label's value must be an integer as well
        if not present or value is None or not _INT_RE.match(value):
            return False
        bound = int(self.values[0])
        return int(value) > bound if op == ">" else int(value) < bound

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in _SET_OPERATORS:
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        return f"{self.key}{self.operator}{self.values[0]}"


@dataclass(frozen=True)
class Selector:
    """All of its requirements must hold; no requirement selects everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        found = labels or {}
        return all(requirement.matches(found) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"unexpected character at position {position}: {text[position:]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError("unexpected end of the selector")
        self.index += 1
        return token

    def word(self, what: str) -> str:
        token = self.take()
        if token in ("==", "!=", "=", "!", ">", "<", "(", ")", ","):
            raise ValueError(f"expected {what}, found {token!r}")
        return token

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.take()
            key = self.word("a label key after '!'")
            _check_key(key)
            return Requirement(key, "!")
        key = self.word("a label key")
        _check_key(key)
        following = self.peek()
        if following is None or following == ",":
            return Requirement(key, "exists")
        operator = self.take()
        if operator in ("=", "=="):
            return Requirement(key, "=", (self._value(),))
        if operator == "!=":
            return Requirement(key, "!=", (self._value(),))
        if operator in (">", "<"):
            bound = self.word(f"an integer after '{operator}'")
            if not _INT_RE.match(bound):
                raise ValueError(f"{key}{operator}{bound}: the value must be an integer")
            return Requirement(key, operator, (bound,))
        if operator in _SET_OPERATORS:
            return Requirement(key, operator, self._set(key, operator))
        raise ValueError(f"after label key {key!r}: expected an operator, found {operator!r}")

    def _value(self) -> str:
        following = self.peek()
        if following is None or following == ",":
            return ""  # "key=" selects the empty value
        value = self.word("a label value")
        _check_value(value)
        return value

    def _set(self, key: str, operator: str) -> tuple[str, ...]:
        if self.take() != "(":
            raise ValueError(f"{key} {operator}: expected '(' and a list of values")
        values: set[str] = set()
        while True:
            token = self.take()
            if token == ")" and not values:
                raise ValueError(f"{key} {operator} (): the set of values must not be empty")
            if token in (",", ")"):
                raise ValueError(f"{key} {operator}: expected a value, found {token!r}")
            _check_value(token)
            values.add(token)
            token = self.take()
            if token == ")":
                return tuple(sorted(values))
            if token != ",":
                raise ValueError(f"{key} {operator}: expected ',' or ')', found {token!r}")


def parse_selector(text: str) -> Selector:
    """Parse a label selector's text; ``ValueError`` says what is wrong and where.

    An empty (or blank) text is the selector of everything.
    """
    parser = _Parser(text)
    requirements: list[Requirement] = []
    if parser.peek() is None:
        return Selector()
    while True:
        requirements.append(parser.requirement())
        token = parser.peek()
        if token is None:
            return Selector(tuple(requirements))
        if parser.take() != ",":
            raise ValueError(f"expected ',' between requirements, found {token!r}")
        if parser.peek() is None:
            raise ValueError("a requirement must follow ','")
