"""/docs (Swagger UI) and /redoc (ReDoc) in a real browser (Debian's chromium, driven by Playwright): they render
the API from the packaged assets, and no request leaves loopback (every other host is blocked and recorded)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, Route

from ledger_service.api.main import create_app
from ledger_service.config import Settings
from ledger_service.localnode import free_port
from ledger_service.runtime import open_runtime

LOOPBACK = "127.0.0.1"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """The app as the API tests build it, served by uvicorn on a free loopback port; its base URL and OpenAPI."""
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("docs")))
    app = create_app(runtime.service, worker=False)
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)  # not the main thread: no signal handlers
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://{LOOPBACK}:{server.config.port}", app.openapi()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.engine.dispose()


@dataclass
class Traffic:
    outside: list[str] = field(default_factory=list)  # requests to any host but loopback (blocked)
    failed: list[str] = field(default_factory=list)  # loopback requests that failed or answered >= 400
    console_errors: list[str] = field(default_factory=list)  # script errors, refused loads (CSP), ...


def open_page(browser: Browser, url: str) -> tuple[Page, Traffic, Response]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    traffic = Traffic()

    def route(r: Route) -> None:
        if urlsplit(r.request.url).hostname == LOOPBACK:
            r.continue_()
        else:
            traffic.outside.append(r.request.url)
            r.abort()

    def finished(request: Request) -> None:
        response = request.response()
        if response is not None and response.status >= 400:
            traffic.failed.append(f"{request.url} {response.status}")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            traffic.console_errors.append(message.text)

    context.route("**/*", route)  # the context's route: workers and pop-ups included
    page.on("requestfinished", finished)
    page.on("requestfailed", lambda request: traffic.failed.append(f"{request.url} {request.failure}"))
    page.on("console", console)
    response = page.goto(url)
    assert response is not None and response.ok, url
    return page, traffic, response


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    verbs = {"get", "post", "put", "patch", "delete"}
    return [(m, p, op) for p, item in openapi["paths"].items() for m, op in item.items() if m in verbs]


def assert_stayed_home(page: Page, traffic: Traffic, response: Response) -> None:
    page.wait_for_load_state("networkidle")
    assert traffic.outside == [], f"requests left loopback: {traffic.outside}"
    assert traffic.failed == [], traffic.failed
    assert traffic.console_errors == [], traffic.console_errors
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_swagger_ui_renders_offline(served: tuple[str, dict[str, Any]], browser: Browser, tmp_path: Path) -> None:
    base, openapi = served
    page, traffic, response = open_page(browser, f"{base}/docs")
    page.locator(".opblock-summary-path", has_text="/v1/records").first.wait_for(timeout=20_000)
    assert "qledger" in page.locator(".info .title").inner_text()
    # Every operation of the document is in Swagger UI's list, each with its path.
    assert page.locator(".opblock").count() == len(operations(openapi))
    shown = set(page.locator(".opblock-summary-path").evaluate_all("els => els.map(e => e.dataset.path)"))
    assert shown == set(openapi["paths"])
    assert_stayed_home(page, traffic, response)
    shot = tmp_path / "docs.png"
    page.screenshot(path=shot)
    assert shot.stat().st_size > 20_000  # a blank page is a few kB
    page.context.close()


def test_redoc_renders_offline(served: tuple[str, dict[str, Any]], browser: Browser, tmp_path: Path) -> None:
    base, openapi = served
    page, traffic, response = open_page(browser, f"{base}/redoc")
    page.locator("[role=menuitem]").first.wait_for(timeout=20_000)
    assert "qledger" in page.locator("h1").first.inner_text()
    # ReDoc's side menu names every operation by its summary, under its tag.
    menu = " ".join(page.locator("[role=menuitem]").all_inner_texts())
    for _, _, op in operations(openapi):
        assert op["summary"] in menu
    for tag in {t for _, _, op in operations(openapi) for t in op.get("tags", [])}:
        assert tag in menu
    submit = openapi["paths"]["/v1/records"]["post"]["operationId"]
    assert page.locator(f'[id="operation/{submit}"]').get_by_text("/v1/records").count() >= 1
    assert_stayed_home(page, traffic, response)
    shot = tmp_path / "redoc.png"
    page.screenshot(path=shot)
    assert shot.stat().st_size > 20_000
    page.context.close()
