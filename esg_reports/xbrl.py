"""Inline XBRL against an installed taxonomy package (docs/domain.md section 5.4): each metric's concept is the
package's where the mapping names an ESRS datapoint by its label and the package has it; every other metric is
an entity-specific extension, typed with the data type registry's types (percent, mass, power) and anchored to
the closest ESRS concept (the mapping's anchor label) in a definition linkbase with the wider-narrower arcrole
that ESEF uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from esg_reports.packages import Concept, Package
from esg_reports.report import Report

DTR = ("dtr-types", "http://www.xbrl.org/dtr/type/2022-03-31", "https://www.xbrl.org/dtr/type/2022-03-31/types.xsd")
WIDER_NARROWER = "http://www.esma.europa.eu/xbrl/esef/arcrole/wider-narrower"
TYPES = {"pure": "dtr-types:percentItemType", "percent": "dtr-types:percentItemType",
         "integer": "xbrli:integerItemType"}  # fmt: skip
QUANTITY_TYPES = {"kg": "dtr-types:massItemType", "MW": "dtr-types:powerItemType"}
XBRLDT = ("xbrldt", "http://xbrl.org/2005/xbrldt", "http://www.xbrl.org/2005/xbrldt-2005.xsd")
XBRLDI = ("xbrldi", "http://xbrl.org/2006/xbrldi")
DIM = "http://xbrl.org/int/dim/arcrole/"
PRODUCT_ROLE = "https://qledger.org/role/ProductBreakdown"
# The metrics tagged per product category on the product axis: metric -> (its table's column, the per-product
# value's unit as the metric states its own).
BY_PRODUCT = {"first_pass_yield": "yield", "production_mw": "mw"}


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
    members: dict[str, str] = field(default_factory=dict)  # product category -> its member on the product axis
    by_product: list[str] = field(default_factory=list)  # metrics whose concept the product hypercube covers

    @property
    def namespaces(self) -> dict[str, str]:
        out = {self.prefix: self.namespace, DTR[0]: DTR[1], XBRLDI[0]: XBRLDI[1]}
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
        # The product axis: an explicit dimension, its domain and one member per product category reported.
        axis = [("ProductAxis", "xbrldt:dimensionItem", "xbrli:stringItemType"),
                ("ProductBreakdownTable", "xbrldt:hypercubeItem", "xbrli:stringItemType"),
                ("AllProductCategoriesMember", "xbrli:item", "dtr-types:domainItemType"),
                *((m, "xbrli:item", "dtr-types:domainItemType") for m in self.members.values())]  # fmt: skip
        elements += "\n" + "\n".join(
            f'  <xs:element name="{n}" id="{self.prefix}_{n}" type="{t}" substitutionGroup="{g}" abstract="true" '
            f'xbrli:periodType="duration" nillable="true"/>'
            for n, g, t in axis
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Entity-specific extension taxonomy written by qledger (esg_reports/xbrl.py) for {self.package.name}
     {self.package.version}, package SHA-256 {self.package.sha256}. -->
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xbrli="http://www.xbrl.org/2003/instance"
  xmlns:link="http://www.xbrl.org/2003/linkbase" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:{DTR[0]}="{DTR[1]}" xmlns:{XBRLDT[0]}="{XBRLDT[1]}" xmlns:{self.prefix}="{self.namespace}"
  targetNamespace="{self.namespace}" elementFormDefault="qualified">
  <xs:annotation><xs:appinfo>
    <link:roleType id="ProductBreakdown" roleURI="{PRODUCT_ROLE}">
      <link:definition>Figures by product category (the product axis)</link:definition>
      <link:usedOn>link:definitionLink</link:usedOn>
    </link:roleType>
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
  <xs:import namespace="{XBRLDT[1]}" schemaLocation="{XBRLDT[2]}"/>
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
        dimensional = "\n".join(
            f'  <link:arcroleRef arcroleURI="{DIM}{a}" xlink:type="simple" xlink:href="{XBRLDT[2]}#{a}"/>'
            for a in ("all", "hypercube-dimension", "dimension-domain", "domain-member", "dimension-default")
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<link:linkbase xmlns:link="http://www.xbrl.org/2003/linkbase" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:xbrldt="{XBRLDT[1]}">
  <link:roleRef roleURI="{PRODUCT_ROLE}" xlink:type="simple" xlink:href="{self.schema}#ProductBreakdown"/>
  <link:arcroleRef arcroleURI="{WIDER_NARROWER}" xlink:type="simple" xlink:href="{self.schema}#wider-narrower"/>
{dimensional}
  <link:definitionLink xlink:type="extended" xlink:role="http://www.xbrl.org/2003/role/link">
{body}
  </link:definitionLink>
{self._product_link()}
</link:linkbase>
"""

    def _product_link(self) -> str:
        """The product hypercube (XBRL Dimensions 1.0): each covered concept has it (closed, on the segment);
        its one axis defaults to all product categories, so a figure without the axis is the total."""
        own = f"{self.schema}#{self.prefix}_"

        def loc(label: str, href: str) -> str:
            return f'    <link:loc xlink:type="locator" xlink:href={quoteattr(href)} xlink:label="{label}"/>'

        def arc(role: str, a: str, b: str, order: int, extra: str = "") -> str:
            return (f'    <link:definitionArc xlink:type="arc" xlink:arcrole="{DIM}{role}" xlink:from="{a}" '
                    f'xlink:to="{b}" order="{order}"{extra}/>')  # fmt: skip

        lines = [loc("table", own + "ProductBreakdownTable"), loc("axis", own + "ProductAxis"),
                 loc("all", own + "AllProductCategoriesMember"),
                 loc("default", own + "AllProductCategoriesMember")]  # XLink: one arc per (from, to) pair # fmt: skip
        lines += [loc(f"member{i}", own + m) for i, m in enumerate(self.members.values())]
        for i, key in enumerate(self.by_product):
            lines.append(loc(f"primary{i}", self.href(key)))
            lines.append(arc("all", f"primary{i}", "table", i + 1,
                             ' xbrldt:contextElement="segment" xbrldt:closed="true"'))  # fmt: skip
        lines += [arc("hypercube-dimension", "table", "axis", 1), arc("dimension-domain", "axis", "all", 1),
                  arc("dimension-default", "axis", "default", 1)]  # fmt: skip
        lines += [arc("domain-member", "all", f"member{i}", i + 1) for i in range(len(self.members))]
        body = "\n".join(lines)
        return f"""  <link:definitionLink xlink:type="extended" xlink:role="{PRODUCT_ROLE}">
{body}
  </link:definitionLink>"""

    def href(self, key: str) -> str:
        """Where a metric's concept is defined: the package's published URL, or the extension schema."""
        bound = self.bound.get(key)
        return bound.href if bound is not None else f"{self.schema}#{self.prefix}_{self.own[key]}"

    def member(self, product: str) -> str:
        """The QName of a product category's member on the product axis."""
        return f"{self.prefix}:{self.members[product]}"


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
    for key in BY_PRODUCT:
        if key in report.metrics and report.metrics[key].table:
            ext.by_product.append(key)
            for row in report.metrics[key].table:
                ext.members.setdefault(row["product"], _member_name(row["product"], ext.members.values()))
    return ext


def _member_name(product: str, taken: Any) -> str:
    """An NCName for a product category's member: its letters and digits, unique among those `taken`."""
    stem = "Product" + "".join(c for c in product if c.isascii() and c.isalnum()) + "Member"
    name, n = stem, 2
    while name in set(taken):
        name, n = f"{stem}{n}", n + 1
    return name
