"""The live dashboard in a real browser: Debian's chromium, driven by Playwright's Python
package through `executable_path` (no browser download), on the records of a real short run
(tests/fixtures/dashboard_run).

Skipped, with the reason, where chromium or playwright is missing; .ci/run installs chromium and
sets LONGHORIZON_REQUIRE_BROWSER=1, under which a missing browser fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from curricula.dashboard_server import DashboardServer

FIXTURE = Path(__file__).with_name("fixtures") / "dashboard_run"
REQUIRED = os.environ.get("LONGHORIZON_REQUIRE_BROWSER") == "1"
UPDATE_MS = 15_000  # the page polls every 2 s


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is missing (pip install playwright)"
    if reason is None and chromium() is None:
        reason = "no chromium on PATH (apt-get install -y chromium)"
    if reason is not None:
        if REQUIRED:
            pytest.fail(f"{reason}, and LONGHORIZON_REQUIRE_BROWSER=1 asks for the browser tests")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium())
        yield launched
        launched.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    yield tab
    context.close()


def copy_run(target: Path) -> Path:
    shutil.copytree(FIXTURE, target)
    return target


def records() -> list[dict]:
    return [json.loads(line) for line in (FIXTURE / "metrics.jsonl").read_text().splitlines()]


def points(page, selector: str) -> list[int]:
    return [
        int(n) for n in page.eval_on_selector_all(selector, "s => s.map(e => e.dataset.points)")
    ]


def wait_points(page, chart: str, expected: int) -> None:
    page.wait_for_function(
        "([chart, n]) => { const s = document.querySelector("
        "`[data-chart='${chart}'] path.series`); return s && Number(s.dataset.points) === n; }",
        arg=[chart, expected],
        timeout=UPDATE_MS,
    )


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def test_the_page_draws_a_real_run_and_follows_it(page, tmp_path):
    run = copy_run(tmp_path / "runs" / "curriculum")
    recorded = records()
    steps = len(recorded)
    events = [e for r in recorded for e in r["curriculum/events"]]
    axes = list(recorded[-1]["frontier/h1"])
    server = DashboardServer([run], port=0).start()
    try:
        page.goto(server.url)
        wait_points(page, "reward", steps)
        assert points(page, "[data-chart='reward'] path.series") == [steps]
        assert page.locator("[data-chart='reward'] circle.pt").count() == steps
        for axis in axes:
            assert points(page, f"[data-chart='level-h1-{axis}'] path.series") == [steps]
        moved = sum(e["from"][a] != e["to"][a] for e in events for a in axes)
        assert page.locator("[data-chart^='level-h1'] path.marker").count() == moved >= 1
        page.locator("[data-chart^='level-h1'] path.marker").first.hover()
        assert events[0]["reason"] in page.locator("#tooltip").inner_text()
        evaluated = sum("eval/e/pass@1" in r for r in recorded)
        assert points(page, "[data-chart='eval'] path.series") == [evaluated]
        assert page.locator("[data-chart='eval'] line.ref").count() == 1  # the base model
        assert points(page, "[data-chart='kl'] path.series") == [steps]
        levels = {k for r in recorded for k in r if k.startswith("reward/h1/") and "=" in k}
        rows = page.locator("[data-heatmap='success-h1-0'] .row-label").count()
        assert (
            rows == len(levels)
            and page.locator("[data-heatmap='success-h1-0'] rect.cell:not(.empty)").count() >= rows
        )
        assert page.locator(".sample").count() >= 1
        assert "gold answer:" in page.locator(".sample").first.inner_text()

        page.evaluate("window.notReloaded = true")
        last = {**recorded[-1], "step": steps, "reward/mean": 0.9, "curriculum/events": []}
        append(run / "metrics.jsonl", json.dumps(last) + "\n")
        wait_points(page, "reward", steps + 1)
        assert page.evaluate("window.notReloaded") is True
        append(run / "metrics.jsonl", "{ this is not json\n")
        page.locator(".notice.warn", has_text="not JSON records").wait_for(timeout=UPDATE_MS)
        append(run / "metrics.jsonl", json.dumps(last)[:30])
        page.locator(".notice.warn", has_text="incomplete line").wait_for(timeout=UPDATE_MS)
        assert points(page, "[data-chart='reward'] path.series") == [steps + 1]
        page.screenshot(path=tmp_path / "dashboard.png", full_page=True)
        assert (tmp_path / "dashboard.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        server.stop()
    assert page.errors == []


def test_a_run_that_does_not_exist_yet_shows_a_notice_then_the_run(page, tmp_path):
    run = tmp_path / "runs" / "later"
    server = DashboardServer([run], port=0).start()
    try:
        page.goto(server.url)
        page.locator(".notice", has_text="does not exist").wait_for(timeout=UPDATE_MS)
        assert "no data yet" in page.locator("[data-chart='reward']").inner_text()
        copy_run(run)
        wait_points(page, "reward", len(records()))
        assert page.locator(".notice", has_text="does not exist").count() == 0
    finally:
        server.stop()
    page.locator(".notice.warn", has_text="does not answer").wait_for(timeout=UPDATE_MS)
    page.screenshot(path=tmp_path / "server-gone.png")
    assert page.errors == [] or all("Failed to load resource" in e for e in page.errors)


def test_two_runs_side_by_side(page, tmp_path):
    first = copy_run(tmp_path / "curriculum" / "run")
    second = copy_run(tmp_path / "fixed" / "run")
    lines = (second / "metrics.jsonl").read_text().splitlines(keepends=True)
    (second / "metrics.jsonl").write_text("".join(lines[:3]))
    server = DashboardServer([first, second], port=0).start()
    try:
        page.goto(server.url)
        wait_points(page, "reward", len(lines))
        assert page.locator(".run-chip").all_inner_texts() == [
            f"curriculum/run (step {len(lines) - 1} · {len(lines)} records)",
            "fixed/run (step 2 · 3 records)",
        ]
        assert points(page, "[data-chart='reward'] path.series") == [len(lines), 3]
        assert page.locator(".side-by-side").first.locator(".run-column").count() == 2
        page.screenshot(path=tmp_path / "two-runs.png", full_page=True)
    finally:
        server.stop()
    assert page.errors == []
