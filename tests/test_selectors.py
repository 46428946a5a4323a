"""Label selectors (domain/selectors.py): the text syntax the API server accepts, and matching.

The cases follow Kubernetes' own (k8s.io/apimachinery/pkg/labels): which
texts parse, which are refused, and which label sets each selects.
"""

from __future__ import annotations

import re

import pytest

from drs_operator.domain.selectors import parse_selector

KEY = "drs.operators.dev/shard"


@pytest.mark.parametrize(
    ("text", "labels", "selected"),
    [
        ("", {}, True),
        ("", {"any": "thing"}, True),
        (f"{KEY}=a", {KEY: "a"}, True),
        (f"{KEY}=a", {KEY: "b"}, False),
        (f"{KEY}=a", {}, False),
        (f"{KEY}==a", {KEY: "a"}, True),
        (f"{KEY}!=a", {KEY: "b"}, True),
        (f"{KEY}!=a", {}, True),
        (f"{KEY}!=a", {KEY: "a"}, False),
        (f"{KEY} in (a, b)", {KEY: "b"}, True),
        (f"{KEY} in (a,b)", {}, False),
        (f"{KEY} notin (a,b)", {}, True),
        (f"{KEY} notin (a,b)", {KEY: "c"}, True),
        (f"{KEY} notin (a,b)", {KEY: "a"}, False),
        (KEY, {KEY: ""}, True),
        (KEY, {}, False),
        (f"!{KEY}", {}, True),
        (f"!{KEY}", {KEY: "a"}, False),
        (f"{KEY}=", {KEY: ""}, True),
        (f"{KEY}=", {KEY: "a"}, False),
        ("tier>3", {"tier": "4"}, True),
        ("tier>3", {"tier": "3"}, False),
        ("tier<3", {"tier": "x"}, False),
        (f"env=prod, {KEY} in (a)", {"env": "prod", KEY: "a"}, True),
        (f"env=prod,{KEY} in (a)", {"env": "dev", KEY: "a"}, False),
    ],
)
def test_matching(text: str, labels: dict[str, str], selected: bool) -> None:
    assert parse_selector(text).matches(labels) is selected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (f" {KEY} in ( b , a ) ", f"{KEY} in (a,b)"),
        (f"{KEY}==a", f"{KEY}=a"),
        (f"!{KEY},env", f"!{KEY},env"),
        ("", ""),
    ],
)
def test_canonical_text(text: str, canonical: str) -> None:
    assert str(parse_selector(text)) == canonical
    assert str(parse_selector(canonical)) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{KEY} in ()", "must not be empty"),
        (f"{KEY} in (a", "unexpected end"),
        (f"{KEY} in a", "expected '('"),
        (f"{KEY}=a,", "must follow ','"),
        (",a", "expected a label key"),
        ("a b", "expected an operator"),
        ("Bad_Prefix/x=1", "prefix must be a DNS-1123 subdomain"),
        ("-x=1", "the name must be"),
        ("x=" + "v" * 64, "label value"),
        ("x=-v", "label value"),
        ("tier>high", "must be an integer"),
        ("x=a=b", "expected ',' between requirements"),
        ("x~a", "the name must be"),
    ],
)
def test_bad_selectors_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_selector(text)
