"""SM3 known answers from GB/T 32905-2016 Appendix A, streaming, and RFC 8785 canonical form."""

from __future__ import annotations

import hashlib
import io
import json
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger_service.canonical import canonical_json, record_id
from ledger_service.digests import digest_bytes, digest_file, digest_stream, sm3


def test_gbt_32905_example_1_abc() -> None:
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_gbt_32905_example_2_512_bit_message() -> None:
    assert sm3(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


@given(st.binary(max_size=5000), st.integers(min_value=1, max_value=700))
def test_streaming_equals_one_shot_whatever_the_chunking(data: bytes, chunk: int) -> None:
    streamed = digest_stream(io.BytesIO(data), chunk_size=chunk)
    assert streamed == digest_bytes(data)
    assert streamed.sha256 == hashlib.sha256(data).digest()
    assert streamed.size == len(data)


class _CountingStream(io.RawIOBase):
    """A 64 MiB stream that is generated as it is read and remembers the largest read asked for."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.largest = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.largest = max(self.largest, n)
        n = min(n, self.left)
        self.left -= n
        return b"\x5a" * n


def test_large_input_is_read_in_bounded_chunks() -> None:
    stream = _CountingStream(64 << 20)
    d = digest_stream(stream)  # type: ignore[arg-type]
    assert d.size == 64 << 20
    assert stream.largest == 1 << 20


def test_digest_file(tmp_path: pytest.TempPathFactory) -> None:
    data = os.urandom(3_000_000)
    path = tmp_path / "el.png"  # type: ignore[operator]
    path.write_bytes(data)
    assert digest_file(path) == digest_bytes(data)


def test_canonical_json_sorts_keys_and_normalises_numbers() -> None:
    assert canonical_json({"b": 1, "a": [1.0, "é", None, True]}) == b'{"a":[1,"\xc3\xa9",null,true],"b":1}'
    assert canonical_json({"x": 1e21}) == b'{"x":1e+21}'


def test_record_id_ignores_key_order_but_not_values() -> None:
    a = {"record_type": "tensile_test", "results": {"Rm": 512}}
    b = {"results": {"Rm": 512}, "record_type": "tensile_test"}
    assert record_id(a) == record_id(b)
    assert record_id(a) != record_id({**a, "results": {"Rm": 513}})


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5),
    max_leaves=25,
)


@given(_json)
def test_canonical_json_equals_the_rfc8785_reference(value: object) -> None:
    import rfc8785

    assert canonical_json(value) == rfc8785.dumps(value)


def test_canonical_json_sorts_keys_by_utf16_code_units() -> None:
    import rfc8785

    value = {"\U0001f600": 1, "\ufb01": 2, "a": 3}  # a supplementary character sorts before U+FB01 in UTF-16
    assert canonical_json(value) == rfc8785.dumps(value)
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json({"x": float("nan")})
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json({"x": 2**60})


# Integral floats (5.0 mg/kg) take the fast path, rewritten in the C encoder's text: strings made of the same
# characters (",5.0]", ":0.0}") must come out as they went in, and -0.0 as JCS writes it.
_tricky_text = st.text(alphabet=',:[]{}-.05e"\\ a', max_size=12)
_integral = st.integers(-(10**6), 10**6).map(float) | st.sampled_from([0.0, -0.0, 5.0, -5.0, 1e15, 123456789012345.0])
_json_integral = st.recursive(
    _integral | _tricky_text | st.integers(-1000, 1000) | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_tricky_text, children, max_size=5),
    max_leaves=25,
)


@given(_json_integral)
def test_integral_floats_and_lookalike_strings_equal_the_rfc8785_reference(value: Any) -> None:
    import rfc8785

    assert canonical_json(value) == rfc8785.dumps(value)


def test_a_record_with_integral_floats_is_written_by_the_c_encoder() -> None:
    import rfc8785

    from ledger_service import canonical

    value: Any = {"elements": [{"element": "Pb", "lod": 5.0, "value": 12.5, "note": "x,5.0"}, [1.0, 0.0]]}
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    fast = canonical._without_integral_floats(value, text)
    assert fast is not None and fast.encode() == canonical_json(value) == rfc8785.dumps(value)
    assert b'"x,5.0"' in canonical_json(value) and b'"lod":5,' in canonical_json(value)
    # A string that the rewrite would change is caught by reading the text back: the long way then.
    assert canonical._without_integral_floats({"a": ",5.0]"}, '{"a":",5.0]"}') is None
