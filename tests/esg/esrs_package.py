"""A small XBRL taxonomy package in the format of EFRAG's ESRS package (Taxonomy Packages 1.0: META-INF with
taxonomyPackage.xml and catalog.xml; the published URLs under https://xbrl.efrag.org/taxonomy/; concepts in
common/esrs_cor.xsd with ids esrs_<Name>; English labels in common/labels/lab_esrs-en.xml), holding the few
concepts the tests need, since EFRAG's package cannot be downloaded here."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

TOP = "esrs-test-2023-12-22"
BASE = "https://xbrl.efrag.org/taxonomy/esrs/2023-12-22"
NS = "https://xbrl.efrag.org/taxonomy/esrs/2023-12-22"
TREE = "xbrl.efrag.org/taxonomy/esrs/2023-12-22"  # where the catalog puts the published URLs
CONCEPTS = {  # name -> (type, English label)
    "PercentageOfSecondaryReusedOrRecycledComponentsSecondaryIntermediaryProductsAndSecondaryMaterialsUsed": (
        "dtr-types:percentItemType",
        "Percentage of secondary reused or recycled components, secondary intermediary products and secondary "
        "materials used to manufacture undertaking's products and services",
    ),
    "DisclosureOfExpectedDurabilityOfProductPlacedOnMarketInRelationToIndustryAverageExplanatory": (
        "xbrli:stringItemType",
        "Disclosure of expected durability of product placed on market in relation to industry average",
    ),
    "WeightOfProductsAndTechnicalAndBiologicalMaterialsUsedDuringReportingPeriod": (
        "dtr-types:massItemType",
        "Weight of products and technical and biological materials used during reporting period",
    ),
    "WasteGenerated": ("dtr-types:massItemType", "Waste generated"),
    "TotalAmountOfSubstancesOfConcernThatAreGeneratedOrUsedDuringProductionOrThatAreProcured": (
        "dtr-types:massItemType",
        "Total amount of substances of concern that are generated or used during production or that are procured",
    ),
    "DescriptionOfHowEffectivenessOfActionsAndInitiativesInDeliveringOutcomesForConsumersAndEndusersIsTracked": (
        "xbrli:stringItemType",
        "Description of how effectiveness of actions and initiatives in delivering outcomes for consumers and "
        "end-users is tracked and assessed",
    ),
}


def files() -> dict[str, str]:
    elements = "\n".join(
        f'  <xs:element name="{n}" id="esrs_{n}" type="{t}" substitutionGroup="xbrli:item" '
        f'xbrli:periodType="duration" nillable="true"/>'
        for n, (t, _) in CONCEPTS.items()
    )
    locs = "\n".join(
        f'<link:loc xlink:type="locator" xlink:href="../esrs_cor.xsd#esrs_{n}" xlink:label="c{i}"/>'
        f'<link:label xlink:type="resource" xlink:label="l{i}" xlink:role="http://www.xbrl.org/2003/role/label" '
        f'xml:lang="en">{escape(label)}</link:label>'
        f'<link:labelArc xlink:type="arc" xlink:arcrole="http://www.xbrl.org/2003/arcrole/concept-label" '
        f'xlink:from="c{i}" xlink:to="l{i}"/>'
        for i, (n, (_, label)) in enumerate(CONCEPTS.items())
    )
    return {
        f"{TOP}/META-INF/taxonomyPackage.xml": f"""<?xml version="1.0" encoding="UTF-8"?>
<tp:taxonomyPackage xmlns:tp="http://xbrl.org/2016/taxonomy-package" xml:lang="en">
  <tp:identifier>{BASE}/test-subset</tp:identifier>
  <tp:name>ESRS Set 1 XBRL Taxonomy (test subset)</tp:name>
  <tp:version>2023-12-22</tp:version>
  <tp:publisher>qledger tests</tp:publisher>
  <tp:publicationDate>2024-08-30</tp:publicationDate>
  <tp:entryPoints>
    <tp:entryPoint><tp:name>ESRS all</tp:name><tp:entryPointDocument href="{BASE}/esrs_all.xsd"/></tp:entryPoint>
  </tp:entryPoints>
</tp:taxonomyPackage>
""",
        f"{TOP}/META-INF/catalog.xml": """<?xml version="1.0" encoding="UTF-8"?>
<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <rewriteURI uriStartString="https://xbrl.efrag.org/taxonomy/" rewritePrefix="../xbrl.efrag.org/taxonomy/"/>
</catalog>
""",
        f"{TOP}/{TREE}/esrs_all.xsd": f"""<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:link="http://www.xbrl.org/2003/linkbase"
  xmlns:xlink="http://www.w3.org/1999/xlink" targetNamespace="{NS}/all" elementFormDefault="qualified">
  <xs:annotation><xs:appinfo>
    <link:linkbaseRef xlink:type="simple" xlink:href="common/labels/lab_esrs-en.xml"
      xlink:role="http://www.xbrl.org/2003/role/labelLinkbaseRef" xlink:arcrole="http://www.w3.org/1999/xlink/properties/linkbase"/>
  </xs:appinfo></xs:annotation>
  <xs:import namespace="{NS}" schemaLocation="common/esrs_cor.xsd"/>
</xs:schema>
""",
        f"{TOP}/{TREE}/common/esrs_cor.xsd": f"""<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xbrli="http://www.xbrl.org/2003/instance"
  xmlns:dtr-types="http://www.xbrl.org/dtr/type/2022-03-31" xmlns:esrs="{NS}" targetNamespace="{NS}"
  elementFormDefault="qualified">
  <xs:import namespace="http://www.xbrl.org/2003/instance" schemaLocation="http://www.xbrl.org/2003/xbrl-instance-2003-12-31.xsd"/>
  <xs:import namespace="http://www.xbrl.org/dtr/type/2022-03-31" schemaLocation="https://www.xbrl.org/dtr/type/2022-03-31/types.xsd"/>
{elements}
</xs:schema>
""",
        f"{TOP}/{TREE}/common/labels/lab_esrs-en.xml": f"""<?xml version="1.0" encoding="UTF-8"?>
<link:linkbase xmlns:link="http://www.xbrl.org/2003/linkbase" xmlns:xlink="http://www.w3.org/1999/xlink">
<link:labelLink xlink:type="extended" xlink:role="http://www.xbrl.org/2003/role/link">
{locs}
</link:labelLink>
</link:linkbase>
""",
    }


def build(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files().items():
            z.writestr(name, text)
    return path
