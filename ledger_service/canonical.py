"""Canonical JSON (RFC 8785, JCS) and the record id derived from it."""

from __future__ import annotations

from typing import Any

import rfc8785

from ledger_service.digests import sm3


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value (dicts, lists, str, int, float, bool, None)."""
    return rfc8785.dumps(value)


def record_id(envelope: Any) -> bytes:
    """The record id: SM3 of the canonical JSON of the record envelope."""
    return sm3(canonical_json(envelope))
