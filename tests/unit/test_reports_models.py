"""The model report (/models) on hand-written registries and evaluation summaries: the live
version and its history, a refused evaluation against its baseline, the calibration chart,
a model without one, and files that are missing, malformed or odd."""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from markupsafe import escape

from notiflow import domain, model_evaluations, registry
from notiflow_airflow.reports import models
from notiflow_airflow.reports.app import LoginRequired, create_app
from tests.reports_seed import (
    CALIBRATION_REASON,
    FIRST_RUN,
    LIVE_RUN,
    MODEL_DAY,
    REFUSED_RUN,
    model_summary,
    seed_models,
)


@pytest.fixture
def home(settings):
    seed_models(settings)
    return settings


@pytest.fixture
def client(settings):
    return TestClient(create_app(settings))


def _element(html: str, tag: str, element_id: str) -> str:
    return re.search(rf'<{tag} id="{element_id}".*?</{tag}>', html, re.DOTALL).group(0)


def _section(html: str, model: str) -> str:
    return _element(html, "section", f"model-{model}")


def test_every_model_with_its_live_version_history_and_evaluations(home, client):
    page = client.get("/models")
    assert page.status_code == 200
    engagement = _section(page.text, "engagement")
    assert re.search(r'class="live card mb-3" data-version="1002"', engagement)
    assert 'href="models/engagement/scheduled__live">its evaluation' in engagement
    assert "trained on 2026-09-24 … 2026-10-07 · evaluated on 2026-10-08" in engagement
    assert "auc <strong>0.7700</strong>" in engagement  # the reported metrics, in order
    assert engagement.index("auc <strong>") < engagement.index("binary_crossentropy <strong>")
    assert re.findall(r'<tr class="version[^"]*" data-version="(\d+)"', engagement) == [
        "1002",
        "1001",
    ]
    evaluations = re.findall(
        r'<tr id="evaluation-([\w.-]+)" class="evaluation ([\w-]*)', engagement
    )
    assert evaluations == [(LIVE_RUN, ""), (REFUSED_RUN, "table-danger"), (FIRST_RUN, "")]
    refused = _element(engagement, "tr", f"evaluation-{REFUSED_RUN}")
    assert 'data-blessed="false"' in refused and "NOT BLESSED" in refused
    assert "last blessed: version <code>1001</code>" in refused
    assert "[channel=push] auc change vs baseline = -0.031 fails threshold" in refused
    assert "0.7600" in refused and "(+0.0100 vs baseline)" in refused
    first = _element(engagement, "tr", f"evaluation-{FIRST_RUN}")
    assert "none (first model)" in first and "<code>1001</code>" in first  # it pushed 1001
    ranking = _section(page.text, "ranking")
    assert 'data-version="2001"' in ranking and "ndcg_at_3 <strong>0.4100</strong>" in ranking
    assert "<svg" not in page.text and "<script" not in page.text


def test_one_model_page(home, client):
    page = client.get("/models/engagement")
    assert page.status_code == 200
    assert 'id="model-engagement"' in page.text and 'id="model-ranking"' not in page.text
    assert 'href="../models/engagement/scheduled__refused"' in page.text
    assert 'href="../models">Models' in page.text


def test_refused_evaluation_names_the_failing_slice_and_metric_against_the_baseline(home, client):
    page = client.get(f"/models/engagement/{REFUSED_RUN}")
    assert page.status_code == 200
    html = page.text
    assert 'id="verdict" class="badge badge-danger" data-blessed="false"' in html
    reasons = _element(html, "ul", "reasons")
    assert "[channel=push] auc change vs baseline = -0.031" in reasons
    assert str(escape(CALIBRATION_REASON)) in reasons
    failures = re.findall(r'<tr class="table-danger failure">(.*?)</tr>', html, re.DOTALL)
    (failure,) = failures
    assert "channel=push" in failure and "auc" in failure and "(change vs baseline)" in failure
    assert "-0.0310" in failure and "change (HIGHER_IS_BETTER, absolute -0.01)" in failure
    # the baseline: the first model, its version and evaluation
    baseline = _element(html, "td", "baseline")
    assert "version <code>1001</code>" in baseline
    assert f'href="../../models/engagement/{FIRST_RUN}">its evaluation' in baseline
    assert "nothing: the live model stays" in _element(html, "td", "pushed")
    # metrics by slice: candidate, baseline, change; the failed cell and the refused slices
    metrics = _element(html, "table", "metrics")
    rows = re.findall(r'<tr data-slice="([^"]+)">', metrics)
    assert rows == ["overall", "channel=push", "channel=email", "channel=in_app", "platform=ios"]
    push = re.search(r'<tr data-slice="channel=push">.*?</tr>', metrics, re.DOTALL).group(0)
    assert 'class="table-warning refused-slice">channel=push' in push
    auc = re.search(r'<td class="table-danger failed" data-metric="auc">.*?</td>', push, re.DOTALL)
    assert auc and "0.7090" in auc.group(0) and "0.7400" in auc.group(0)
    assert "(-0.0310)" in auc.group(0) and "fails <code>change" in auc.group(0)
    assert metrics.count("table-danger failed") == 1
    overall = re.search(r'<tr data-slice="overall">.*?</tr>', metrics, re.DOTALL).group(0)
    assert "refused-slice" not in overall and "0.7500" in overall and "(+0.0100)" in overall


def test_calibration_chart_and_table_per_channel(home, client):
    html = client.get(f"/models/engagement/{REFUSED_RUN}").text
    chart = _element(html, "svg", "chart-calibration")
    for slice_name in ("overall", "channel-push", "channel-email", "channel-in_app"):
        assert chart.count(f'class="mark calibration slice-{slice_name}"') == 10, slice_name
        assert f'class="line calibration slice-{slice_name}"' in chart
    assert 'class="line calibration slice-platform' not in chart  # channels only
    assert 'class="diagonal"' in chart and "calibrated (y = x)" in chart
    assert "channel=push: predicted 0.190, observed 0.146 (200 examples, predictions " in chart
    table = _element(html, "table", "calibration-table")
    assert re.findall(r'<tr data-slice="([^"]+)">', table) == [
        "overall",
        *(f"channel={c}" for c in domain.CHANNELS),
    ]
    push = re.search(r'<tr data-slice="channel=push">.*?</tr>', table, re.DOTALL).group(0)
    assert "refused-slice" in push  # the calibration gate's reason names it
    assert '<td class="ratio">1.300</td>' in push and "<td>1.000</td>" in push  # vs baseline
    assert "<td>640</td>" in push and "0.1560" in push and "0.1200" in push


def test_live_evaluation_page_says_what_it_pushed(home, client):
    html = client.get(f"/models/engagement/{LIVE_RUN}").text
    assert 'data-blessed="true"' in html and 'id="reasons"' not in html
    pushed = _element(html, "td", "pushed")
    assert "version <code>1002</code>" in pushed and "live" in pushed
    first = client.get(f"/models/engagement/{FIRST_RUN}").text
    assert "none: the first model" in _element(first, "td", "baseline")
    assert "<code>1001</code>" in _element(first, "td", "pushed") and "live" not in _element(
        first, "td", "pushed"
    )


def test_a_model_without_calibration_plot(home, client):
    page = client.get(f"/models/ranking/{FIRST_RUN}")
    assert page.status_code == 200
    html = page.text
    assert 'id="no-calibration"' in html and "judged on ndcg_at_3" in html
    assert "<svg" not in html and 'id="calibration-table"' not in html
    assert '<tr class="extra-metric"><th>popularity_ndcg_at_3</th><td>0.3500</td>' in html
    assert re.findall(r'<tr data-slice="([^"]+)">', _element(html, "table", "metrics")) == [
        "overall",
        "platform=ios",
    ]


def test_empty_states(settings, client):
    page = client.get("/models")
    assert page.status_code == 200 and 'id="empty-state"' in page.text
    one = client.get("/models/engagement")
    assert one.status_code == 200
    assert "No version pushed yet." in one.text and "No evaluation yet." in one.text
    # an evaluation, nothing pushed yet: no more empty state
    summary = model_summary("engagement", FIRST_RUN, blessed=False, metrics={}, reasons=["x"])
    model_evaluations.write_summary(settings, summary)
    html = client.get("/models").text
    assert 'id="empty-state"' not in html and "No version pushed yet." in html
    evaluation = client.get(f"/models/engagement/{FIRST_RUN}").text
    assert 'id="no-calibration"' in evaluation and "<li>x</li>" in evaluation


def test_unknown_model_or_evaluation_and_paths_out_are_not_found(home, client):
    for path in (
        "/models/nope",
        "/models/nope/manual__first",
        "/models/engagement/nope",
        "/models/engagement/.hidden",
        "/models/engagement/..%2F..%2Fserving%2Fengagement%2Fregistry.jsonl",
        "/models/..%2Freports/manual__first",
        f"/models/ranking/{REFUSED_RUN}",  # a run of the other model
    ):
        response = client.get(path)
        assert response.status_code == 404, path
    assert 'id="missing"' in client.get("/models/nope").text
    for run_id in ("../x", "a/b", ".hidden", "", "x\\y"):
        with pytest.raises(ValueError):
            model_evaluations.summary_path(home, "engagement", run_id)
        assert models.read_evaluation(home, "engagement", run_id) is None


def test_unreadable_files_are_named_and_the_pages_stay_up(home, client):
    folder = model_evaluations.summaries_dir(home, "engagement")
    (folder / "half__written.json").write_text('{"model": "engagement", "blessed": tr')
    (folder / "not__a_summary.json").write_text("[1, 2]")
    (folder / "no__fields.json").write_text('{"model": "engagement"}')
    with registry.registry_path(home, "ranking").open("a") as handle:
        handle.write("{not json\n")
    page = client.get("/models")
    assert page.status_code == 200
    engagement = _section(page.text, "engagement")
    for name, why in (
        ("half__written.json", "not valid JSON"),
        ("not__a_summary.json", "not a JSON object"),
        ("no__fields.json", "lacks run_id, pipeline_run_id"),
    ):
        assert re.search(rf"<code>[^<]*/{name}</code>: {why}", engagement), name
    assert 'data-version="1002"' in engagement  # the readable rest is there
    ranking = _section(page.text, "ranking")
    assert "unreadable registry: <code>" in ranking and "registry.jsonl: not valid JSON" in ranking
    detail = client.get("/models/engagement/half__written")
    assert detail.status_code == 200
    assert re.search(
        r'id="unreadable".*half__written\.json</code>: not valid JSON', detail.text, re.S
    )
    # odd values show as they are, missing ones as a dash
    odd = model_summary(
        "engagement",
        "manual__odd",
        blessed="yes",
        metrics={"overall": {"auc": "high", "mean_label": None}, "channel=push": []},
        evaluated_at="2026-10-12T00:00:00+00:00",
    )
    odd |= {"reasons": "not a list", "failures": {"x": 1}, "calibration": [], "baseline": 3}
    model_evaluations.write_summary(home, odd)
    html = client.get("/models/engagement/manual__odd").text
    assert 'data-blessed="false"' in html and "high" in html  # only `true` blesses
    assert client.get("/models").status_code == 200


def test_everything_from_the_files_is_escaped(settings, client):
    summary = model_summary(
        "engagement",
        FIRST_RUN,
        blessed=False,
        metrics={"overall": {"auc": 0.5}, "channel=<b>sms</b>": {"auc": 0.5}},
        reasons=["<script>alert(1)</script>"],
        calibration={"channel=<b>sms</b>": [{"mean_prediction": 0.1, "mean_label": 0.1}]},
    )
    model_evaluations.write_summary(settings, summary)
    for path in ("/models", f"/models/engagement/{FIRST_RUN}"):
        html = client.get(path).text
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html
    html = client.get(f"/models/engagement/{FIRST_RUN}").text
    assert "<b>sms" not in html and "&lt;b&gt;sms&lt;/b&gt;" in _element(
        html, "svg", "chart-calibration"
    )


def test_the_pages_are_linked_and_guarded(home, client):
    assert 'href="models"' in client.get("/").text  # the navigation
    assert 'href="../models"' in client.get("/tfdv/").text

    async def deny(request: Request) -> None:
        raise LoginRequired("/auth/login")

    guarded = TestClient(create_app(home, auth=deny), follow_redirects=False)
    for path in ("/models", "/models/engagement", f"/models/engagement/{REFUSED_RUN}"):
        assert guarded.get(path).status_code == 303


def test_training_dags_and_pusher_link_the_model_report(settings):
    from notiflow_airflow.factories import training_dag

    dag = training_dag(
        pipeline="ranking",
        trigger=domain.RANKING_EXAMPLES,
        model_asset=domain.RANKING_MODEL,
        doc_md="### ranking_training",
        settings=settings,
    )
    link = "[/reports/models/ranking](/reports/models/ranking)"
    assert dag.doc_md.startswith("### ranking_training") and link in dag.doc_md
    (pusher,) = [t for t in dag.tasks if t.outlets]
    assert link in pusher.doc_md
    assert all(t.doc_md is None for t in dag.tasks if t is not pusher)


# -- the summaries' contract (notiflow.model_evaluations) -----------------------------


def test_summaries_are_written_atomically_and_read_newest_first(settings):
    older = model_summary(
        "engagement", "run_b", blessed=True, metrics={}, evaluated_at="2026-10-09"
    )
    newer = model_summary(
        "engagement", "run_a", blessed=False, metrics={}, evaluated_at="2026-10-10"
    )
    for summary in (older, newer):
        path = model_evaluations.write_summary(settings, summary)
    assert path == settings.reports_dir / "models" / "engagement" / "run_a.json"
    assert json.loads(path.read_text())["blessed"] is False
    newer["blessed"] = True  # a retried Evaluator rewrites its run's summary
    model_evaluations.write_summary(settings, newer)
    assert sorted(p.name for p in path.parent.iterdir()) == ["run_a.json", "run_b.json"]
    summaries, unreadable = model_evaluations.read_summaries(settings, "engagement")
    assert [s["pipeline_run_id"] for s in summaries] == ["run_a", "run_b"] and unreadable == []
    assert summaries[0]["blessed"] is True
    assert model_evaluations.read_summaries(settings, "ranking") == ([], [])


def test_a_summary_must_have_its_fields_and_finite_numbers(settings):
    with pytest.raises(ValueError, match="lacks"):
        model_evaluations.write_summary(settings, {"model": "engagement"})
    summary = model_summary(
        "engagement", "run_a", blessed=True, metrics={"overall": {"auc": math.nan}}
    )
    with pytest.raises(ValueError):
        model_evaluations.write_summary(settings, summary)
    assert not any(model_evaluations.summaries_dir(settings, "engagement").iterdir())


def test_data_windows_are_the_registrys():
    pushed_at = dt.datetime(2026, 10, 9, tzinfo=dt.UTC)
    record = registry.registry_record(
        "m", {"version": "1", "path": "p"}, {}, MODEL_DAY, 14, "r", "r", pushed_at
    )
    windows = registry.data_windows(MODEL_DAY, 14)
    assert windows == {"eval_window": record["eval_window"], "train_window": record["train_window"]}
    day = MODEL_DAY.isoformat()
    assert windows == {
        "eval_window": {"start": day, "end": day},
        "train_window": {
            "start": (MODEL_DAY - dt.timedelta(days=14)).isoformat(),
            "end": (MODEL_DAY - dt.timedelta(days=1)).isoformat(),
        },
    }


@pytest.mark.parametrize(
    "names, ordered",
    [
        (
            [
                "platform=web",
                "channel=in_app",
                "overall",
                "channel=push",
                "platform=ios",
                "channel=email",
            ],
            [
                "overall",
                "channel=push",
                "channel=email",
                "channel=in_app",
                "platform=ios",
                "platform=web",
            ],
        ),
        (
            ["channel=sms", "channel=push", "age=18-24"],
            ["channel=push", "channel=sms", "age=18-24"],
        ),
    ],
)
def test_slice_order(names, ordered):
    assert models.slice_order(names) == ordered
