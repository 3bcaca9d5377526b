"""What a certificate PDF shows, reduced to one digest, and the shape a certificate PDF may have
(docs/formats.md section 9, docs/threat-model.md section 2.2).

The page digest is computed from the objects a viewer draws: for each page in order, its attributes (inherited
ones resolved), every content stream's decoded bytes, its resources followed recursively with every stream
replaced by the SM3 of its dictionary and decoded data, its annotations; then the outline (bookmarks), the
output intents (the colour profile a viewer may render with) and, only where present, the catalog entries a viewer
shows beside the page (SHOWN_BESIDE: page labels, viewer preferences, the structure tree).
Object numbers never enter it (an indirect object is its content's SM3, a reference to a page is the page's
position) nor do `/Parent` back-links. Rewriting the file (qpdf renumbering objects, other compression) keeps
it; any change to what is drawn changes it. Document information and XMP metadata are left out: tools rewrite
them on every save, and they are not drawn.

Everything here reads hostile input: depth, object count and decoded bytes are bounded, and a file qpdf would
have to repair is refused (a viewer may repair it differently)."""

from __future__ import annotations

import hashlib
import io
import re
import zlib
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, Final

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream, String

from ledger_service.digests import sm3

PAGE_TAG: Final = b"qledger-certificate-page/1\x00"
MAX_DEPTH: Final = 64  # nesting of dictionaries and arrays below a page (a font file is about 6 deep)
MAX_NODES: Final = 500_000  # objects visited, memoised ones included
MAX_DECODED: Final = 256 << 20  # decoded stream bytes, all streams together
MAX_OUTLINE_ITEMS: Final = 10_000
MAX_ATTACHMENT: Final = 8 << 20

INHERITABLE: Final = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
_STREAM_ENCODING: Final = frozenset({"/Length", "/Filter", "/DecodeParms", "/DL"})
_OUTLINE_LINKS: Final = frozenset({"/Parent", "/Prev", "/Next", "/First", "/Last"})

# What a certificate's catalog may hold: what WeasyPrint writes for PDF/A-3b, and entries that change nothing
# drawn. Anything else (/OpenAction, /AA, /AcroForm, /OCProperties, /Collection, /Threads, ...) is refused.
CATALOG_KEYS: Final = frozenset(
    {"/Type", "/Pages", "/Names", "/OutputIntents", "/Outlines", "/Metadata", "/AF", "/Lang", "/MarkInfo",
     "/StructTreeRoot", "/ViewerPreferences", "/PageLayout", "/PageMode", "/PageLabels", "/Version", "/Extensions"}
)  # fmt: skip
NAME_TREES: Final = frozenset({"/EmbeddedFiles", "/Dests"})
# Catalog entries a viewer shows beside the page, or in place of its text: the page labels in its page box, the
# document title in its title bar (/ViewerPreferences /DisplayDocTitle), what it opens with, the structure tree
# a screen reader or a reflowing viewer reads (/ActualText, /Alt). A certificate as issued has none of them; one
# added to it changes the page digest (a forger's "ALL PASS" page label or title bar verified VALID before).
SHOWN_BESIDE: Final = ("/PageLabels", "/ViewerPreferences", "/PageMode", "/PageLayout", "/StructTreeRoot", "/MarkInfo")
LINK_ACTIONS: Final = frozenset({"/URI", "/GoTo"})
_WHITESPACE: Final = b" \t\r\n\f\x00"
_END_OF_REVISION: Final = re.compile(rb"startxref\s+\d+\s+%%EOF")


class PdfRefused(Exception):
    """The PDF cannot be checked: damaged (qpdf would repair it), too deep or too large, or not a PDF."""


def open_pdf(pdf: bytes) -> pikepdf.Pdf:
    """The PDF as qpdf reads it, without repair: a file whose cross-reference table needs reconstructing may be
    reconstructed differently by a viewer, so what is checked would not be what is shown."""
    try:
        return pikepdf.open(io.BytesIO(pdf), attempt_recovery=False)
    except Exception as error:  # qpdf's errors, or anything its parser raises on a hostile file
        raise PdfRefused(f"not a PDF that opens without repair ({type(error).__name__}: {error})") from None


class _Budget:
    def __init__(self) -> None:
        self.nodes = MAX_NODES
        self.decoded = MAX_DECODED

    def node(self) -> None:
        self.nodes -= 1
        if self.nodes < 0:
            raise PdfRefused(f"more than {MAX_NODES} objects to digest")

    def take(self, n: int) -> None:
        self.decoded -= n
        if self.decoded < 0:
            raise PdfRefused(f"more than {MAX_DECODED} decoded bytes")


def _filters(stream: Any) -> list[str]:
    value = stream.get("/Filter")
    if value is None:
        return []
    if isinstance(value, Name):
        return [str(value)]
    if isinstance(value, Array):
        return [str(v) for v in value]
    raise PdfRefused("a stream /Filter that is neither a name nor an array")


def stream_data(stream: Any, budget: _Budget | None = None, limit: int = MAX_DECODED) -> tuple[bytes, bool]:
    """A stream's decoded data and True; or its raw data and False where its filter is not a general-purpose
    one (an image's DCT, JBIG2, ...). Flate is inflated here, within the budget (a small stream can inflate to
    gigabytes); the other general filters by qpdf."""
    left = min(limit, budget.decoded if budget is not None else limit)
    filters = _filters(stream)
    try:
        raw = bytes(stream.read_raw_bytes())
        if not filters:
            data, decoded = raw, True
        elif filters == ["/FlateDecode"] and stream.get("/DecodeParms") is None:
            inflate = zlib.decompressobj()
            data, decoded = inflate.decompress(raw, left + 1), True
        else:
            try:
                data, decoded = bytes(stream.read_bytes()), True
            except pikepdf.PdfError:  # not decodable at the generalized level: the encoded bytes stand for it
                data, decoded = raw, False
    except (pikepdf.PdfError, zlib.error) as error:
        raise PdfRefused(f"a stream does not decode ({error})") from None
    if len(data) > left:
        raise PdfRefused(f"a stream decodes to more than {left} bytes")
    if budget is not None:
        budget.take(len(data))
    return data, decoded


class _Encoder:
    """An unambiguous byte encoding of PDF objects (every item type-tagged and length- or end-delimited)."""

    def __init__(self, pages: Mapping[tuple[int, int], int]) -> None:
        self.pages = pages
        self.budget = _Budget()
        self.memo: dict[tuple[int, int], bytes] = {}
        self.open: set[tuple[int, int]] = set()

    def value(self, obj: Any, depth: int) -> bytes:
        self.budget.node()
        if depth > MAX_DEPTH:
            raise PdfRefused(f"objects nested more than {MAX_DEPTH} deep")
        if isinstance(obj, pikepdf.Object) and obj.is_indirect:
            key = obj.objgen
            if key in self.pages:
                return b"p%d;" % self.pages[key]
            if key in self.memo:
                return self.memo[key]
            if key in self.open:
                return b"c"  # a reference back to an object being encoded (a genuine page has none)
            self.open.add(key)
            out = b"R" + sm3(self.direct(obj, depth))
            self.open.discard(key)
            self.memo[key] = out
            return out
        return self.direct(obj, depth)

    def direct(self, obj: Any, depth: int) -> bytes:
        if isinstance(obj, Stream):
            data, decoded = stream_data(obj, self.budget)
            skip = _STREAM_ENCODING if decoded else frozenset({"/Length"})
            head = self.fields(((k, obj[k]) for k in obj.keys() if k not in skip), depth)
            return b"S" + sm3(head + (b"d" if decoded else b"e") + sm3(data))
        if isinstance(obj, Dictionary):
            return self.fields(((k, obj[k]) for k in obj.keys() if k != "/Parent"), depth)
        if isinstance(obj, Array):
            return b"[" + b"".join(self.value(item, depth + 1) for item in obj) + b"]"
        if isinstance(obj, Name):
            return _sized(b"n", str(obj).encode("utf-8", "surrogateescape"))
        if isinstance(obj, String):
            return _sized(b"s", bytes(obj))
        if isinstance(obj, bool):
            return b"t" if obj else b"f"
        if isinstance(obj, int):
            return b"i%d;" % obj
        if isinstance(obj, Decimal):
            return b"r" + str(obj).encode() + b";"
        if obj is None:
            return b"z"
        raise PdfRefused(f"an object of an unexpected kind ({type(obj).__name__})")

    def fields(self, items: Iterator[tuple[str, Any]] | list[tuple[str, Any]], depth: int) -> bytes:
        out = [b"<"]
        for key, item in sorted(items, key=lambda kv: kv[0].encode("utf-8", "surrogateescape")):
            out.append(_sized(b"n", key.encode("utf-8", "surrogateescape")) + self.value(item, depth + 1))
        out.append(b">")
        return b"".join(out)

    def outline(self, first: Any, depth: int) -> bytes:
        """Bookmarks (shown beside the page): each item's own entries, then its children, siblings in order."""
        if depth > MAX_DEPTH:
            raise PdfRefused(f"an outline nested more than {MAX_DEPTH} deep")
        out, seen, item = [b"O["], set(), first
        while isinstance(item, Dictionary):
            if item.is_indirect and item.objgen in seen:
                raise PdfRefused("an outline that loops")
            seen.add(item.objgen)
            if len(seen) > MAX_OUTLINE_ITEMS:
                raise PdfRefused(f"more than {MAX_OUTLINE_ITEMS} outline items")
            out.append(self.fields([(k, item[k]) for k in item.keys() if k not in _OUTLINE_LINKS], depth))
            out.append(self.outline(item.get("/First"), depth + 1))
            item = item.get("/Next")
        out.append(b"]")
        return b"".join(out)


def _sized(tag: bytes, data: bytes) -> bytes:
    return tag + b"%d:" % len(data) + data


def page_attributes(page: Any) -> list[tuple[str, Any]]:
    """A page's entries, with the inheritable ones it does not set taken from the nearest ancestor that does."""
    fields = {k: page[k] for k in page.keys() if k != "/Parent"}
    node, hops = page.get("/Parent"), 0
    while isinstance(node, Dictionary):
        hops += 1
        if hops > MAX_DEPTH:
            raise PdfRefused(f"a page tree deeper than {MAX_DEPTH}")
        for key in INHERITABLE:
            if key not in fields and key in node:
                fields[key] = node[key]
        node = node.get("/Parent")
    return list(fields.items())


def page_digest(doc: pikepdf.Pdf) -> bytes:
    """SM3 of what the document shows (see the module's docstring)."""
    try:
        pages = [p.obj for p in doc.pages]
        encoder = _Encoder({p.objgen: i for i, p in enumerate(pages)})
        parts = [PAGE_TAG, b"%d;" % len(pages)]
        parts += [encoder.fields(page_attributes(p), 0) for p in pages]
        parts.append(encoder.outline(doc.Root.get("/Outlines", Dictionary()).get("/First"), 0))
        parts.append(encoder.value(doc.Root.get("/OutputIntents"), 0))  # the colour space a viewer may render to
        for key in SHOWN_BESIDE:  # appended only when present: a certificate as issued has none of them
            if key in doc.Root:
                parts.append(_sized(b"n", key.encode()) + encoder.value(doc.Root[key], 0))
    except PdfRefused:
        raise
    except (pikepdf.PdfError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise PdfRefused(f"the page tree cannot be read ({type(error).__name__}: {error})") from None
    if doc.get_warnings():
        raise PdfRefused(f"qpdf had to repair it: {doc.get_warnings()[0]}")
    return sm3(b"".join(parts))


def revision_problem(pdf: bytes, doc: pikepdf.Pdf) -> str | None:
    """Why the file is not one revision, or None. An incremental update appends objects, a cross-reference
    section naming the previous one (/Prev) and another `startxref ... %%EOF`: the file must end at its first
    `startxref <offset> %%EOF` (whitespace apart), and its one cross-reference section name no other."""
    end = _END_OF_REVISION.search(pdf)
    if end is None:
        return "no startxref ... %%EOF"
    if pdf[end.end() :].strip(_WHITESPACE):
        return f"{len(pdf) - end.end()} bytes after the first %%EOF (an incremental update)"
    for key in ("/Prev", "/XRefStm"):
        if key in doc.trailer:
            return f"the trailer names another cross-reference section ({key})"
    return None


def active_content_problems(doc: pikepdf.Pdf, attachment: str) -> list[str]:
    """Document entries that can change what is shown, or show something else: anything in the catalog but
    the entries of CATALOG_KEYS, name trees other than embedded files and destinations, any embedded file but
    the credential, page or annotation actions, annotations other than links (whose actions may only go to a
    URI or a page), bookmark actions, encryption. PdfRefused where the document cannot be read."""
    try:
        return _active_content_problems(doc, attachment)
    except PdfRefused:
        raise
    except Exception as error:  # qpdf's errors, or an entry of an unexpected type
        raise PdfRefused(f"its document entries cannot be read ({type(error).__name__}: {error})") from None


def _active_content_problems(doc: pikepdf.Pdf, attachment: str) -> list[str]:
    out: list[str] = []
    root = doc.Root
    out += [f"catalog entry {k}" for k in sorted(root.keys()) if k not in CATALOG_KEYS]
    names = root.get("/Names")
    if isinstance(names, Dictionary):
        out += [f"name tree {k}" for k in sorted(names.keys()) if k not in NAME_TREES]
    files = sorted(doc.attachments.keys())
    out += [f"embedded file {f!r}" for f in files if f != attachment]
    associated = root.get("/AF", Array())
    for spec in associated if isinstance(associated, Array) else [associated]:
        name = str(spec.get("/UF", spec.get("/F", ""))) if isinstance(spec, Dictionary) else ""
        if name != attachment:
            out.append(f"associated file {name!r}")
    if doc.is_encrypted or "/Encrypt" in doc.trailer:
        out.append("encryption")
    for n, page in enumerate(doc.pages, 1):
        if "/AA" in page.obj:
            out.append(f"page {n} actions (/AA)")
        annots = page.obj.get("/Annots", Array())
        for annot in annots if isinstance(annots, Array) else [annots]:
            if not isinstance(annot, Dictionary):
                out.append(f"page {n}: an annotation that is not a dictionary")
            elif annot.get("/Subtype") != Name.Link:
                out.append(f"page {n}: a {annot.get('/Subtype')} annotation")
            elif "/AA" in annot or _action(annot.get("/A")) not in (None, *LINK_ACTIONS):
                out.append(f"page {n}: a link running {_action(annot.get('/A'))}")
    out += _outline_actions(root.get("/Outlines", Dictionary()).get("/First"), 0)
    return out


def _action(action: Any) -> str | None:
    if action is None:
        return None
    if not isinstance(action, Dictionary) or "/Next" in action:
        return "a chain of actions"
    return str(action.get("/S", ""))


def _outline_actions(item: Any, depth: int) -> list[str]:
    if depth > MAX_DEPTH:
        return ["an outline nested too deep"]
    out: list[str] = []
    seen: set[tuple[int, int]] = set()
    while isinstance(item, Dictionary) and len(seen) <= MAX_OUTLINE_ITEMS:
        if item.objgen in seen:
            return [*out, "an outline that loops"]
        seen.add(item.objgen)
        if "/SE" in item or _action(item.get("/A")) not in (None, "/GoTo"):
            out.append(f"bookmark {str(item.get('/Title', ''))!r} runs {_action(item.get('/A'))}")
        out += _outline_actions(item.get("/First"), depth + 1)
        item = item.get("/Next")
    return out


def read_attachment(pdf: bytes, name: str) -> bytes | None:
    """The embedded file `name`'s content (decoded within MAX_ATTACHMENT), or None where there is none;
    PdfRefused for a file that cannot be read."""
    with open_pdf(pdf) as doc:
        try:
            if name not in doc.attachments:
                return None
            spec = doc.attachments[name].obj
            stream = spec.get("/EF", Dictionary()).get("/F") if isinstance(spec, Dictionary) else None
            if not isinstance(stream, Stream):
                return None
            data, decoded = stream_data(stream, limit=MAX_ATTACHMENT)
        except PdfRefused:
            raise
        except Exception as error:  # qpdf's errors on a damaged name tree or file specification
            raise PdfRefused(f"its embedded files cannot be read ({type(error).__name__}: {error})") from None
        return data if decoded else None


def replace_attachment(pdf: bytes, name: str, data: bytes) -> bytes:
    """The PDF with embedded file `name`'s content replaced in place (its file specification, relationship and
    /AF entry kept, size and MD5 updated for PDF/A-3), rewritten by qpdf: pages, outline, document
    information and metadata are untouched (the issuer checks the page digest did not move)."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        stream = doc.attachments[name].obj.EF.F
        stream.write(zlib.compress(data, 9), filter=Name.FlateDecode)
        stream.Params.Size = len(data)
        stream.Params.CheckSum = String(hashlib.md5(data, usedforsecurity=False).digest())
        out = io.BytesIO()
        doc.save(out, fix_metadata_version=False)
        return out.getvalue()
