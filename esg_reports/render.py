"""Report outputs: JSON, HTML, PDF (WeasyPrint) with SVG charts, and Inline XBRL 1.1 against the local
taxonomy (esg_reports/taxonomy), which is copied beside the iXBRL file so that the pair validates offline."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from esg_reports import i18n
from esg_reports.charts import bars
from esg_reports.mapping import HERE
from esg_reports.report import Report

FORMATS = ("json", "html", "pdf", "ixbrl")
_env = Environment(loader=PackageLoader("esg_reports"), autoescape=select_autoescape(["html", "xhtml", "j2"]))


def fmt(value: float | int | None, unit: str) -> str:
    if value is None:
        return "not reported"
    if unit == "pure":
        return f"{value * 100:.2f} %"
    if unit in ("percent", "mass%"):
        return f"{value:.3f} {'%' if unit == 'percent' else 'mass %'}"
    return f"{value:,}"


def _charts(d: dict[str, Any]) -> dict[str, str]:
    m = d["metrics"]
    yield_items = [
        (p, v["yield"]) for p, v in m.get("first_pass_yield", {}).get("breakdown", {}).items() if v["yield"] is not None
    ]
    recall_items = [
        (f"recall {rid}", float(v["units"]))
        for rid, v in m.get("recalls", {}).get("breakdown", {}).get("recalls", {}).items()
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


def to_html(report: Report, anchor_rows: int = 25, font_faces: str = "") -> str:
    """`font_faces`: @font-face rules for the shipped fonts (the PDF's; the HTML file itself names the families
    only, since file URLs of this installation mean nothing where the file is read)."""
    d = report.to_dict(ids_per_metric=0)
    return _env.get_template("report.html.j2").render(
        r=report,
        d=d,
        charts=_charts(d),
        fmt=fmt,
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


def _facts(report: Report, d: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, spec in report.mapping.metrics.items():
        if key not in d["metrics"]:
            continue
        m = d["metrics"][key]
        value, kind = m["value"], spec["type"]
        fact = {"label": m["label"], "concept": spec["concept"], "value": value, "records": m["evidence"]["records"],
                "scale": None, "suffix": ""}  # fmt: skip
        if value is not None:
            if kind == "integer":
                fact.update(shown=str(int(value)), decimals="0")
            elif kind == "percent":  # shown in percent, tagged as a pure fraction
                fact.update(shown=f"{Decimal(str(value)):f}", decimals="INF", scale="-2", suffix=" %")
            else:
                fact.update(shown=f"{Decimal(str(value)):f}", decimals="INF")
        out.append(fact)
        for extra_key, concept in spec.get("extra_concepts", {}).items():
            extra = m["breakdown"].get(extra_key)
            out.append({"label": f"{m['label']}: {extra_key.replace('_', ' ')}", "concept": concept, "value": extra,
                        "shown": str(extra), "decimals": "0", "records": m["evidence"]["records"], "scale": None,
                        "suffix": ""})  # fmt: skip
    return out


def to_ixbrl(report: Report, schema_href: str) -> str:
    d = report.to_dict(ids_per_metric=0)
    anchors = sum(len(m["evidence"]["anchors"]) for m in d["metrics"].values())
    text = (
        f"Every figure is computed by qledger from quality records anchored on the consortium chain; "
        f"{anchors} anchoring transactions are listed in the report's JSON evidence with the SM3 of each "
        f"metric's record ids, mapping version {d['mapping_version']}."
    )
    return _env.get_template("report.xhtml.j2").render(
        r=report,
        d=d,
        t=report.mapping.taxonomy,
        facts=_facts(report, d),
        schema_href=schema_href,
        end_inclusive=(report.period.end - timedelta(days=1)).date().isoformat(),
        evidence_text=text,
    )


def write(report: Report, out_dir: Path, formats: tuple[str, ...] | list[str] = FORMATS) -> dict[str, Path]:
    """Write the chosen formats into `out_dir`; returns format -> path."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)}: choose from {', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"esg-{report.period.label}"
    paths: dict[str, Path] = {}
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
    if "ixbrl" in formats:
        schema = report.mapping.taxonomy["schema"]
        shutil.copyfile(HERE / "taxonomy" / schema, out_dir / schema)
        paths["ixbrl"] = out_dir / f"{stem}.xhtml"
        paths["ixbrl"].write_text(to_ixbrl(report, schema))
    return paths
