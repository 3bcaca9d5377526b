"""The framework mapping (versioned data in mappings/) and the local taxonomy that mirrors ESRS concepts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_VERSION = "2026.1"
FRAMEWORKS = ("esrs", "gri", "sasb", "tcfd")
XBRL_TYPES = {"pure": "xbrli:pureItemType", "percent": "xbrli:pureItemType", "integer": "xbrli:integerItemType"}


@dataclass(frozen=True)
class Mapping:
    version: str
    document: dict[str, Any]

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        return dict(self.document["metrics"])

    @property
    def taxonomy(self) -> dict[str, str]:
        return dict(self.document["taxonomy"])

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
    return Mapping(version, json.loads(path.read_text()))


def taxonomy_schema(mapping: Mapping) -> str:
    """The local taxonomy's schema: one duration item per concept, ESRS-style names and types."""
    t = mapping.taxonomy
    elements = "\n".join(
        f'  <xs:element name="{name}" id="{t["prefix"]}_{name}" type="{kind}" substitutionGroup="xbrli:item" '
        f'xbrli:periodType="duration" nillable="true"/>'
        for name, kind in sorted(mapping.concepts().items())
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated from mappings/qledger-esg-{mapping.version}.json by esg_reports.mapping.taxonomy_schema.
     {t["mirrors"]}. -->
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xbrli="http://www.xbrl.org/2003/instance"
  xmlns:link="http://www.xbrl.org/2003/linkbase" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:{t["prefix"]}="{t["namespace"]}" targetNamespace="{t["namespace"]}" elementFormDefault="qualified">
  <xs:import namespace="http://www.xbrl.org/2003/instance" schemaLocation="http://www.xbrl.org/2003/xbrl-instance-2003-12-31.xsd"/>
{elements}
</xs:schema>
"""
