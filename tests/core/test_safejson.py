"""JSON from untrusted sources: limits checked before the parser runs, the parser's answer otherwise."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger_service import safejson
from ledger_service.safejson import JsonRefused, Limits


def refused(data: bytes | str, limits: Limits = safejson.DEFAULT) -> str:
    with pytest.raises(JsonRefused) as caught:
        safejson.loads(data, limits)
    return caught.value.code


def test_nesting_past_the_limit_is_refused_before_parsing() -> None:
    assert safejson.loads("[" * 64 + "]" * 64) is not None
    assert refused("[" * 65 + "]" * 65) == "JSON_TOO_DEEP"
    assert refused('{"a":' * 65 + "1" + "}" * 65) == "JSON_TOO_DEEP"
    assert refused("[" * 100_000) == "JSON_TOO_DEEP"  # the 200 KB body that crashed the service
    assert safejson.loads('["[[[[[[[[" , "{{{{{{{{"]') == ["[[[[[[[[", "{{{{{{{{"]  # brackets inside strings
    assert safejson.loads(r'["\"[[[[", 1]') == ['"[[[[', 1]  # an escaped quote does not end the string


def test_long_numbers_and_strings_are_refused() -> None:
    assert refused('{"v": ' + "9" * 5000 + "}") == "JSON_NUMBER_TOO_LONG"  # int() would raise past 4,300 digits
    assert refused('{"v": 1' + "0" * 200 + ".5}") == "JSON_NUMBER_TOO_LONG"
    assert safejson.loads('{"v": "' + "9" * 5000 + '"}')["v"] == "9" * 5000  # digits inside a string are text
    assert refused('{"v": "' + "x" * 70_000 + '"}') == "JSON_STRING_TOO_LONG"
    assert refused('{"' + "k" * 70_000 + '": 1}') == "JSON_STRING_TOO_LONG"
    small = Limits(max_string_chars=10)
    assert refused('["' + "\\u0041" * 11 + '"]', small) == "JSON_STRING_TOO_LONG"  # counted in characters
    assert safejson.loads('["' + "\\u0041" * 10 + '"]', small) == ["A" * 10]


def test_malformed_text_and_non_json_constants_are_refused() -> None:
    for text in ("{", "[1,]", "NaN", "[Infinity]", "", '{"a" 1}', b"\xff\xfe"):
        assert refused(text) == "MALFORMED_JSON", text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)  # fmt: skip


@given(json_values)
def test_within_the_limits_it_answers_as_json_loads(value: Any) -> None:
    text = json.dumps(value)
    assert safejson.loads(text) == json.loads(text)
    assert safejson.loads(text.encode()) == json.loads(text)
