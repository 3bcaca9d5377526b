"""XBRL taxonomy packages (XBRL International Taxonomy Packages 1.0), such as the EFRAG ESRS package a user
brings: installed after checking the SHA-256 the publisher states, then used by the Inline XBRL output (docs/
domain.md section 5.4): its concepts, resolved from their English labels (never hard-coded QNames), its types;
metrics without an ESRS concept become entity-specific extensions anchored in a definition linkbase.

A package is a zip with one top folder holding META-INF/taxonomyPackage.xml (identifier, name, version, entry
points) and META-INF/catalog.xml (rewriteURI: the published URLs -> paths inside the zip), so that a validator
resolves the entry point offline (`arelleCmdLine --packages PACKAGE.zip --workOffline`).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import shutil
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from xml.etree import ElementTree

from ledger_service.errors import LedgerError

TP = "{http://xbrl.org/2016/taxonomy-package}"
CATALOG = "{urn:oasis:names:tc:entity:xmlns:xml:catalog}"
LINK = "{http://www.xbrl.org/2003/linkbase}"
XLINK = "{http://www.w3.org/1999/xlink}"
XS = "{http://www.w3.org/2001/XMLSchema}"
LABEL_ROLE = "http://www.xbrl.org/2003/role/label"
INDEX = "installed.json"


class PackageInvalid(LedgerError, ValueError):
    """A file that is not a taxonomy package, or not the one whose SHA-256 was stated."""


@dataclass(frozen=True)
class Concept:
    namespace: str
    name: str
    type: str  # e.g. "dtr-types:percentItemType", as the schema writes it
    period_type: str
    href: str  # the published URL of its element: schema URL # id


@dataclass(frozen=True)
class Package:
    path: Path  # the installed zip
    sha256: str
    identifier: str
    name: str
    version: str
    entry_point: str  # the published URL of the first entry point document

    @cached_property
    def _zip(self) -> zipfile.ZipFile:
        return zipfile.ZipFile(self.path)

    @cached_property
    def _rewrites(self) -> list[tuple[str, str]]:
        return _catalog(self._zip)

    def url(self, member: str) -> str | None:
        """The published URL of a zip member (the catalog read backwards)."""
        for start, prefix in self._rewrites:
            if member.startswith(prefix):
                return start + member[len(prefix) :]
        return None

    def local(self, url: str) -> str | None:
        """The zip member a published URL resolves to, if the catalog maps it."""
        for start, prefix in self._rewrites:
            if url.startswith(start):
                return posixpath.normpath(prefix + url[len(start) :])
        return None

    @cached_property
    def concepts(self) -> dict[str, Concept]:
        """Every concept of the package's schemas, by element id (e.g. esrs_GrossScope1GreenhouseGasEmissions)."""
        out = {}
        for member in self._zip.namelist():
            if not member.endswith(".xsd"):
                continue
            root = ElementTree.fromstring(self._zip.read(member))
            namespace, url = root.get("targetNamespace", ""), self.url(member) or member
            for element in root.iter(f"{XS}element"):
                ident, name = element.get("id"), element.get("name")
                if ident and name and element.get("substitutionGroup", "").endswith("item"):
                    period = element.get("{http://www.xbrl.org/2003/instance}periodType", "duration")
                    out[ident] = Concept(namespace, name, element.get("type", ""), period, f"{url}#{ident}")
        return out

    @cached_property
    def labels(self) -> dict[str, str]:
        """English standard label -> concept id, from the package's label linkbases (lab_*-en.xml)."""
        out: dict[str, str] = {}
        for member in self._zip.namelist():
            base = posixpath.basename(member)
            if not (base.startswith("lab_") and base.endswith("-en.xml")):
                continue
            root = ElementTree.fromstring(self._zip.read(member))
            for link in root.iter(f"{LINK}labelLink"):
                locs = {loc.get(f"{XLINK}label"): loc.get(f"{XLINK}href", "").split("#")[-1]
                        for loc in link.iter(f"{LINK}loc")}  # fmt: skip
                texts = {lab.get(f"{XLINK}label"): (lab.text or "").strip() for lab in link.iter(f"{LINK}label")
                         if lab.get(f"{XLINK}role", LABEL_ROLE) == LABEL_ROLE}  # fmt: skip
                for arc in link.iter(f"{LINK}labelArc"):
                    concept, text = locs.get(arc.get(f"{XLINK}from")), texts.get(arc.get(f"{XLINK}to"))
                    if concept and text:
                        out.setdefault(_norm(text), concept)
        return out

    def concept_by_label(self, label: str) -> Concept | None:
        ident = self.labels.get(_norm(label))
        return self.concepts.get(ident) if ident else None

    @property
    def prefix(self) -> str:
        """The prefix the package's concepts take in qledger's output (the ESRS package's is esrs)."""
        return "esrs" if "efrag" in self.identifier.lower() or "esrs" in self.identifier.lower() else "tx"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _top(z: zipfile.ZipFile) -> str:
    tops = {n.split("/", 1)[0] for n in z.namelist() if "/" in n}
    if len(tops) != 1:
        raise PackageInvalid("a taxonomy package holds exactly one top-level folder")
    return tops.pop()


def _catalog(z: zipfile.ZipFile) -> list[tuple[str, str]]:
    top = _top(z)
    try:
        root = ElementTree.fromstring(z.read(f"{top}/META-INF/catalog.xml"))
    except KeyError:
        return []
    out = []
    for rule in root.iter(f"{CATALOG}rewriteURI"):
        start, prefix = rule.get("uriStartString"), rule.get("rewritePrefix")
        if start and prefix is not None:
            out.append((start, posixpath.normpath(f"{top}/META-INF/{prefix}") + "/"))
    return out


def read(path: Path, sha256: str) -> Package:
    """The package at `path`, once its SHA-256 equals `sha256` and its META-INF is well formed."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256.lower().removeprefix("sha256:"):
        raise PackageInvalid(f"{path}: SHA-256 is {digest}, not the stated {sha256}")
    try:
        z = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise PackageInvalid(f"{path}: not a zip file") from None
    with z:
        top = _top(z)
        try:
            meta = ElementTree.fromstring(z.read(f"{top}/META-INF/taxonomyPackage.xml"))
        except (KeyError, ElementTree.ParseError):
            raise PackageInvalid(f"{path}: no readable META-INF/taxonomyPackage.xml") from None
        text = {k: (meta.findtext(f"{TP}{k}") or "").strip() for k in ("identifier", "name", "version")}
        entry = meta.find(f"{TP}entryPoints/{TP}entryPoint/{TP}entryPointDocument")
        if not text["identifier"] or entry is None or not entry.get("href"):
            raise PackageInvalid(f"{path}: taxonomyPackage.xml names no identifier or entry point")
        href = str(entry.get("href"))
        rewrites = _catalog(z)
        local = next((posixpath.normpath(p + href[len(s) :]) for s, p in rewrites if href.startswith(s)), None)
        if local is None or local not in z.namelist():
            raise PackageInvalid(f"{path}: the entry point {href} is not inside the package")
    return Package(path, digest, text["identifier"], text["name"], text["version"], href)


def install(path: Path, sha256: str, home: Path) -> Package:
    """Check the package and copy it into `home` (the data directory's taxonomies/), named by its SHA-256."""
    package = read(path, sha256)
    home.mkdir(parents=True, exist_ok=True)
    target = home / f"{package.sha256}.zip"
    shutil.copyfile(path, target)
    index = _index(home)
    index[package.sha256] = {"identifier": package.identifier, "name": package.name, "version": package.version,
                             "entry_point": package.entry_point}  # fmt: skip
    (home / INDEX).write_text(json.dumps(index, indent=1, sort_keys=True))
    return read(target, package.sha256)


def _index(home: Path) -> dict[str, dict[str, str]]:
    path = home / INDEX
    return dict(json.loads(path.read_text())) if path.exists() else {}


def installed(home: Path) -> list[Package]:
    """The packages installed in `home`, each re-checked against the SHA-256 it was installed under."""
    return [read(home / f"{sha}.zip", sha) for sha in sorted(_index(home))]
