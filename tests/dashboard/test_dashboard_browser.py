"""The dashboard in real headless Chromium (Debian's `chromium`, driven by Playwright): the table shows the
requests just made, a new request appears without a reload, the charts render; a screenshot is saved to
artifacts/dashboard.png. Without Chromium the tests skip, except under CI=true, where they fail."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from req_llm_gateway import Settings, create_app
from tests.conftest import serve_gateway
from tests.fakes.server import LoopbackServer

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def chat(base: str, model: str, text: str, stream: bool = False) -> httpx.Response:
    return httpx.post(base + "/v1/chat/completions", timeout=10,
                      json={"model": model, "messages": [{"role": "user", "content": text}], "stream": stream})


def cells(page: Any, model: str) -> list[str]:
    return page.locator(f"#usage tbody tr[data-model='{model}'] td").all_inner_texts()  # type: ignore[no-any-return]


def open_page(browser: Any, url: str) -> tuple[Any, Any, list[str], list[str]]:
    context = browser.new_context(viewport={"width": 1400, "height": 1500})
    page = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return context, page, requested, errors


def test_dashboard_shows_requests_live_and_draws_charts(browser: Any) -> None:
    with serve_gateway() as gw:
        chat(gw.url, "demo:echo", "hello world")  # prompt 9, completion 2, $0.0000075
        chat(gw.url, "demo:echo", "hello world", stream=True)
        chat(gw.url, "demo:slow-5", "pace these words")
        chat(gw.url, "demo:error", "x")
        context, page, requested, errors = open_page(browser, gw.url + "/dashboard/req_llm")
        page.wait_for_selector("#usage tbody tr[data-model='echo']")
        assert cells(page, "echo")[1:8] == ["demo", "echo", "2", "18", "4", "22", "$0.000015"]
        assert cells(page, "error")[3] == "1" and cells(page, "error")[9] == "1"
        assert page.locator("#usage tfoot td").all_inner_texts()[1:3] == ["4", "28"]  # calls; prompt 9+9+10
        assert "Requests" in page.inner_text("#cards") and "$0.000" in page.inner_text("#cards")

        page.evaluate("window.__notReloaded = true")
        chat(gw.url, "demo:fresh-model", "a new request")
        page.wait_for_selector("#usage tbody tr[data-model='fresh-model']", timeout=8000)
        assert page.evaluate("window.__notReloaded") is True
        assert cells(page, "fresh-model")[3] == "1"
        page.wait_for_function("document.querySelectorAll('#chart-live circle').length >= 1", timeout=8000)

        for chart in ("#chart-requests", "#chart-tokens", "#chart-cost", "#bars-requests", "#bars-tokens",
                      "#bars-cost", "#bars-latency", "#bars-errors"):
            assert page.locator(f"{chart} svg rect.bar").count() >= 1, chart
        assert page.locator("#chart-latency svg circle").count() >= 1
        assert page.locator("#bars-requests svg text").all_text_contents()[:2] == ["demo:echo", "2"]
        assert "live" in page.inner_text("#status")

        ARTIFACTS.mkdir(exist_ok=True)
        time.sleep(0.3)  # the fresh-row highlight fades
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        context.close()
    assert errors == []
    assert all(u.startswith(gw.url) for u in requested), requested  # no CDN, nothing off the gateway


def test_dashboard_works_under_a_mount_prefix(browser: Any, tmp_path: Path) -> None:
    settings = Settings.from_env({"REQ_LLM_GATEWAY_USAGE_STORE": f"sqlite:///{tmp_path / 'u.db'}"})
    host = Starlette(routes=[Mount("/tools/llm", create_app(settings))])
    with LoopbackServer(host) as srv:
        chat(srv.url + "/tools/llm", "demo:echo", "under a prefix")
        for path in ("/tools/llm/dashboard/req_llm", "/tools/llm/dashboard/req_llm/"):
            context, page, requested, errors = open_page(browser, srv.url + path)
            page.wait_for_selector("#usage tbody tr[data-model='echo']")
            assert cells(page, "echo")[3] == "1"
            assert srv.url + "/tools/llm/v1/usage?limit=10000" in requested
            context.close()
            assert errors == []


def test_dashboard_shows_each_budget_as_a_bar_with_its_reset_time(browser: Any, tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text('[prices.demo]\ninput_mtok = "1000"\noutput_mtok = "1000"\n'
                      '[keys.alice]\nkey = "sk-alice"\nteam = "research"\nbudget = { usd = "1.00", window = "day" }\n'
                      '[teams.research]\nbudget = { usd = "4.00", window = "month" }\n')
    with serve_gateway({"REQ_LLM_GATEWAY_CONFIG": str(config)}) as gw:
        r = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer sk-alice"},
                       json={"model": "demo:demo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20})
        cost = r.json()["x_req_llm"]["cost_usd"]
        context, page, requested, errors = open_page(browser, gw.url + "/dashboard/req_llm#key=sk-alice")
        page.wait_for_selector("#budgets .budget[data-scope='team']")
        day = page.locator("#budgets .budget[data-window='day']")
        assert "key alice · day" in day.inner_text() and f"${cost} of $1.00" in day.inner_text()
        assert day.locator(".budget-reset").get_attribute("data-resets-at").endswith("T00:00:00+00:00")
        assert "resets" in day.locator(".budget-reset").inner_text()
        width = day.locator(".budget-bar").evaluate("e => e.getBoundingClientRect().width / e.parentElement.getBoundingClientRect().width")
        assert abs(width - cost / 1.0) < 0.01  # the bar is spent / limit of the track
        month = page.locator("#budgets .budget[data-window='month']")
        assert "team research · month" in month.inner_text() and "of $4.00" in month.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-budgets.png"), full_page=True)
        context.close()
    assert errors == []
