"""Report outputs: JSON, HTML, PDF (WeasyPrint) with SVG charts, CSV and XLSX of every metric with its record
ids, and Inline XBRL 1.1 against qledger's own taxonomy (esg_reports/taxonomy), which is copied beside the iXBRL
file so that the pair validates offline; qledger's own concepts are not the ESRS taxonomy, and the file says it
is not fileable."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import shutil
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from esg_reports import i18n
from esg_reports.charts import bars
from esg_reports.mapping import HERE
from esg_reports.report import Report, prior

FORMATS = ("json", "html", "pdf", "ixbrl", "csv", "xlsx")
EXPORT_COLUMNS = ("metric", "label", "value", "unit", "prior_value", "record_id", "anchor_tx", "anchor_tier", "block")
_env = Environment(loader=PackageLoader("esg_reports"), autoescape=select_autoescape(["html", "xhtml", "j2"]))


def fmt(value: float | int | None, unit: str) -> str:
    if value is None:
        return "not reported"
    if unit == "pure":
        return f"{value * 100:.2f} %"
    if unit in ("percent", "mass%"):
        return f"{value:.3f} {'%' if unit == 'percent' else 'mass %'}"
    if unit == "kg":
        return f"{value:,.3f} kg"
    if unit == "MW":
        return f"{value:,.4f} MW"
    if unit == "units":
        return f"{value:,} units"
    return f"{value:,}"


def cell(value: Any) -> str:
    """A table cell: numbers as they are, ratios in the table as percentages."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def _charts(d: dict[str, Any]) -> dict[str, str]:
    m = d["metrics"]
    yield_items = [
        (row["product"], row["yield"])
        for row in m.get("first_pass_yield", {}).get("table", [])
        if row["yield"] is not None
    ]
    recall_items = [
        (f"recall {row['recall']}", float(row["units_covered"])) for row in m.get("recalls", {}).get("table", [])
    ]
    short = {
        "calibration_coverage": "in calibration",
        "data_completeness": "complete",
        "anchoring_coverage": "anchored",
    }
    controls = [(label, m[k]["value"]) for k, label in short.items() if k in m and m[k]["value"] is not None]
    charts = {
        "yield": bars("First-pass yield by product", yield_items, percent=True),
        "recalls": bars("Units recalled, by recall", recall_items),
        "controls": bars("Data-quality controls", controls, percent=True),
    }
    # An SVG's text takes no font from the page's CSS: the shipped family is named on its root element.
    return {k: svg.replace("<svg ", f'<svg font-family="{i18n.FONT}, sans-serif" ', 1) for k, svg in charts.items()}


def to_json(report: Report, ids_per_metric: int | None = None, evidence_dir: str | None = None) -> bytes:
    return json.dumps(report.to_dict(ids_per_metric, evidence_dir), indent=1, default=str).encode()


def write_evidence(report: Report, directory: Path) -> int:
    """One file per distinct evidence set, named by its SM3 (the sorted record ids, one per line)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = set()
    for m in report.metrics.values():
        if m.evidence.record_ids and m.evidence.digest not in written:
            (directory / f"{m.evidence.digest}.txt").write_bytes(m.evidence.listing)
            written.add(m.evidence.digest)
    return len(written)


def export_rows(report: Report) -> Iterator[tuple[Any, ...]]:
    """One row (in EXPORT_COLUMNS order) per (metric, record id) with the record's anchoring transaction; a
    metric without records gets one row with its value only."""
    index = report.anchor_index
    for key, m in report.metrics.items():
        before = report.comparatives.get(key)
        base = (key, report.mapping.metrics[key]["label"], m.value, m.unit, before.value if before else None)
        if not m.evidence.record_ids:
            yield (*base, None, None, None, None)
        for rid in sorted(m.evidence.record_ids):
            k = index.of.get(rid) if index is not None else None
            if k is None:
                yield (*base, rid, None, None, None)
            else:
                tx, tier, _, block, _, _ = index.keys[k]  # type: ignore[union-attr]
                yield (*base, rid, tx, tier, block)


def to_csv(report: Report) -> bytes:
    buffer = io.StringIO()
    _write_csv(report, buffer)
    return buffer.getvalue().encode()


def _csv_line(fields: tuple[Any, ...] | list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["" if v is None else v for v in fields])
    return buffer.getvalue()


_PLAIN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"  # what a CSV field never quotes


def _write_csv(report: Report, out: Any, chunk: int = 50_000) -> None:
    """The rows of `export_rows`, written as the csv module writes them, built as strings: a metric's part of
    the line once, each anchoring transaction's once, so that millions of rows cost a join each."""
    out.write(_csv_line(EXPORT_COLUMNS))
    index = report.anchor_index
    tails = [_csv_line(("", tx, tier, block)) for tx, tier, _, block, _, _ in index.keys] if index else []
    of = index.of if index else {}
    for key, m in report.metrics.items():
        before = report.comparatives.get(key)
        base = (key, report.mapping.metrics[key]["label"], m.value, m.unit, before.value if before else None)
        if not m.evidence.record_ids:
            out.write(_csv_line((*base, None, None, None, None)))
            continue
        head = _csv_line((*base, "x"))[:-2]  # the metric's fields and the delimiter before the record id
        ids = m.evidence.listing.decode().split("\n")  # sorted
        if m.evidence.listing.translate(None, _PLAIN):  # not letters and digits: let the csv module quote them
            for rid in ids:
                k = of.get(rid)
                anchor = (None, None, None) if k is None or index is None else index.keys[k][:2] + index.keys[k][3:4]
                out.write(_csv_line((*base, rid, *anchor)))
            continue
        for i in range(0, len(ids), chunk):
            out.write("".join(
                f"{head}{rid},,,\n" if (k := of.get(rid)) is None else f"{head}{rid}{tails[k]}"
                for rid in ids[i : i + chunk]
            ))  # fmt: skip


def to_xlsx(report: Report) -> bytes:
    """A workbook: a 'metrics' sheet (value, prior value, criteria), one row per evidence record in 'records',
    and the exceptions register."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "metrics"
    sheet.append(["metric", "label", "value", "unit", "prior_value", "records", "record_ids_sm3", "numerator",
                  "denominator", "unit_of_count", "includes", "excludes"])  # fmt: skip
    for key, m in report.metrics.items():
        spec = report.mapping.metrics[key]
        before = report.comparatives.get(key)
        c = spec["criteria"]
        sheet.append([key, spec["label"], m.value, m.unit, before.value if before else None, len(m.evidence.record_ids),
                      m.evidence.digest, c["numerator"], c["denominator"], c["unit_of_count"], c["includes"],
                      c["excludes"]])  # fmt: skip
    records = book.create_sheet("records")
    records.append(list(EXPORT_COLUMNS))
    for row in export_rows(report):
        records.append(list(row))
    exceptions = book.create_sheet("exceptions")
    exceptions.append(["metric", "kind", "record_id", "unit", "detail"])
    for e in report.exceptions():
        exceptions.append([e["metric"], e["kind"], e.get("record_id"), e.get("unit"), e.get("detail")])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_html(report: Report, anchor_rows: int = 25, font_faces: str = "") -> str:
    """`font_faces`: @font-face rules for the shipped fonts (the PDF's; the HTML file itself names the families
    only, since file URLs of this installation mean nothing where the file is read)."""
    d = report.to_dict(ids_per_metric=0)
    return _env.get_template("report.html.j2").render(
        r=report,
        d=d,
        charts=_charts(d),
        fmt=fmt,
        cell=cell,
        exceptions=_exception_summary(report),
        anchor_rows=anchor_rows,
        font_faces=font_faces,
        font=i18n.FONT,
        mono=i18n.MONO,
    )


def to_pdf(report: Report) -> bytes:
    from weasyprint import HTML

    html = to_html(report, font_faces=i18n.font_faces())
    pdf: bytes = HTML(string=html).write_pdf(font_config=i18n.font_config())
    return pdf


def _example(e: dict[str, Any]) -> str:
    return str(e.get("unit") or (e.get("record_id") or "")[:12] or e.get("detail") or e.get("recall"))


def _exception_summary(report: Report) -> list[dict[str, Any]]:
    """The exceptions register in the body: per metric and kind, how many, with up to three examples."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in report.exceptions():
        groups.setdefault((e["metric"], e["kind"]), []).append(e)
    return [
        {"metric": report.mapping.metrics[m]["label"], "kind": k, "count": len(v),
         "examples": ", ".join(_example(x) for x in v[:3])}
        for (m, k), v in sorted(groups.items())
    ]  # fmt: skip


_MEASURES = {"pure": "xbrli:pure", "percent": "xbrli:pure", "units": "xbrli:pure", "count": "xbrli:pure",
             "kg": "utr:kg", "MW": "utr:MW"}  # fmt: skip


def _facts(
    report: Report,
    d: dict[str, Any],
    qname: Any = None,
    products: dict[str, str] | None = None,
    by_product: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The iXBRL facts: the period's and the prior period's value of every metric. `qname(key, concept)` names
    each fact's concept (default: qledger's own). With `products` (product category -> the id of its context on
    the product axis) and `by_product` (metric -> the column of its table), also each such metric's value per
    product category in the period."""
    own = report.mapping.taxonomy["prefix"]
    name = qname or (lambda key, concept: f"{own}:{concept}")
    out = []
    for key, spec in report.mapping.metrics.items():
        if key not in d["metrics"]:
            continue
        m = d["metrics"][key]
        kind = spec["type"]
        unit = _MEASURES.get(m["unit"], "xbrli:pure").split(":")[1]
        values = [("period", m["value"], m["label"]), ("prior", m["prior_value"], m["label"])]
        if products and by_product and key in by_product:
            values += [(products[row["product"]], row[by_product[key]], f"{m['label']}: {row['product']}")
                       for row in m["table"] if row["product"] in products]  # fmt: skip
        for context, value, label in values:
            fact = {"label": label, "qname": name(key, spec["concept"]), "value": value, "context": context,
                    "records": m["evidence"]["records"], "sm3": m["evidence"]["record_ids_sm3"], "scale": None,
                    "suffix": "", "unit": unit, "id": f"f-{key}-{context}"}  # fmt: skip
            if value is not None:
                if kind == "integer":
                    fact.update(shown=str(int(value)), decimals="0")
                elif kind == "percent":  # shown in percent (rounded to 4 places), tagged as a fraction
                    fact.update(shown=f"{Decimal(str(value)):f}", decimals="6", scale="-2", suffix=" %")
                else:  # ratios and quantities are rounded to 6 decimal places
                    fact.update(shown=f"{Decimal(str(value)):f}", decimals="6")
            out.append(fact)
        for extra_key, concept in spec.get("extra_concepts", {}).items():
            extra = m["breakdown"].get(extra_key)
            out.append({"label": f"{m['label']}: {extra_key.replace('_', ' ')}", "qname": name(key, concept),
                        "value": extra, "shown": str(extra), "decimals": "0", "records": m["evidence"]["records"],
                        "sm3": m["evidence"]["record_ids_sm3"], "scale": None, "suffix": "", "context": "period",
                        "unit": "pure", "id": f"f-{key}-{extra_key}"})  # fmt: skip
    return out


def to_ixbrl(report: Report, schema_href: str, package: Any = None) -> str:
    """Inline XBRL: with `package` (packages.Package), against its concepts and an extension schema named
    `schema_href` (xbrl.extension); without, against qledger's own taxonomy, saying it is not fileable."""
    d = report.to_dict(ids_per_metric=0)
    anchors = sum(len(m["evidence"]["anchors"]) for m in d["metrics"].values())
    t = report.mapping.taxonomy
    if package is None:
        statement, namespaces, hrefs = t["statement"] + ".", {t["prefix"]: t["namespace"]}, [schema_href]
        contexts: list[dict[str, str]] = []  # the product axis is the extension's: only with a package
        facts, text_concept = _facts(report, d), f"{t['prefix']}:DescriptionOfQualityEvidenceAndItsAnchoring"
    else:
        from esg_reports import xbrl

        ext = xbrl.extension(report, package)
        statement = (
            f"Tagged against the installed taxonomy package {package.name} {package.version} "
            f"(SHA-256 {package.sha256}); entity-specific extensions are anchored in {ext.linkbase}."
        )
        namespaces, hrefs = ext.namespaces, [package.entry_point, schema_href]
        products = {p: f"period-product-{i}" for i, p in enumerate(ext.members)}
        contexts = [{"id": products[p], "dimension": f"{ext.prefix}:ProductAxis", "member": ext.member(p)}
                    for p in ext.members]  # fmt: skip
        facts = _facts(report, d, ext.qname, products, {k: xbrl.BY_PRODUCT[k] for k in ext.by_product})
        text_concept = f"{ext.prefix}:DescriptionOfQualityEvidenceAndItsAnchoring"
    text = (
        f"Every figure is computed by qledger from quality records anchored on the consortium chain; "
        f"{anchors} anchoring transactions are listed in the report's JSON evidence with the SM3 of each "
        f"metric's record ids, mapping version {d['mapping_version']}. {statement}"
    )
    return _env.get_template("report.xhtml.j2").render(
        r=report,
        d=d,
        namespaces=namespaces,
        facts=facts,
        schema_hrefs=hrefs,
        statement=statement,
        text_concept=text_concept,
        end_inclusive=(report.period.end - timedelta(days=1)).date().isoformat(),
        prior=prior(report.period),
        prior_end_inclusive=(prior(report.period).end - timedelta(days=1)).date().isoformat(),
        evidence_text=text,
        product_contexts=contexts,
    )


def to_xbrl_json(report: Report, package: Any = None) -> bytes:
    """The facts as an xBRL-JSON report (OIM, https://xbrl.org/2021/xbrl-json), for an issuer's disclosure tool."""
    d = report.to_dict(ids_per_metric=0)
    t = report.mapping.taxonomy
    if package is None:
        namespaces, taxonomy, facts = {t["prefix"]: t["namespace"]}, [t["schema"]], _facts(report, d)
    axis: dict[str, dict[str, str]] = {}  # context id -> its dimension on the product axis
    periods = {"period": report.period, "prior": prior(report.period)}
    if package is not None:
        from esg_reports import xbrl

        ext = xbrl.extension(report, package)
        namespaces, taxonomy = ext.namespaces, [package.entry_point, ext.schema]
        products = {p: f"period-product-{i}" for i, p in enumerate(ext.members)}
        facts = _facts(report, d, ext.qname, products, {k: xbrl.BY_PRODUCT[k] for k in ext.by_product})
        for product, context in products.items():
            axis[context] = {f"{ext.prefix}:ProductAxis": ext.member(product)}
            periods[context] = report.period
    out: dict[str, Any] = {}
    for f in facts:
        if f["value"] is None:
            continue
        p = periods[f["context"]]
        out[f["id"]] = {
            "value": str(f["value"]),
            "decimals": int(f["decimals"]),
            "dimensions": {"concept": f["qname"], "entity": f"lei:{report.entity.lei}",
                           "period": f"{p.start.isoformat()}/{p.end.isoformat()}",
                           "unit": {"pure": "xbrli:pure", "kg": "utr:kg", "MW": "utr:MW"}[f["unit"]],
                           **axis.get(f["context"], {})},
        }  # fmt: skip
    document = {
        "documentInfo": {
            "documentType": "https://xbrl.org/2021/xbrl-json",
            "namespaces": {**namespaces, "xbrli": "http://www.xbrl.org/2003/instance",
                           "utr": "http://www.xbrl.org/2009/utr", "lei": "http://standards.iso.org/iso/17442"},
            "taxonomy": taxonomy,
        },
        "facts": out,
    }  # fmt: skip
    return json.dumps(document, indent=1).encode()


def write(
    report: Report, out_dir: Path, formats: tuple[str, ...] | list[str] = FORMATS, package: Any = None
) -> dict[str, Path]:
    """Write the chosen formats into `out_dir`; returns format -> path. With `package` (an installed taxonomy
    package, esg_reports.packages), the Inline XBRL and its xBRL-JSON feed use its concepts and an extension."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)}: choose from {', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"esg-{report.period.label}"
    paths: dict[str, Path] = {}
    csv_child = None
    if "csv" in formats:
        paths["csv"] = out_dir / f"{stem}.csv"
        csv_child = _csv_in_child(report, paths["csv"])
    if "json" in formats:
        paths["json"] = out_dir / f"{stem}.json"
        write_evidence(report, out_dir / "evidence")
        paths["json"].write_bytes(to_json(report, ids_per_metric=1000, evidence_dir="evidence"))
    if "html" in formats:
        paths["html"] = out_dir / f"{stem}.html"
        paths["html"].write_text(to_html(report))
    if "pdf" in formats:
        paths["pdf"] = out_dir / f"{stem}.pdf"
        paths["pdf"].write_bytes(to_pdf(report))
    if "csv" in formats and csv_child is None:
        _write_csv_file(report, paths["csv"])
    if "xlsx" in formats:
        paths["xlsx"] = out_dir / f"{stem}.xlsx"
        paths["xlsx"].write_bytes(to_xlsx(report))
    if "ixbrl" in formats:
        if package is None:
            schema = report.mapping.taxonomy["schema"]
            shutil.copyfile(HERE / "taxonomy" / schema, out_dir / schema)
        else:
            from esg_reports import xbrl

            ext = xbrl.extension(report, package)
            for name, text in ext.files().items():
                (out_dir / name).write_text(text)
            schema = ext.schema
        paths["ixbrl"] = out_dir / f"{stem}.xhtml"
        paths["ixbrl"].write_text(to_ixbrl(report, schema, package))
        paths["xbrl-json"] = out_dir / f"{stem}.xbrl.json"
        paths["xbrl-json"].write_bytes(to_xbrl_json(report, package))
    if csv_child is not None:
        csv_child.join()
        if csv_child.exitcode != 0:
            paths["csv"].unlink(missing_ok=True)
            raise OSError(f"{paths['csv']}: the process writing it failed (exit {csv_child.exitcode})")
    return paths


CSV_CHILD_MIN = 200_000  # evidence rows from which the CSV is written by a child process


def _csv_in_child(report: Report, path: Path) -> Any:
    """A forked child writing the CSV export of a large report (CSV_CHILD_MIN evidence rows or more) on another
    core while this process writes the other formats (docs/architecture.md); None for a smaller report or where
    the platform cannot fork: the caller writes it then. The listings are sorted first, here, so that the child
    and the JSON share them rather than each sort them."""
    rows = sum(len(m.evidence.record_ids) for m in report.metrics.values())
    if rows < CSV_CHILD_MIN or "fork" not in multiprocessing.get_all_start_methods():
        return None
    for m in report.metrics.values():
        _ = m.evidence.listing
    child = multiprocessing.get_context("fork").Process(
        target=_write_csv_file, args=(report, path), name="qledger-report-csv", daemon=True
    )
    child.start()
    return child


def _write_csv_file(report: Report, path: Path) -> None:
    with path.open("w", newline="") as f:  # streamed: millions of rows at a report over 1M records
        _write_csv(report, f)
