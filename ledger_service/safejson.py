"""JSON from untrusted sources, parsed within limits checked before the parser runs.

Python's C decoder recurses once per nesting level, and the process's recursion limit is whatever the most
demanding dependency set (py-evm asks for 12,288, py_ecc for 100,000): a body nested 100,000 levels deep
overflows the C stack and kills the process. Integers of more than 4,300 digits make `int()` raise. So the
depth, the length of every string and of every number are checked on the raw text first (regular expressions
in C, then one pass over the brackets alone), and only a document within all three is handed to `json.loads`.
See docs/threat-model.md ("an anonymous client").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from ledger_service.errors import LedgerError

MAX_DEPTH: Final = 64
MAX_STRING_CHARS: Final = 1 << 16  # 64 Ki characters in one string (a record's longest text is far shorter)
MAX_NUMBER_CHARS: Final = 100  # digits, sign, point and exponent of one number

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NUMBER = re.compile(rb"-?[0-9][0-9.eE+\-]*")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


@dataclass(frozen=True)
class Limits:
    max_depth: int = MAX_DEPTH
    max_string_chars: int = MAX_STRING_CHARS
    max_number_chars: int = MAX_NUMBER_CHARS


DEFAULT: Final = Limits()


class JsonRefused(LedgerError, ValueError):
    """Raised when a JSON text is malformed or passes a limit; `code` names which (MALFORMED_JSON,
    JSON_TOO_DEEP, JSON_STRING_TOO_LONG, JSON_NUMBER_TOO_LONG)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check(data: bytes, limits: Limits = DEFAULT) -> int:
    """Refuse a JSON text whose nesting, strings or numbers pass `limits` (JsonRefused); parse nothing.
    Returns the length in bytes of the longest string (key or value), quotes and escapes included."""
    longest = max((len(m) for m in _STRING.findall(data)), default=0)
    if longest - 2 > limits.max_string_chars * 6:  # bytes per character: at most 6 (an escape); exact check below
        raise JsonRefused("JSON_STRING_TOO_LONG", f"a string is longer than {limits.max_string_chars} characters")
    outside = _STRING.sub(b'""', data)
    for number in _NUMBER.findall(outside):
        if len(number) > limits.max_number_chars:
            raise JsonRefused("JSON_NUMBER_TOO_LONG", f"a number has more than {limits.max_number_chars} characters")
    depth = 0
    for bracket in outside.translate(None, _NOT_BRACKETS):
        if bracket in b"[{":
            depth += 1
            if depth > limits.max_depth:
                raise JsonRefused("JSON_TOO_DEEP", f"nested deeper than {limits.max_depth} levels")
        else:
            depth -= 1
    return longest


def loads(data: bytes | str, limits: Limits = DEFAULT) -> Any:
    """`json.loads` within `limits`; JsonRefused for a text that passes one or is not JSON (NaN and the
    infinities included: canonical JSON has no place for them)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    longest = check(raw, limits)
    try:
        value = json.loads(raw, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as error:
        raise JsonRefused("MALFORMED_JSON", f"not valid JSON: {error}") from None
    if longest - 2 > limits.max_string_chars:  # a character is at least one byte: none can be too long otherwise
        _check_strings(value, limits.max_string_chars)
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys repeat is refused: parsers disagree on which value wins (first or last), so one
    document would say two things (a verifier and a reader of the same bundle)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"the key {repeated!r} appears twice in one object")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_strings(value: Any, limit: int) -> None:
    """The exact character count of every key and string (the byte check above is a bound); depth is known
    to be small, so recursion is safe."""
    if isinstance(value, str):
        if len(value) > limit:
            raise JsonRefused("JSON_STRING_TOO_LONG", f"a string is longer than {limit} characters")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_strings(k, limit)
            _check_strings(v, limit)
    elif isinstance(value, list):
        for v in value:
            _check_strings(v, limit)
