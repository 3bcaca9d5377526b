"""Inline XBRL against an installed taxonomy package (docs/domain.md section 5.4): each metric's concept is the
package's where the mapping names an ESRS datapoint by its label and the package has it; every other metric is
an entity-specific extension, typed with the data type registry's types (percent, mass, power) and anchored to
the closest ESRS concept (the mapping's anchor label) in a definition linkbase with the wider-narrower arcrole
that ESEF uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from esg_reports.packages import Concept, Package
from esg_reports.report import Report

DTR = ("dtr-types", "http://www.xbrl.org/dtr/type/2022-03-31", "https://www.xbrl.org/dtr/type/2022-03-31/types.xsd")
WIDER_NARROWER = "http://www.esma.europa.eu/xbrl/esef/arcrole/wider-narrower"
TYPES = {"pure": "dtr-types:percentItemType", "percent": "dtr-types:percentItemType",
         "integer": "xbrli:integerItemType"}  # fmt: skip
QUANTITY_TYPES = {"kg": "dtr-types:massItemType", "MW": "dtr-types:powerItemType"}


@dataclass
class Extension:
    prefix: str
    namespace: str
    schema: str  # file name, written beside the iXBRL file
    linkbase: str
    package: Package
    bound: dict[str, Concept] = field(default_factory=dict)  # metric -> the package's concept
    elements: dict[str, str] = field(default_factory=dict)  # extension concept name -> type
    anchors: dict[str, Concept] = field(default_factory=dict)  # extension concept name -> wider ESRS concept
    unresolved: list[str] = field(default_factory=list)  # labels the package does not have

    @property
    def namespaces(self) -> dict[str, str]:
        out = {self.prefix: self.namespace, DTR[0]: DTR[1]}
        for c in self.bound.values():
            out[self.package.prefix] = c.namespace
        return out

    def qname(self, key: str, concept: str) -> str:
        """The QName of a metric's concept: the package's when bound, else the extension's."""
        bound = self.bound.get(key)
        if bound is not None and concept == self.own.get(key):
            return f"{self.package.prefix}:{bound.name}"
        return f"{self.prefix}:{concept}"

    own: dict[str, str] = field(default_factory=dict)  # metric -> qledger's concept name

    def files(self) -> dict[str, str]:
        return {self.schema: self._schema(), self.linkbase: self._linkbase()}

    def _schema(self) -> str:
        elements = "\n".join(
            f'  <xs:element name="{n}" id="{self.prefix}_{n}" type="{t}" substitutionGroup="xbrli:item" '
            f'xbrli:periodType="duration" nillable="true"/>'
            for n, t in sorted(self.elements.items())
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Entity-specific extension taxonomy written by qledger (esg_reports/xbrl.py) for {self.package.name}
     {self.package.version}, package SHA-256 {self.package.sha256}. -->
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xbrli="http://www.xbrl.org/2003/instance"
  xmlns:link="http://www.xbrl.org/2003/linkbase" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:{DTR[0]}="{DTR[1]}" xmlns:{self.prefix}="{self.namespace}" targetNamespace="{self.namespace}"
  elementFormDefault="qualified">
  <xs:annotation><xs:appinfo>
    <link:arcroleType id="wider-narrower" arcroleURI="{WIDER_NARROWER}" cyclesAllowed="undirected">
      <link:definition>wider-narrower (ESEF anchoring of an extension to the closest concept)</link:definition>
      <link:usedOn>link:definitionArc</link:usedOn>
    </link:arcroleType>
    <link:linkbaseRef xlink:type="simple" xlink:href="{self.linkbase}"
      xlink:role="http://www.xbrl.org/2003/role/definitionLinkbaseRef"
      xlink:arcrole="http://www.w3.org/1999/xlink/properties/linkbase"/>
  </xs:appinfo></xs:annotation>
  <xs:import namespace="http://www.xbrl.org/2003/instance" schemaLocation="http://www.xbrl.org/2003/xbrl-instance-2003-12-31.xsd"/>
  <xs:import namespace="{DTR[1]}" schemaLocation="{DTR[2]}"/>
{elements}
</xs:schema>
"""

    def _linkbase(self) -> str:
        locs, arcs = [], []
        for i, (name, wider) in enumerate(sorted(self.anchors.items())):
            locs.append(
                f'    <link:loc xlink:type="locator" xlink:href={quoteattr(wider.href)} xlink:label="wider{i}"/>'
            )
            locs.append(f'    <link:loc xlink:type="locator" xlink:href="{self.schema}#{self.prefix}_{name}" '
                        f'xlink:label="narrower{i}"/>')  # fmt: skip
            arcs.append(f'    <link:definitionArc xlink:type="arc" xlink:arcrole="{WIDER_NARROWER}" '
                        f'xlink:from="wider{i}" xlink:to="narrower{i}" order="{i + 1}"/>')  # fmt: skip
        body = "\n".join(locs + arcs)
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<link:linkbase xmlns:link="http://www.xbrl.org/2003/linkbase" xmlns:xlink="http://www.w3.org/1999/xlink">
  <link:arcroleRef arcroleURI="{WIDER_NARROWER}" xlink:type="simple" xlink:href="{self.schema}#wider-narrower"/>
  <link:definitionLink xlink:type="extended" xlink:role="http://www.xbrl.org/2003/role/link">
{body}
  </link:definitionLink>
</link:linkbase>
"""


def extension(report: Report, package: Package) -> Extension:
    stem = f"qledger-ext-{report.entity.lei}-{report.period.label}".lower()
    ext = Extension("qlx", f"https://qledger.org/taxonomy/ext/{report.entity.lei}/{report.period.label}",
                    f"{stem}.xsd", f"{stem}_def.xml", package)  # fmt: skip
    for key, spec in report.mapping.metrics.items():
        hint = spec.get("xbrl", {})
        ext.own[key] = spec["concept"]
        if "esrs_label" in hint:
            concept = package.concept_by_label(hint["esrs_label"])
            if concept is not None:
                ext.bound[key] = concept
                continue
            ext.unresolved.append(hint["esrs_label"])
        unit = report.metrics[key].unit if key in report.metrics else ""
        ext.elements[spec["concept"]] = QUANTITY_TYPES.get(unit) or TYPES.get(spec["type"], "xbrli:decimalItemType")
        for extra in spec.get("extra_concepts", {}).values():
            ext.elements[extra] = "xbrli:integerItemType"
        if "anchor_label" in hint:
            wider = package.concept_by_label(hint["anchor_label"])
            if wider is None:
                ext.unresolved.append(hint["anchor_label"])
            else:
                ext.anchors[spec["concept"]] = wider
    ext.elements["DescriptionOfQualityEvidenceAndItsAnchoring"] = "xbrli:stringItemType"
    return ext
