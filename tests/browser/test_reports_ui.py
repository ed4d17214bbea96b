"""Headless Chromium logs in to Airflow and reads the data-quality reports inside its UI.

Seeds a home with real content (two simulated days, the dbt marts, the GX gate of each
day: the second is corrupted and fails; model registries and evaluation summaries as the
TFX hooks write them), starts only Airflow's API server (which
serves the UI and, through the notiflow plugin, the reports), then drives the Debian
`chromium` with Playwright. Every request the browser makes is recorded: one to a
host other than loopback fails the test. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from notiflow import simulator, warehouse
from notiflow.dbt import run_dbt
from notiflow.settings import Settings
from notiflow_airflow import local as airflow_local
from tests.conftest import START
from tests.paths import REPO_ROOT
from tests.reports_seed import REFUSED_RUN, seed_models

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
PORT = "18082"  # the demo has 8080, tests/e2e 18081
SUITE = "ml_engagement_examples"
CLEAN_DAY, FAULT_DAY = START, START + dt.timedelta(days=1)
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    home = tmp_path_factory.mktemp("browser_home")
    settings = Settings.load(
        {
            "NOTIFLOW_HOME": str(home),
            "NOTIFLOW_AIRFLOW_PORT": PORT,
            "NOTIFLOW_SIM_USERS": "300",
            "NOTIFLOW_SIM_PINS": "60",
        }
    )
    latest_run_id = _seed(settings)
    airflow_local.start(settings, only=["api-server"])
    try:
        yield settings, latest_run_id
    finally:
        airflow_local.stop(settings)
        assert airflow_local.running_pids(settings) == {}


def _seed(settings: Settings) -> str:
    """Two days through dbt and the GX gate; returns the run id of the latest gate run."""
    from expectations.gates import DataQualityError, run_gate

    simulator.simulate(settings, CLEAN_DAY, 2, fault="out_of_range", fault_day=FAULT_DAY)
    # the marts only: dbt's own tests are other tests' business
    run_dbt(
        settings, ["build", "--quiet", "--exclude", "resource_type:test", "resource_type:unit_test"]
    )
    run_ids = {ds: f"browser_test__{ds}" for ds in (CLEAN_DAY, FAULT_DAY)}
    run_gate(settings, SUITE, CLEAN_DAY.isoformat(), run_id=run_ids[CLEAN_DAY])
    with pytest.raises(DataQualityError):
        run_gate(settings, SUITE, FAULT_DAY.isoformat(), run_id=run_ids[FAULT_DAY])
    with warehouse.connect(settings, read_only=True) as con:
        recorded = {
            row[0]
            for row in con.execute(
                "select distinct run_id from quality.data_quality_results"
            ).fetchall()
        }
    assert recorded == set(run_ids.values())
    assert (settings.data_docs_dir / "index.html").is_file()
    # dbt docs as one static page, where the reports app serves them
    run_dbt(settings, ["docs", "generate", "--static", "--quiet"])
    dbt_docs = settings.reports_dir / "dbt-docs"
    dbt_docs.mkdir(parents=True)
    shutil.copy(settings.dbt_target_dir / "static_index.html", dbt_docs / "index.html")
    seed_models(settings)
    return run_ids[FAULT_DAY]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, airflow):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()
        external = [url for url in requests if _is_external(url)]
        assert external == [], f"the browser requested other hosts: {external}"


def _is_external(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in ("data", "blob", "about") and parts.hostname not in LOOPBACK


def _log_in(page, settings: Settings) -> None:
    # the UI sends a visitor without a token to the login form (a client-side redirect)
    page.goto(airflow_local.base_url(settings) + "/", wait_until="commit")
    page.locator("input[name=username]").wait_for()
    assert "/auth/login" in page.url
    page.fill("input[name=username]", airflow_local.ADMIN_USER)
    page.fill("input[name=password]", airflow_local.admin_password(settings))
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_reports_page_in_airflow_shows_the_latest_run_and_styled_data_docs(page, airflow):
    settings, latest_run_id = airflow
    _log_in(page, settings)

    # the plugin's nav item opens the reports inside the Airflow UI (an iframe)
    page.get_by_role("link", name="Reports").click()
    page.wait_for_url("**/plugin/reports**")
    reports = page.frame_locator("iframe[title='Reports']")
    latest = reports.locator("#latest-run")
    latest.wait_for()
    assert latest.get_attribute("data-run-id") == latest_run_id
    assert latest.get_attribute("data-status") == "fail"
    assert "FAIL" in latest.inner_text()
    matrix = reports.locator("table.quality-matrix")
    assert str(FAULT_DAY) in matrix.inner_text() and str(CLEAN_DAY) in matrix.inner_text()
    # our own page is styled by the vendored Bootstrap: .badge-danger has its red background
    badge = reports.locator("#latest-run .badge-danger")
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(220, 53, 69)"
    page.screenshot(path=str(ARTIFACTS / "01-reports-in-airflow.png"))

    # drill down into the failed layer-day
    reports.locator(f"a[href='quality/{FAULT_DAY}/features']").click()
    failed = reports.locator("table.expectations tr.table-danger")
    failed.first.wait_for()
    assert "expect_column_values_to_be_between" in failed.first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "02-layer-day.png"))

    # the GX Data Docs, from the reports page, styled by the vendored assets
    reports.locator("a.navbar-brand").click()
    reports.locator("#data-docs-link").click()
    frame = page.locator("iframe[title='Reports']").element_handle().content_frame()
    frame.wait_for_url("**/reports/data-docs/index.html")
    frame.wait_for_load_state("load")
    _assert_bootstrap_applied(frame)
    page.screenshot(path=str(ARTIFACTS / "03-data-docs-in-airflow.png"))

    # the newest validation result (the failed day): bootstrap-table renders the rows and
    # makes them links, so the vendored jQuery and bootstrap-table ran
    frame.locator("table tbody tr td").first.click()
    frame.wait_for_url("**/reports/data-docs/validations/**")
    frame.wait_for_load_state("load")
    _assert_bootstrap_applied(frame)
    page.screenshot(path=str(ARTIFACTS / "04-validation-result.png"))


def test_dbt_docs_render_inside_airflow(page, airflow):
    settings, _ = airflow
    _log_in(page, settings)
    page.get_by_role("link", name="Reports").click()
    reports = page.frame_locator("iframe[title='Reports']")
    reports.locator("a[href='dbt-docs/index.html']").first.click()
    frame = page.locator("iframe[title='Reports']").element_handle().content_frame()
    frame.wait_for_url("**/reports/dbt-docs/index.html**")
    # the docs app (inline scripts, allowed by the reports' CSP) renders a model's page
    frame.goto(frame.url.split("#")[0] + "#!/model/model.notiflow.ml_engagement_examples")
    frame.locator("h1", has_text="ml_engagement_examples").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "05-dbt-docs-in-airflow.png"))


def test_model_report_draws_the_calibration_plot(page, airflow):
    settings, _ = airflow
    _log_in(page, settings)
    page.get_by_role("link", name="Reports").click()
    reports = page.frame_locator("iframe[title='Reports']")
    reports.locator("a.nav-link", has_text="Models").click()
    live = reports.locator("#model-engagement .live")
    live.wait_for()
    assert live.get_attribute("data-version") == "1002"
    assert "NOT BLESSED" in reports.locator(f"#evaluation-{REFUSED_RUN}").inner_text()
    page.screenshot(path=str(ARTIFACTS / "06-models.png"))

    reports.locator(f"#evaluation-{REFUSED_RUN} a").first.click()
    chart = reports.locator("svg#chart-calibration")
    chart.wait_for()
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 150, box
    drawn = chart.evaluate(
        """svg => ({
            points: [...svg.querySelectorAll("circle.mark")].filter(c => {
                const b = c.getBoundingClientRect();
                return b.width > 0 && b.height > 0;
            }).length,
            lines: [...svg.querySelectorAll("path.line")].filter(
                p => p.getTotalLength() > 100).length,
        })"""
    )
    assert drawn == {"points": 40, "lines": 4}, drawn  # overall and 3 channels, 10 bins each
    refused = reports.locator("#metrics td.failed")
    assert "fails" in refused.inner_text()
    assert refused.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(245, 198, 203)"
    chart.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "07-model-evaluation.png"))


def _assert_bootstrap_applied(frame) -> None:
    """The page's Bootstrap navbar and Font Awesome icons are styled by the vendored copies."""
    style = frame.evaluate(
        """() => {
            const nav = getComputedStyle(document.querySelector("nav.navbar"));
            const icon = document.querySelector("i.fas, i.fa, i.far");
            return {
                sheets: [...document.styleSheets].map(s => s.href || "inline"),
                navDisplay: nav.display,
                navPosition: nav.position,
                iconFont: icon ? getComputedStyle(icon).fontFamily : null,
            };
        }"""
    )
    assert any("/static/vendor/bootstrap@4.3.1/" in s for s in style["sheets"]), style
    assert style["navDisplay"] == "flex" and style["navPosition"] == "sticky", style
    assert style["iconFont"] is None or "Font Awesome" in style["iconFont"], style


def test_reports_require_the_airflow_login(browser, airflow):
    settings, _ = airflow
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(airflow_local.base_url(settings) + "/reports/data-docs/index.html")
        assert "/auth/login" in page.url, (page.url, response.status)
    finally:
        context.close()
