import shlex
from types import SimpleNamespace

import pytest

from notiflow import pipelines
from notiflow.pipelines import load_graph as load_pipeline_graph
from notiflow.pipelines import reads_warehouse
from notiflow_airflow import tasks
from notiflow_airflow.factories import tfx_component_args, tfx_environment_task
from notiflow_airflow.tasks import training_end_ds


def _event(ds):
    return SimpleNamespace(extra={"ds": ds} if ds else {})


def test_training_ends_on_the_newest_day_with_mature_labels():
    events = {"asset": [_event("2026-11-20"), _event("2026-11-22"), _event(None)]}
    assert training_end_ds(events, None, None) == "2026-11-21"


def test_explicit_end_day_wins_and_mart_is_the_fallback():
    events = {"asset": [_event("2026-11-22")]}
    assert training_end_ds(events, "2026-11-01", None) == "2026-11-01"
    assert training_end_ds({}, None, "2026-11-10") == "2026-11-09"
    with pytest.raises(ValueError, match="no training window"):
        training_end_ds({}, None, None)


def test_pipeline_graph_is_topological_and_complete():
    graph = load_pipeline_graph("engagement")
    seen = set()
    for node in graph:
        assert set(node["upstream"]) <= seen
        seen.add(node["id"])
    assert [n["id"] for n in graph if reads_warehouse(n)] == ["ExampleGen"]
    with pytest.raises(FileNotFoundError, match="no pipeline graph"):
        load_pipeline_graph("nonexistent")


def test_component_task_runs_in_the_tfx_environment(settings):
    args = tfx_component_args("engagement", "Trainer", "{{ run_id }}", "2026-11-21")
    task = tfx_environment_task(settings, "Trainer", args)
    argv = shlex.split(task.bash_command)
    assert argv[0] == str(settings.tfx_python)
    assert argv[1:3] == ["-m", "tfx_pipelines.run_component"]
    assert argv[argv.index("--node") + 1] == "Trainer"
    assert argv[argv.index("--run-id") + 1] == "{{ run_id }}"
    assert task.env["TF_USE_LEGACY_KERAS"] == "1"


def test_planning_plans_the_day_after_the_landed_day_and_skips_a_relanded_one(monkeypatch):
    from airflow.sdk.exceptions import AirflowSkipException

    events = {"ml_scoring_candidates": [SimpleNamespace(extra={"ds": "2026-11-22"})]}
    monkeypatch.setattr(tasks, "newest_raw_day", lambda settings: "2026-11-22")
    assert tasks.plan_day(None, events, None) == "2026-11-23"
    assert tasks.plan_day(None, events, "2026-11-20") == "2026-11-20"  # explicit wins
    monkeypatch.setattr(tasks, "newest_raw_day", lambda settings: "2026-11-25")
    with pytest.raises(AirflowSkipException, match="2026-11-23 has landed already"):
        tasks.plan_day(None, events, None)  # an older day was re-landed
    monkeypatch.setattr(tasks, "newest_mart_day", lambda settings, mart: "2026-11-26")
    assert tasks.plan_day(None, {}, None) == "2026-11-26"  # a manual run: the newest


def test_a_resolver_runs_in_the_task_of_the_node_it_feeds():
    tasks = {task["id"]: task for task in pipelines.tasks(load_pipeline_graph("engagement"))}
    assert "PreviousSpanStatisticsResolver" not in tasks
    assert "LatestBlessedModelResolver" not in tasks
    validator, evaluator = tasks["ExampleValidator"], tasks["Evaluator"]
    assert validator["nodes"] == ["PreviousSpanStatisticsResolver", "ExampleValidator"]
    assert validator["upstream"] == ["SchemaGen", "StatisticsGen"]
    assert evaluator["nodes"] == ["LatestBlessedModelResolver", "Evaluator"]
    assert evaluator["upstream"] == ["ExampleGen", "SchemaGen", "Trainer"]
    assert tasks["Trainer"]["nodes"] == ["Trainer"]
    # every node runs in exactly one task, after the tasks of its upstream nodes
    ran: list[str] = []
    for task in tasks.values():
        assert all(u in ran for u in task["upstream"])
        ran += [task["id"]]
    assert sorted(n for t in tasks.values() for n in t["nodes"]) == sorted(
        n["id"] for n in load_pipeline_graph("engagement")
    )


def test_a_resolver_that_feeds_two_nodes_is_a_task_of_its_own():
    graph = [
        {"id": "Gen", "type": "Gen", "upstream": []},
        {"id": "Resolver", "type": pipelines.RESOLVER_TYPE, "upstream": ["Gen"]},
        {"id": "A", "type": "A", "upstream": ["Resolver"]},
        {"id": "B", "type": "B", "upstream": ["Resolver", "A"]},
    ]
    tasks = {task["id"]: task for task in pipelines.tasks(graph)}
    assert set(tasks) == {"Gen", "Resolver", "A", "B"}
    assert tasks["B"] == {"id": "B", "type": "B", "nodes": ["B"], "upstream": ["A", "Resolver"]}
