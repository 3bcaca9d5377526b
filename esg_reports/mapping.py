"""The framework mapping: versioned data in mappings/ (docs/domain.md section 5). Each metric carries its written
reporting criteria and its homes; a home is the datapoint itself or evidence for a narrative. ESRS homes are
keyed by edition, SASB homes by SICS industry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from ledger_service.digests import sm3

HERE = Path(__file__).resolve().parent
DEFAULT_VERSION = "2026.3"
FRAMEWORKS = ("esrs", "gri", "sasb", "ifrs_s2")
ROLES = ("datapoint", "narrative")
XBRL_TYPES = {"pure": "xbrli:pureItemType", "percent": "xbrli:pureItemType", "integer": "xbrli:integerItemType",
              "decimal": "xbrli:decimalItemType"}  # fmt: skip
UNITS = {"pure": "pure", "percent": "percent", "integer": "count", "decimal": "kg"}


@dataclass(frozen=True)
class Mapping:
    version: str
    document: dict[str, Any]
    raw: bytes

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        return dict(self.document["metrics"])

    @property
    def taxonomy(self) -> dict[str, str]:
        return dict(self.document["taxonomy"])

    @cached_property
    def digest(self) -> str:
        """SM3 of the mapping file as shipped: reports name it beside the version."""
        return sm3(self.raw).hex()

    def esrs_edition(self, fiscal_year: int) -> str:
        """The ESRS edition in force for a financial year."""
        editions = self.document["frameworks"]["esrs"]["editions"]
        for name, spec in editions.items():
            if spec.get("from_fy", 0) <= fiscal_year <= spec.get("until_fy", 9999):
                return str(name)
        raise ValueError(f"no ESRS edition in mapping {self.version} covers FY{fiscal_year}")

    def homes(self, framework: str, *, edition: str, industry: str) -> list[dict[str, Any]]:
        """The framework's rows for the entity: one per (metric, datapoint), ESRS of `edition` only, SASB of the
        entity's SICS `industry` only."""
        out = []
        for key, spec in self.metrics.items():
            for home in spec["homes"]:
                if home["framework"] != framework:
                    continue
                if framework == "esrs" and home.get("edition") != edition:
                    continue
                if framework == "sasb" and home.get("industry") != industry:
                    continue
                out.append({**home, "metric": key})
        return sorted(out, key=lambda h: (h["code"], h["metric"]))

    def concepts(self) -> dict[str, str]:
        """Every concept the mapping tags: name -> XBRL item type."""
        out = {}
        for m in self.metrics.values():
            out[m["concept"]] = XBRL_TYPES[m["type"]]
            for extra in m.get("extra_concepts", {}).values():
                out[extra] = "xbrli:integerItemType"
        out["DescriptionOfQualityEvidenceAndItsAnchoring"] = "xbrli:stringItemType"
        return out


@cache
def load(version: str = DEFAULT_VERSION) -> Mapping:
    path = HERE / "mappings" / f"qledger-esg-{version}.json"
    if not path.exists():
        known = sorted(p.stem.removeprefix("qledger-esg-") for p in (HERE / "mappings").glob("*.json"))
        raise ValueError(f"no mapping version {version!r}; known: {', '.join(known)}")
    raw = path.read_bytes()
    return Mapping(version, json.loads(raw), raw)


def taxonomy_schema(mapping: Mapping) -> str:
    """qledger's own taxonomy schema: one duration item per concept. Not the EFRAG ESRS taxonomy."""
    t = mapping.taxonomy
    elements = "\n".join(
        f'  <xs:element name="{name}" id="{t["prefix"]}_{name}" type="{kind}" substitutionGroup="xbrli:item" '
        f'xbrli:periodType="duration" nillable="true"/>'
        for name, kind in sorted(mapping.concepts().items())
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated from mappings/qledger-esg-{mapping.version}.json by esg_reports.mapping.taxonomy_schema.
     {t["statement"]}. -->
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xbrli="http://www.xbrl.org/2003/instance"
  xmlns:link="http://www.xbrl.org/2003/linkbase" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:{t["prefix"]}="{t["namespace"]}" targetNamespace="{t["namespace"]}" elementFormDefault="qualified">
  <xs:import namespace="http://www.xbrl.org/2003/instance" schemaLocation="http://www.xbrl.org/2003/xbrl-instance-2003-12-31.xsd"/>
{elements}
</xs:schema>
"""
