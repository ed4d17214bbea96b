"""The plan report (/plans) on hand-written planning folders: each kind of day, the charts,
the day page, and files that are missing, malformed or odd."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from notiflow_airflow.reports import plans
from notiflow_airflow.reports.app import LoginRequired, create_app
from tests.reports_seed import insert_results, result

LOGGING_DAY, PUBLISHED_DAY, FALLBACK_DAY, PENDING_DAY = (dt.date(2026, 10, d) for d in (1, 2, 3, 4))


def _write(settings, ds: dt.date, name: str, content: dict | str) -> None:
    folder = settings.planning_dir / ds.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else json.dumps(content)
    (folder / name).write_text(text)


def _summary(ds: dt.date, **fields) -> dict:
    estimates = [
        {"estimator": e, "reward": r, "value": v, "lower": v - 0.02, "upper": v + 0.02}
        for e, r, v in (("ips", "opens", 0.11), ("snips", "opens", 0.12), ("dr", "opens", 0.13))
    ] + [{"estimator": "snips", "reward": "clicks", "value": 0.03, "lower": None, "upper": None}]
    return {
        "ds": ds.isoformat(),
        "policy": "notiflow_volume_policy",
        "sends": 1000,
        "sends_by_channel": {"email": 300, "push": 100, "in_app": 600},
        "users_capped": {"push": 17, "email": 45, "in_app": 3},
        "budget": 1000,
        "budget_status": "met",
        "multiplier": 0.0647,
        "exploration_share": 0.05,
        "exploration_users": 71,
        "exploration_sends": 145,
        "eligible_users": 1500,
        "expected_opens": 180.5,
        "sends_by_local_hour": {"9": 120, "16": 600, "20": 280},
        "off_policy": {
            "logged_day": (ds - dt.timedelta(days=2)).isoformat(),
            "logged_sends": 1509,
            "logged_opens_per_user": 0.115,
            "logged_clicks_per_user": 0.036,
            "eligible_users": 1500,
            "estimates": estimates,
        },
        "run_id": f"manual__{ds}T00:00:00+00:00",
        "planted_fault": None,
        **fields,
    }


def _arm(users: int, sends: float, opens: float, active: float) -> dict:
    return {
        "users": users,
        "sends_per_user": sends,
        "opens_per_user": opens,
        "clicks_per_user": opens / 3,
        "unsubscribes_per_user": 0.001,
        "organic_events_per_user": 2.0 * active,
        "active_per_user": active,
    }


def _evaluation(ds: dt.date, *, planned: bool, opens: float, fallback: str | None = None) -> dict:
    arms = {
        "holdout": _arm(100, 0.0, 0.0, 0.40),
        "eligible": _arm(1500, 0.7, opens, 0.45),
        "policy": _arm(1429 if planned else 1500, 0.7, opens, 0.45),
    }
    if planned:
        arms["exploration"] = _arm(71, 1.0, opens / 2, 0.44)
    compared = [
        {
            "estimator": "snips",
            "reward": "opens",
            "estimate": 0.12,
            "lower": 0.10,
            "upper": 0.14,
            "realized": opens,
            "covered": 0.10 <= opens <= 0.14,
            "relative_error": (0.12 - opens) / opens,
        }
    ]
    return {
        "ds": ds.isoformat(),
        "policy": "notiflow_volume_policy" if planned else "logging_heuristic",
        "planned": planned,
        "fallback": fallback,
        "arms": arms,
        "lift_over_holdout": {"organic_events": 0.1, "active": 0.05},
        "estimate_before": compared if planned else [],
        "evaluated_at": "2026-10-09T06:00:00+00:00",
    }


FALLBACK_REASON = (
    "the plan staged by run 'manual__x' was not published (its plan gate did not pass): "
    "the day was sent by 'logging_heuristic'"
)


@pytest.fixture
def home(settings):
    """A logging-policy day, a published day, a day whose plan failed its gate, and
    tomorrow's plan, staged and waiting for its gate."""
    _write(
        settings,
        LOGGING_DAY,
        "evaluation.json",
        _evaluation(LOGGING_DAY, planned=False, opens=0.09),
    )
    for name in ("staged.json", "plan.json"):
        published = {"published_at": "2026-10-01T23:00:00+00:00"} if name == "plan.json" else {}
        _write(settings, PUBLISHED_DAY, name, _summary(PUBLISHED_DAY, **published))
    _write(
        settings,
        PUBLISHED_DAY,
        "evaluation.json",
        _evaluation(PUBLISHED_DAY, planned=True, opens=0.13),
    )
    _write(settings, FALLBACK_DAY, "staged.json", _summary(FALLBACK_DAY, planted_fault="over_cap"))
    fallback = _evaluation(FALLBACK_DAY, planned=False, opens=0.08, fallback=FALLBACK_REASON)
    _write(settings, FALLBACK_DAY, "evaluation.json", fallback)
    _write(settings, PENDING_DAY, "staged.json", _summary(PENDING_DAY))
    (settings.planning_dir / PENDING_DAY.isoformat() / "scores").mkdir()
    insert_results(
        settings,
        [
            result(
                "manual__x",
                FALLBACK_DAY.isoformat(),
                "plan",
                "expect_daily_cap_respected",
                success=False,
                at=dt.datetime(2026, 10, 2, 23),
                table="plans.notification_plan_staging",
            )
        ],
    )
    return settings


@pytest.fixture
def client(settings):
    return TestClient(create_app(settings))


def _row(html: str, ds: dt.date) -> str:
    return re.search(rf'<tr id="plan-{ds}".*?</tr>', html, re.DOTALL).group(0)


def _svg(html: str, chart_id: str) -> str:
    return re.search(rf'<svg id="{chart_id}".*?</svg>', html, re.DOTALL).group(0)


def test_list_shows_every_kind_of_day_newest_first(home, client):
    page = client.get("/plans")
    assert page.status_code == 200
    html = page.text
    rows = re.findall(r'<tr id="plan-([\d-]+)" data-status="(\w+)"', html)
    assert rows == [
        (PENDING_DAY.isoformat(), "staged"),
        (FALLBACK_DAY.isoformat(), "fallback"),
        (PUBLISHED_DAY.isoformat(), "published"),
        (LOGGING_DAY.isoformat(), "logging"),
    ]
    published = _row(html, PUBLISHED_DAY)
    assert f'href="plans/{PUBLISHED_DAY}"' in published
    assert "1,000" in published and "met" in published and "0.0647" in published
    assert "push 17 · email 45 · in_app 3" in published  # the domain's channel order
    assert "0.120" in published and "[0.100, 0.140]" in published  # SNIPS opens
    assert "0.130" in published and "covered" in published and "not-covered" not in published
    assert "active +5.0 pp" in published
    fallback = _row(html, FALLBACK_DAY)
    assert "not published — sent by the logging policy" in fallback
    assert f'href="quality/{FALLBACK_DAY}/plan">plan gate failed' in fallback
    assert "was not published (its plan gate did not pass)" in fallback
    assert "staged only — plan gate pending" in _row(html, PENDING_DAY)
    logging = _row(html, LOGGING_DAY)
    assert "logging policy (no plan)" in logging and "0.090" in logging


def test_opens_chart_marks_each_evaluated_day_and_the_estimates(home, client):
    html = client.get("/plans").text
    opens = _svg(html, "chart-opens")
    assert opens.count('class="mark realized ') == 3  # one per evaluated day
    assert opens.count('class="mark realized plan"') == 1
    assert opens.count('class="mark realized logging"') == 2
    # the published plan and the pending one; not the plan that was never sent
    assert opens.count('class="mark estimate"') == 2
    assert f"{PUBLISHED_DAY} estimate before sending (snips opens): 0.120 [0.100, 0.140]" in opens
    assert f"{FALLBACK_DAY} estimate" not in opens
    assert opens.count('class="mark holdout"') == 3
    sends = _svg(html, "chart-sends")
    assert sends.count('class="mark sends"') == 2 * 3  # published and pending, by channel
    assert sends.count('class="mark sends faded"') == 3  # the fallback's plan, not sent
    assert sends.count('class="mark sent"') == 3  # realized, every evaluated day
    assert f"{PUBLISHED_DAY} sent: 1,050" in sends
    assert _svg(html, "chart-active").count('class="mark active eligible"') == 3
    assert "<script" not in html


def test_day_page_shows_the_plan_the_hours_and_the_outcome(home, client):
    page = client.get(f"/plans/{PUBLISHED_DAY}")
    assert page.status_code == 200
    html = page.text
    hours = _svg(html, "chart-hours")
    assert hours.count('class="mark hour"') == 24
    assert "<title>9h: 120 sends</title>" in hours and "<title>3h: 0 sends</title>" in hours
    channels = re.search(r'<table id="channels".*?</table>', html, re.DOTALL).group(0)
    assert re.findall(r'<th scope="row">(\w+)</th>', channels) == ["push", "email", "in_app"]
    estimates = re.search(r'<table id="estimates".*?</table>', html, re.DOTALL).group(0)
    assert estimates.count("<tr>") == 1 + 4 and "dr" in estimates and "[—, —]" in estimates
    arms = re.findall(r'<tr class="arm-(\w+)">', html)
    assert arms == ["policy", "exploration", "holdout", "eligible"]
    compared = re.search(r'<table id="estimate-vs-realized".*?</table>', html, re.DOTALL).group(0)
    assert "0.1300" in compared and "yes" in compared and "-7.7%" in compared
    assert "2026-10-01T23:00:00+00:00" in html  # published at
    assert 'href="../runs/manual__2026-10-02T00%3A00%3A00%2B00%3A00"' in html
    assert 'href="../plans"' in html
    assert 'id="fallback"' not in html


def test_fallback_day_page_says_why_and_links_the_gate(home, client):
    html = client.get(f"/plans/{FALLBACK_DAY}").text
    assert 'data-status="fallback"' in html and "not published — sent by the logging policy" in html
    assert "Fallback: the plan staged by run" in html
    assert "expect_daily_cap_respected" in html and 'href="../quality/2026-10-03/plan"' in html
    assert "over_cap" in html  # the drill's planted fault
    pending = client.get(f"/plans/{PENDING_DAY}").text
    assert "staged only — plan gate pending" in pending and 'id="not-evaluated"' in pending
    logging = client.get(f"/plans/{LOGGING_DAY}").text
    assert 'id="no-plan"' in logging and '<tr class="arm-eligible">' in logging


def test_unknown_or_malformed_day_is_not_an_error(home, client):
    unknown = client.get("/plans/2026-09-01")
    assert unknown.status_code == 404 and 'id="missing"' in unknown.text
    assert "2026-09-01" in unknown.text
    for bad in ("not-a-date", "2026-13-01", "..%2F..%2Fsecret"):
        assert client.get(f"/plans/{bad}").status_code in (404, 422), bad


def test_unreadable_files_are_named_and_the_pages_stay_up(settings, client):
    day = dt.date(2026, 10, 5)
    _write(settings, day, "staged.json", '{"ds": "2026-10-05", "sends": 1')  # half written
    _write(settings, day, "evaluation.json", "[1, 2]")  # JSON, not a summary
    _write(settings, PUBLISHED_DAY, "plan.json", {"sends": "many", "sends_by_channel": [1, 2]})
    page = client.get("/plans")
    assert page.status_code == 200
    row = _row(page.text, day)
    assert "unreadable summary: staged.json" in row and "unreadable summary: evaluation.json" in row
    assert "many" in _row(page.text, PUBLISHED_DAY)  # an odd value shows as it is
    detail = client.get(f"/plans/{day}")
    assert (
        detail.status_code == 200 and "unreadable summary: <code>staged.json</code>" in detail.text
    )
    assert client.get(f"/plans/{PUBLISHED_DAY}").status_code == 200


def test_empty_states(settings, client):
    page = client.get("/plans")
    assert page.status_code == 200 and 'id="empty-state"' in page.text  # no planning folder
    (settings.planning_dir / "2026-10-01" / "scores").mkdir(parents=True)
    (settings.planning_dir / "not-a-day").mkdir()
    (settings.planning_dir / "README").write_text("x")
    assert 'id="empty-state"' in client.get("/plans").text
    _write(settings, PENDING_DAY, "staged.json", _summary(PENDING_DAY))
    html = client.get("/plans").text
    assert 'id="empty-state"' not in html and 'id="not-evaluated"' in html
    assert 'id="chart-opens"' not in html and 'id="chart-sends"' in html


def test_everything_from_the_files_is_escaped(settings, client):
    summary = _summary(PENDING_DAY, sends_by_channel={"<b>push</b>": 5}, budget_status="<i>x</i>")
    _write(settings, PENDING_DAY, "staged.json", summary)
    evaluation = _evaluation(PENDING_DAY, planned=False, opens=0.1, fallback="<script>x</script>")
    _write(settings, PENDING_DAY, "evaluation.json", evaluation)
    for path in ("/plans", f"/plans/{PENDING_DAY}"):
        html = client.get(path).text
        assert "<script>x" not in html and "&lt;script&gt;x" in html
        assert "<b>push" not in html and "<i>x" not in html
    assert "&lt;b&gt;push&lt;/b&gt;: 5 planned" in client.get("/plans").text  # in the SVG


def test_the_page_is_linked_and_guarded(home, client):
    assert 'href="plans"' in client.get("/").text
    assert 'href="../../plans"' in client.get(f"/quality/{FALLBACK_DAY}/plan").text

    async def deny(request: Request) -> None:
        raise LoginRequired("/auth/login")

    guarded = TestClient(create_app(home, auth=deny), follow_redirects=False)
    for path in ("/plans", f"/plans/{PUBLISHED_DAY}"):
        assert guarded.get(path).status_code == 303


@pytest.mark.parametrize(
    "files, evaluation, gate, newest, status",
    [
        ({"staged.json", "plan.json"}, None, "pass", True, plans.PUBLISHED),
        ({"staged.json", "plan.json"}, {"planned": False}, None, False, plans.FALLBACK),
        ({"staged.json"}, None, None, True, plans.STAGED),
        ({"staged.json"}, None, "fail", True, plans.FALLBACK),
        ({"staged.json"}, None, None, False, plans.FALLBACK),  # a later day was planned
        ({"staged.json", "evaluation.json"}, {"planned": False}, None, True, plans.FALLBACK),
        ({"staged.json", "evaluation.json"}, None, None, True, plans.FALLBACK),  # unreadable
        ({"evaluation.json"}, {"planned": False}, None, True, plans.LOGGING),
    ],
)
def test_plan_status(files, evaluation, gate, newest, status):
    assert plans.plan_status(files, evaluation, gate, newest) == status
