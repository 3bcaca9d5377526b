"""A property fuzz of the record parser and validator: arbitrary JSON and valid records mutated at random
places. Whatever comes in, the validator answers with a typed record or RecordInvalid listing faults with
paths and stable codes; never another exception. A record it accepts is canonical: validating its own
canonical form again gives the same record id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_service.canonical import canonical_json
from ledger_service.digests import sm3
from ledger_service.records import FaultCode, RecordInvalid, validate_record
from ledger_service.safejson import JsonRefused, loads
from tests.utils.records import NOW, RESULTS, FakeLedger, valid_raw

RUNS = {"arbitrary": 0, "mutated": 0, "accepted": 0}


@pytest.fixture(scope="module", autouse=True)
def counted() -> Iterator[None]:
    yield
    print(f"\nrecord fuzz: {RUNS}")  # the counts go in the issue note
    ran = [RUNS[k] for k in ("arbitrary", "mutated") if RUNS[k]]
    assert all(n >= 1500 for n in ran), RUNS


json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_value = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=40,
)  # fmt: skip
CODES = set(FaultCode)


def check(raw: Any) -> None:
    try:
        record = validate_record(raw, FakeLedger(), now=NOW)
    except RecordInvalid as refused:
        assert refused.faults and all(f.code in CODES and isinstance(f.path, str) for f in refused.faults)
        return
    RUNS["accepted"] += 1
    canonical = canonical_json(record.model_dump(mode="json", exclude_none=True))
    again = validate_record(json.loads(canonical), FakeLedger(), now=NOW)
    assert sm3(canonical_json(again.model_dump(mode="json", exclude_none=True))) == sm3(canonical)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(json_value)
def test_arbitrary_json_is_answered_with_faults_never_a_crash(value: Any) -> None:
    RUNS["arbitrary"] += 1
    check(value)
    check({"record_type": "xrf_analysis", "results": value})


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.sampled_from(sorted(RESULTS)), st.data())
def test_mutated_records_are_refused_or_accepted_never_a_crash(kind: str, data: st.DataObject) -> None:
    RUNS["mutated"] += 1
    raw = valid_raw(kind)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(raw) if p]
        path = data.draw(st.sampled_from(paths))
        parent: Any = raw
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_value)
    check(raw)
    text = json.dumps(raw)  # and as the API receives it: through the bounded parser first
    try:
        check(loads(text))
    except JsonRefused:
        pass
