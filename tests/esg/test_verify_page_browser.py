"""The page at a certificate's QR code in a real browser (Debian's chromium, driven by Playwright, never
Playwright's own download): a valid, a revoked and a recalled certificate each shown as what it is; a dropped
genuine PDF passes every check and a tampered one fails; the page in all eleven languages with every character
drawn by a shipped font (no missing glyph) at a phone's width, and no request leaving loopback."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from babel.messages.pofile import read_po
from fontTools.ttLib import TTFont
from playwright.sync_api import Browser, Locator, Page

from consortium import recall
from esg_reports import certificate_pdf, certificates, i18n, verify_page
from ledger_service.api.main import create_app
from ledger_service.config import Settings
from ledger_service.demo import LAB, REG, Demo
from ledger_service.localnode import free_port
from ledger_service.runtime import Runtime, open_runtime
from tests.api.test_docs_browser import LOOPBACK, Traffic, open_page

PHONE = {"width": 360, "height": 740}


@dataclass
class World:
    runtime: Runtime
    base: str
    valid: certificates.Issued
    revoked: certificates.Issued
    recalled: certificates.Issued


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("page")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    demo.enrol_signers()
    service = runtime.service
    ids = []
    for i, lot in enumerate(("LOT-PAGE-A", "LOT-PAGE-A", "LOT-PAGE-RECALLED")):
        raw, files = demo.record("xrf_analysis", i)
        raw["subject"]["lot"] = lot
        ids.append(service.submit(demo.sign(service.with_attachments(raw, files)), files, actor=LAB).record_id)
    service.anchor_pending()
    issued = certificates.issue(service, ids, ["en", "vi"], demo.profile.verification_url, keys=runtime.keys)
    service.revoke(ids[1], member=LAB, reason="sample mix-up")
    lot = issued[2].embedded["record"]["subject"]["lot"]
    assert lot != issued[0].embedded["record"]["subject"]["lot"]
    recall.open_recall(service, regulator=REG, kind="lot", scope=lot, reason="cadmium above the limit in this lot")
    app = create_app(service, worker=False, keys=runtime.keys, certificates=demo.certificates, profile=demo.profile)
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield World(runtime, f"http://{LOOPBACK}:{server.config.port}", *issued)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.engine.dispose()


def _open(browser: Browser, url: str, lang: str = "en") -> tuple[Page, Traffic]:
    page, traffic, response = open_page(browser, url)
    page.set_viewport_size(PHONE)
    page.wait_for_load_state("networkidle")
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    return page, traffic


def _home(page: Page, traffic: Traffic) -> None:
    page.wait_for_load_state("networkidle")
    assert traffic.outside == [] and traffic.failed == [] and traffic.console_errors == [], traffic
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"


def _drop(page: Page, path: Path) -> dict[str, str]:
    page.locator("#file").set_input_files(str(path))
    page.locator("#outcome.pass, #outcome.fail").wait_for(timeout=30_000)  # (CSP: no string evaluated as script)
    assert page.locator("#results > li").count() == 1
    return _checks(page.locator("#results > li").first)


def _checks(row: Locator) -> dict[str, str]:
    return {
        li.get_attribute("data-check") or "": li.get_attribute("class") or "" for li in row.locator(".checks li").all()
    }


def test_a_valid_certificate_is_shown_valid_and_its_pdf_passes(world: World, browser: Browser, tmp_path: Path) -> None:
    page, traffic = _open(browser, f"{world.base}/v1/certificates/{world.valid.record_id}")
    assert page.locator("body").get_attribute("class") == "state-valid"
    assert page.locator("#verdict h2").inner_text() == "Valid"
    record = world.valid.embedded["record"]
    assert page.locator("#lot").inner_text() == record["subject"]["lot"]
    text = page.locator("main").inner_text()
    assert record["lab"]["name"] in text and "CNAS L1001" in text and record["report_id"] in text
    assert page.locator("#conformity").inner_text() in ("Pass", "Fail", "Inconclusive", "Not stated")
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(world.valid.pdf)
    checks = _drop(page, pdf)
    assert page.locator("#outcome").get_attribute("class") == "pass", page.locator("#outcome").inner_text()
    assert checks["CredentialProof"] == "VALID" and checks["RecordStatus"] == "VALID"
    _home(page, traffic)
    page.screenshot(path=tmp_path / "valid.png", full_page=True)
    page.context.close()


def test_a_tampered_certificate_fails_in_the_page(world: World, browser: Browser, tmp_path: Path) -> None:
    embedded = json.loads(json.dumps(world.valid.embedded))
    embedded["credential"]["credentialSubject"]["assessment"]["results"]["screening_class"] = "BL"
    embedded["credential"]["credentialSubject"]["item"]["lot"] = "LOT-FORGED"
    forged = certificate_pdf.replace_attachment(world.valid.pdf, certificates.ATTACHMENT, json.dumps(embedded).encode())
    path = tmp_path / "tampered.pdf"
    path.write_bytes(forged)
    page, traffic = _open(browser, f"{world.base}/v1/certificates/{world.valid.record_id}")
    checks = _drop(page, path)
    assert page.locator("#outcome").get_attribute("class") == "fail"
    assert checks["CredentialProof"] == "INVALID" and checks["CertificateAnchor"] == "INVALID"
    assert "CREDENTIAL_PROOF_INVALID" in page.locator("#results").inner_text()
    _home(page, traffic)
    page.context.close()


def _forged(world: World) -> bytes:
    embedded = json.loads(json.dumps(world.valid.embedded))
    embedded["credential"]["credentialSubject"]["item"]["lot"] = "LOT-FORGED"
    return certificate_pdf.replace_attachment(world.valid.pdf, certificates.ATTACHMENT, json.dumps(embedded).encode())


def _verify_requests(page: Page) -> list[str]:
    sent: list[str] = []
    page.on(
        "request", lambda r: sent.append(r.headers.get("content-type", "")) if "/certificates/verify" in r.url else None
    )
    return sent


def _rows(page: Page) -> list[tuple[str, str, str]]:
    page.locator("#outcome.pass, #outcome.fail").wait_for(timeout=60_000)
    return [
        (li.get_attribute("data-file") or "", li.get_attribute("class") or "", li.locator(".verdict-line").inner_text())
        for li in page.locator("#results > li").all()
    ]


def test_three_files_dropped_at_once_are_one_request_and_three_rows(world: World, browser: Browser) -> None:
    """A genuine PDF, a genuine proof bundle and a forged PDF dropped together (a real drop event carrying three
    files) go to the service as one multipart request; the page shows one row per file, in the order dropped,
    with its verdict in the page's language and the forged file's failing check on its row."""
    page, traffic = _open(browser, f"{world.base}/v1/certificates/{world.valid.record_id}?lang=vi")
    sent = _verify_requests(page)
    bundle = json.dumps(world.runtime.service.proof_bundle(world.valid.record_id)).encode()
    files = [("genuine.pdf", world.valid.pdf, "application/pdf"), ("genuine-bundle.json", bundle, "application/json"),
             ("forged.pdf", _forged(world), "application/pdf")]  # fmt: skip
    transfer = page.evaluate_handle(
        """files => { const transfer = new DataTransfer();
          for (const [name, data, type] of files) {
            transfer.items.add(new File([Uint8Array.from(atob(data), c => c.charCodeAt(0))], name, {type}));
          }
          return transfer; }""",
        [[name, base64.b64encode(data).decode(), kind] for name, data, kind in files],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    rows = _rows(page)

    def vi(message: str) -> str:
        return i18n.gettext("vi", message, "verify")

    assert rows == [
        ("genuine.pdf", "file pass", vi("Every check passed.")),
        ("genuine-bundle.json", "file pass", vi("Every check passed.")),
        ("forged.pdf", "file fail", vi("A check failed: do not rely on this file.")),
    ]
    assert len(sent) == 1 and sent[0].startswith("multipart/form-data"), sent
    forged = page.locator("#results > li").nth(2)
    assert _checks(forged)["CredentialProof"] == "INVALID" and "CREDENTIAL_PROOF_INVALID" in forged.inner_text()
    assert _checks(page.locator("#results > li").first)["PageContent"] == "VALID"
    assert "INVALID" not in _checks(page.locator("#results > li").nth(1)).values()
    outcome = page.locator("#outcome")
    assert outcome.get_attribute("class") == "fail"
    assert outcome.inner_text() == vi("Some files did not pass: do not rely on them.")
    assert vi("Some files did not pass: do not rely on them.") != "Some files did not pass: do not rely on them."
    _home(page, traffic)
    page.context.close()


def test_a_file_the_service_refuses_shows_its_problem_on_its_row(
    world: World, browser: Browser, tmp_path: Path
) -> None:
    """Chosen with the file input: a file that is neither a certificate nor a bundle is refused by the service
    naming it; its row says why and the files around it are still checked; all passing says so for every file."""
    names = ["a.pdf", "notes.txt", "b.pdf"]
    (tmp_path / "a.pdf").write_bytes(world.valid.pdf)
    (tmp_path / "notes.txt").write_bytes(b"not a certificate")
    (tmp_path / "b.pdf").write_bytes(world.valid.pdf)
    page, traffic = _open(browser, f"{world.base}/v1/certificates/{world.valid.record_id}")
    page.locator("#file").set_input_files([str(tmp_path / n) for n in names])
    rows = _rows(page)
    assert [(name, kind) for name, kind, _ in rows] == [("a.pdf", "file pass"), ("notes.txt", "file error"),
                                                        ("b.pdf", "file pass")]  # fmt: skip
    assert (
        rows[1][2].startswith("Could not check: ") and "not JSON or PDF" in rows[1][2] and "notes.txt" not in rows[1][2]
    )
    assert page.locator("#outcome").get_attribute("class") == "fail"
    page.locator("#file").set_input_files([str(tmp_path / "a.pdf"), str(tmp_path / "b.pdf")])
    page.locator("#outcome.pass").wait_for(timeout=60_000)  # (it said fail for the earlier files)
    assert page.locator("#results > li").count() == 2
    assert page.locator("#outcome").inner_text() == "Every file passed every check."
    assert page.locator("#outcome").get_attribute("class") == "pass"
    assert [u.rsplit(" ", 1)[1] for u in traffic.failed] == ["422"]  # the refusal, and nothing else failed
    assert len(traffic.console_errors) == 1 and "422" in traffic.console_errors[0], traffic.console_errors
    traffic.failed.clear()
    traffic.console_errors.clear()
    _home(page, traffic)
    page.context.close()


def test_a_revoked_certificate_is_shown_revoked(world: World, browser: Browser) -> None:
    page, traffic = _open(browser, f"{world.base}/v1/certificates/{world.revoked.record_id}?lang=vi")
    assert page.locator("body").get_attribute("class") == "state-revoked"
    assert page.locator("#verdict h2").inner_text() == i18n.gettext("vi", "Revoked", "verify")
    _home(page, traffic)
    page.context.close()


def test_a_recalled_certificate_is_shown_suspended_with_the_notice(world: World, browser: Browser) -> None:
    page, traffic = _open(browser, f"{world.base}/v1/certificates/{world.recalled.record_id}")
    assert page.locator("body").get_attribute("class") == "state-suspended"
    assert page.locator("#verdict h2").inner_text() == "Suspended by a recall"
    assert "cadmium above the limit in this lot" in page.locator(".recall").inner_text()
    assert REG in page.locator(".recall").inner_text()
    _home(page, traffic)
    page.context.close()


def _cmap(name: str) -> set[int]:
    font = TTFont(str(i18n.FONT_DIR / name), lazy=True)
    return set(font.getBestCmap())


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_page_in_every_language_draws_every_character(world: World, browser: Browser, lang: str) -> None:
    """Asked by Accept-Language (the phone's setting): the page's language, its texts translated (none left in
    English where a translation exists), and every character of the rendered text in the shipped font that its
    unicode-range gives it, which the browser loaded from this service."""
    context = browser.new_context(
        viewport=PHONE, locale=lang, extra_http_headers={"Accept-Language": f"{lang},en;q=0.5"}
    )
    page = context.new_page()
    loaded: list[str] = []
    page.on("requestfinished", lambda r: loaded.append(r.url.rsplit("/", 1)[1]) if "/assets/fonts/" in r.url else None)
    response = page.goto(f"{world.base}/v1/certificates/{world.valid.record_id}")
    assert response is not None and response.ok
    page.evaluate("document.fonts.ready")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == lang and response.headers["content-language"] == lang
    assert page.title() == i18n.gettext(lang, "Certificate verification", "verify")
    if lang != "en":  # every text of the page has its translation in the catalog (some words are the same)
        po = i18n.LOCALE_DIR / lang.replace("-", "_") / "LC_MESSAGES" / "verify.po"
        with po.open("rb") as f:
            catalog = read_po(f)
        untranslated = [m for m in verify_page.strings() if not (catalog.get(m) and catalog.get(m).string)]
        assert untranslated == [], untranslated
    text = page.locator("body").inner_text()
    covered: set[int] = set()
    for stem, _ in verify_page.SCRIPTS:
        covered |= _cmap(f"{stem}-Regular.{'otf' if 'CJK' in stem else 'ttf'}")
    missing = sorted({c for c in text if not c.isspace() and ord(c) not in covered})
    assert missing == [], f"{lang}: no shipped glyph for {[f'U+{ord(c):04X}' for c in missing]}"
    script_font = {"zh-Hans": "QLNotoSansCJKSC", "th": "QLNotoSansThai", "km": "QLNotoSansKhmer",
                   "lo": "QLNotoSansLao", "my": "QLNotoSansMyanmar", "ta": "QLNotoSansTamil"}  # fmt: skip
    assert any(name.startswith(script_font.get(lang, "QLNotoSans-")) for name in loaded), loaded
    faces = page.evaluate("[...document.fonts].filter(f => f.status === 'loaded').map(f => f.family)")
    assert "QL Page" in {f.strip('"') for f in faces}
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()
