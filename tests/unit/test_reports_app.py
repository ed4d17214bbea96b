"""The reports app (served by the Airflow plugin) on its own, with FastAPI's TestClient."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from notiflow import warehouse
from notiflow_airflow.reports import vendor
from notiflow_airflow.reports.app import LoginRequired, create_app
from notiflow_airflow.reports.rewrite import external_subresources
from tests.reports_seed import insert_results, result, write_tfdv_report

T0 = dt.datetime(2026, 10, 4, 6, 0)


@pytest.fixture
def client(settings):
    return TestClient(create_app(settings))


@pytest.fixture
def seeded(settings):
    hour = dt.timedelta(hours=1)
    insert_results(
        settings,
        [
            # day 1: features passed; an older failed run of the same day is superseded
            result("run_old", "2026-10-01", "features", "expect_a", success=False, at=T0),
            result("run_1", "2026-10-01", "features", "expect_a", at=T0 + hour),
            result("run_1", "2026-10-01", "raw", "expect_b", at=T0 + hour),
            # day 2, the latest run: one critical failure and one warning in features
            result(
                "run_2",
                "2026-10-02",
                "features",
                "expect_a",
                success=False,
                observed={"unexpected_count": 3},
                at=T0 + 2 * hour,
            ),
            result(
                "run_2",
                "2026-10-02",
                "features",
                "expect_c",
                success=False,
                severity="warning",
                column=None,
                observed=12,
                at=T0 + 2 * hour,
            ),
            result("run_2", "2026-10-02", "raw", "expect_<b>", at=T0 + 2 * hour),
        ],
    )
    return settings


def test_landing_shows_latest_run_and_each_layer_day(seeded, client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    latest = re.search(r'<div id="latest-run"[^>]*>', html).group(0)
    assert 'data-status="fail"' in latest and 'data-run-id="run_2"' in latest
    assert 'href="quality/2026-10-02/features"' in html
    assert "1 critical / 1 warning failed" in html
    assert "run_old" not in html  # superseded by run_1 on the same day and layer
    assert html.index("2026-10-02") < html.index("2026-10-01")  # newest day first
    assert "static/vendor/bootstrap@4.3.1/dist/css/bootstrap.min.css" in html


def test_drill_down_lists_each_expectation_escaped(seeded, client):
    page = client.get("/quality/2026-10-02/features")
    assert page.status_code == 200
    assert "run_2" in page.text and "expect_c" in page.text and "warning" in page.text
    assert "unexpected_count" in page.text
    raw = client.get("/quality/2026-10-02/raw").text
    assert "expect_&lt;b&gt;" in raw and "expect_<b>" not in raw
    assert client.get("/quality/2026-10-09/raw").status_code == 404
    assert client.get("/quality/not-a-date/raw").status_code == 422


def test_empty_state_without_warehouse_or_table(settings, client):
    assert 'id="empty-state"' in client.get("/").text  # no warehouse file
    with warehouse.connect(settings) as con:
        con.execute("create table t (x int)")
    page = client.get("/")
    assert page.status_code == 200 and 'id="empty-state"' in page.text
    assert 'id="latest-run"' not in page.text


def test_locked_warehouse_shows_busy(seeded, client, monkeypatch):
    from notiflow_airflow.reports import results

    def locked(*args, **kwargs):
        raise warehouse.WarehouseLockedError("locked")

    monkeypatch.setattr(results.warehouse, "connect", locked)
    page = client.get("/")
    assert page.status_code == 503 and "warehouse busy, reload" in page.text


DOCS_PAGE = """<html><head>
<link rel="stylesheet" href="{css}"/>
{scripts}
<link href="{fa}" rel="stylesheet">
</head><body>
<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1&dataContextId=x">
<a href="https://greatexpectations.io">GX</a></body></html>"""


@pytest.fixture
def data_docs(settings):
    site = settings.data_docs_dir
    (site / "validations" / "suite").mkdir(parents=True)
    (site / "static" / "styles").mkdir(parents=True)
    scripts = (
        "\n".join(
            f'<script src="{url}"></script>' for url in vendor.CDN_URLS if url.endswith(".js")
        )
        + '\n<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
    )
    css = "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"
    fa = "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css"
    page = DOCS_PAGE.format(css=css, scripts=scripts, fa=fa)
    (site / "index.html").write_text(page)
    (site / "validations" / "suite" / "run.html").write_text(page)
    (site / "static" / "styles" / "gx.css").write_text(
        ".x { background: url('https://great-expectations-web-assets.s3.us-east-2.amazonaws.com"
        "/full_logo_dark.png') }"
    )
    (settings.home / "secret.txt").write_text("secret")
    return site


def test_data_docs_cdn_urls_point_at_vendored_files(data_docs, client):
    index = client.get("/data-docs/index.html")
    assert index.status_code == 200
    assert "default-src 'self'" in index.headers["content-security-policy"]
    assert external_subresources(index.text) == []
    assert '<a href="https://greatexpectations.io">' in index.text  # links stay
    assert 'href="../static/vendor/bootstrap@4.3.1/dist/css/bootstrap.min.css"' in index.text
    assert 'src="../static/vendor/vega@5.33.1/build/vega.min.js"' in index.text
    assert 'src="static/images/logo-long.png"' in index.text
    nested = client.get("/data-docs/validations/suite/run.html").text
    assert external_subresources(nested) == []
    assert 'href="../../../static/vendor/bootstrap@4.3.1/' in nested
    assert 'src="../../static/images/logo-long.png"' in nested
    css = client.get("/data-docs/static/styles/gx.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "url('../../static/images/logo-long.png')" in css.text
    # every rewritten URL is a vendored file the app serves
    for src in re.findall(r'(?:src|href)="((?:\.\./)+static/vendor/[^"]+)"', nested):
        served = client.get("/data-docs/validations/suite/" + src)
        assert served.status_code == 200, src


@pytest.mark.parametrize(
    "path",
    [
        "/data-docs/..%2F..%2F..%2F..%2F..%2Fsecret.txt",
        "/data-docs/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/dbt-docs/..%2F..%2Fsecret.txt",
        "/tfdv/..%2F..%2Fsecret.txt",
        "/data-docs/%2Fetc%2Fpasswd",
        "/static/..%2F..%2Fsettings.py",
    ],
)
def test_path_traversal_is_refused(data_docs, client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "secret" not in response.text.replace("secret.txt", "")
    assert "root:" not in response.text


def test_missing_reports_say_so(client):
    page = client.get("/dbt-docs/index.html")
    assert page.status_code == 404 and "dbt docs" in page.text
    assert client.get("/data-docs/").status_code == 404


def test_dbt_docs_and_tfdv_reports_are_served(settings, client):
    dbt_docs = settings.reports_dir / "dbt-docs"
    dbt_docs.mkdir(parents=True)
    (dbt_docs / "index.html").write_text("<html><body>dbt docs</body></html>")
    assert client.get("/dbt-docs/").text == "<html><body>dbt docs</body></html>"
    write_tfdv_report(
        settings, "engagement", "old", status="pass", created_at="2026-10-01T00:00:00"
    )
    write_tfdv_report(
        settings, "engagement", "new", status="fail", created_at="2026-10-02T00:00:00"
    )
    listing = client.get("/tfdv/").text
    assert listing.index("new") < listing.index("old")
    assert 'href="engagement/new/index.html"' in listing
    assert "Statistics of new" in client.get("/tfdv/engagement/new/index.html").text
    assert 'href="tfdv/engagement/new/index.html"' in client.get("/").text


def test_auth_dependency_guards_pages_but_not_vendored_assets(settings):
    async def deny(request: Request) -> None:
        raise LoginRequired("/auth/login?next=x")

    client = TestClient(create_app(settings, auth=deny), follow_redirects=False)
    for path in ("/", "/data-docs/index.html", "/tfdv/", "/quality/2026-10-01/raw"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/auth/login?next=x"
    assert client.get("/static/vendor/jquery@3.7.1/dist/jquery.min.js").status_code == 200


def test_vendored_files_match_the_manifest():
    assert vendor.check() == []
    manifest = vendor.load_manifest()
    assert manifest["registry"] == "https://registry.npmjs.org"
    for package in manifest["packages"]:
        assert package["integrity"].startswith("sha512-")
        assert package["tarball"].startswith("https://registry.npmjs.org/")
    vendored = {
        vendor.vendor_path(p["name"], p["version"], f)
        for p in manifest["packages"]
        for f in p["files"]
    }
    assert set(vendor.CDN_URLS.values()) <= vendored


def test_run_page_lists_the_runs_expectations(seeded, client):
    page = client.get("/runs/run_2")
    assert page.status_code == 200
    assert page.text.count("<tr class=") == 3
    assert 'href="../quality/2026-10-02/features"' in page.text
    assert (
        'id="empty-state"' in client.get("/runs/scheduled__2026-10-02T00%3A00%3A00%2B00%3A00").text
    )


def test_plugin_is_registered_and_valid_for_airflow():
    from importlib.metadata import entry_points

    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    from notiflow_airflow.reports.plugin import NotiflowReportsPlugin

    (entry,) = [e for e in entry_points(group="airflow.plugins") if e.name == "notiflow_reports"]
    assert entry.load() is NotiflowReportsPlugin
    (app,) = NotiflowReportsPlugin.fastapi_apps
    assert app["url_prefix"] == "/reports"
    assert not any(app["url_prefix"].startswith(p) for p in RESERVED_URL_PREFIXES)
    views = [ExternalViewResponse(**view) for view in NotiflowReportsPlugin.external_views]
    assert {v.destination for v in views} == {"nav", "dag_run"}
    assert all(v.href.startswith("/reports/") for v in views)


def test_loading_the_plugin_imports_no_page_code():
    """Every Airflow process loads the plugins, each task's too: the reports (pandas,
    FastAPI, the pages) load on the API server's first request, not at plugin load."""
    import subprocess
    import sys

    probe = (
        "import sys, notiflow_airflow.reports.plugin; "
        "print(sorted({'pandas', 'fastapi', 'notiflow_airflow.reports.app'} & set(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
