"""Canonical JSON (RFC 8785, JCS) and the record id derived from it.

The serialiser writes strings with the C-accelerated JSON string encoder (JCS escapes exactly what Python's
JSON encoder escapes with ensure_ascii off), sorts keys by UTF-16 code units as JCS requires, and leaves
non-integral numbers to the `rfc8785` reference implementation (ECMAScript number formatting). Values whose
output from Python's C JSON encoder is already canonical (checked on the text: see _plain) are written by
it, three times faster again; so is a value whose only difference is integral floats (5.0, which JCS writes
5), rewritten in the text and read back to check. A property test holds both byte for byte to
`rfc8785.dumps`; verification at thousands of records per second needs the speed.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring
from typing import Any

import rfc8785

from ledger_service.digests import sm3

_MAX_SAFE = 2**53 - 1  # JCS numbers are IEEE 754 doubles


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    elif isinstance(value, int) and -_MAX_SAFE <= value <= _MAX_SAFE:
        out.append(str(value))
    elif isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_SAFE:
        out.append(str(int(value)))
    elif isinstance(value, int | float):
        out.append(rfc8785.dumps(value).decode())  # exponent forms and range errors, as the reference does
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if not isinstance(key, str):
                raise rfc8785.CanonicalizationError(f"object keys must be strings, got {type(key).__name__}")
            if i:
                out.append(",")
            out.append(encode_basestring(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise rfc8785.CanonicalizationError(f"cannot canonicalise a {type(value).__name__}")


# Where Python's own JSON encoder (sorted keys, no spaces) can differ from JCS, in its output: a float written
# "N.0" or with an exponent (JCS writes 1 and 0.00001; Python 1.0 and 1e-05), an integer past 2**53 (JCS
# refuses it), a character outside the BMP (keys then sort by UTF-16 code units, not code points). Numbers
# are recognised by what precedes them (a hex digest's "3e" is not one); a match inside a string only sends
# that value the long way. Other floats are the shortest round-trip digits in both, and strings are escaped
# by the same function.
_NUMBER_NOT_PLAIN = re.compile(r"[:\[,]-?\d+(?:\.0(?=[,}\]])|(?:\.\d+)?e|\d{15})")  # after ':', '[' or ','


# An integral float as Python writes it ("5.0", not "-0.0"), after ':', '[' or ',' and before ',', '}' or ']'.
_INTEGRAL_FLOAT = re.compile(r"(?<=[:\[,])(-?[1-9]\d*|0)\.0(?=[,}\]])")


def _without_integral_floats(value: Any, text: str) -> str | None:
    """The C encoder's text with each integral float written as JCS writes it ("5.0" as "5"), if that is all
    that kept it from being plain; None otherwise. A match inside a string would change that string: the text is
    read back and must equal the value (5 == 5.0 in Python; strings compare exactly), or it is not used."""
    fixed = _INTEGRAL_FLOAT.sub(r"\1", text)
    if fixed == text or not _plain(fixed):
        return None
    try:
        same = bool(json.loads(fixed) == value)
    except RecursionError:
        return None
    return fixed if same else None


def _plain(text: str) -> bool:
    """Whether the C encoder's text of an object or array is already canonical."""
    if text[:1] not in ("{", "[") or _NUMBER_NOT_PLAIN.search(text):
        return False
    return text.isascii() or max(text) <= "\uffff"


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value (dicts with string keys, lists, str, int, float, bool,
    None). Most records are written by the C JSON encoder, checked to be plain; the rest by `_write`."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):  # NaN, infinities, keys of mixed types, non-JSON values: the long way
        text = None
    if text is not None and not _plain(text):
        text = _without_integral_floats(value, text)  # measured records carry 5.0 mg/kg and the like
    if text is None:
        out: list[str] = []
        _write(value, out)
        text = "".join(out)
    return text.encode("utf-8")


def record_id(envelope: Any) -> bytes:
    """The record id: SM3 of the canonical JSON of the record envelope."""
    return sm3(canonical_json(envelope))
