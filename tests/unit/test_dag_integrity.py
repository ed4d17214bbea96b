"""Every DAG imports cleanly in the scheduler's environment and follows the house rules."""

import pytest

from notiflow.dbt import project_vars, run_dbt
from notiflow.settings import Settings
from tests.airflow_dags import load_dag_folder

LOAD_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "import_errors": {k: v[-2000:] for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "tags": sorted(dag.tags),
            "doc_md": bool(dag.doc_md),
            "catchup": dag.catchup,
            "params": {k: dag.params.get_param(k).schema for k in dag.params},
            "tasks": {t.task_id: {"owner": t.owner, "retries": t.retries, "pool": t.pool,
                                  "upstream": sorted(t.upstream_task_ids),
                                  "vars": getattr(t, "vars", None),
                                  "outlets": sorted(a.name for a in t.outlets)}
                      for t in dag.tasks},
        }
        for dag_id, dag in bag.dags.items()
    },
}))
"""


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory) -> dict:
    settings = Settings.load({"NOTIFLOW_HOME": str(tmp_path_factory.mktemp("home"))})
    run_dbt(settings, ["parse", "--quiet"])  # Cosmos renders the dbt group from the manifest
    return load_dag_folder(settings, LOAD_DAGS)


def test_no_import_errors(dagbag):
    assert dagbag["import_errors"] == {}


def test_expected_dags(dagbag):
    assert set(dagbag["dags"]) == {
        "daily_features",
        "engagement_training",
        "ranking_training",
        "notification_planning",
    }


@pytest.mark.parametrize(
    "dag_id", ["daily_features", "engagement_training", "ranking_training", "notification_planning"]
)
def test_house_rules(dagbag, dag_id):
    dag = dagbag["dags"][dag_id]
    assert dag["tags"] and dag["doc_md"] and dag["catchup"] is False
    for task_id, task in dag["tasks"].items():
        assert task["owner"] == "notiflow", task_id
        assert task["retries"] >= 2, task_id


def _ancestors(tasks: dict, task_id: str) -> set[str]:
    found: set[str] = set()
    stack = list(tasks[task_id]["upstream"])
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(tasks[current]["upstream"])
    return found


def test_daily_features_gates_raw_before_dbt_and_features_after(dagbag):
    tasks = dagbag["dags"]["daily_features"]["tasks"]
    dbt_tasks = {t: task for t, task in tasks.items() if t.startswith("dbt.")}
    assert any(t.endswith(".run") for t in dbt_tasks) and any(
        t.endswith(".test") for t in dbt_tasks
    )
    assert tasks["gate_raw"]["upstream"] == ["land_day"]
    first_models = [t for t, task in dbt_tasks.items() if task["upstream"] == ["gate_raw"]]
    assert first_models  # dbt starts only after the raw gate
    assert all(t in first_models or _ancestors(tasks, t) & set(first_models) for t in dbt_tasks)
    # one `dbt build` (the watcher's producer) does the work; a task per model and per
    # test follows it, and the gate waits for the producer too
    producer = "dbt.dbt_producer_watcher"
    assert tasks[producer]["upstream"] == ["gate_raw"]
    assert f"{producer}_done" in tasks["gate_features"]["upstream"]
    # every dbt invocation (the build, a node task's own retry) builds the landed day only
    # (with the domain facts every dbt invocation gets as vars)
    landed_day_only = project_vars({"ds": "{{ ds }}"})
    dbt_commands = {t: task for t, task in dbt_tasks.items() if t != f"{producer}_done"}
    assert all(task["vars"] == landed_day_only for task in dbt_commands.values())
    marts = ("ml_engagement_examples", "ml_ranking_examples", "ml_scoring_candidates",
             "ml_send_options", "user_features_daily", "pin_features_daily")  # fmt: skip
    upstream_of_gate = _ancestors(tasks, "gate_features")
    for mart in marts:
        assert f"dbt.{mart}.test" in upstream_of_gate
    # the marts are published (Asset events) only by the features gate
    assert tasks["gate_features"]["outlets"] == sorted(marts)
    assert all(not task["outlets"] for t, task in tasks.items() if t != "gate_features")
    assert tasks["publish_dbt_docs"]["upstream"] == ["gate_features"]
    assert tasks["evaluate_policy"]["upstream"] == ["gate_features"]  # the marts it reads
    # every task that touches DuckDB holds the one-slot warehouse pool; the tasks that
    # follow the build read its results, and would otherwise queue behind it
    for task_id, task in tasks.items():
        follows_the_build = task_id.startswith("dbt.") and task_id != producer
        assert task["pool"] == ("default_pool" if follows_the_build else "warehouse"), task_id


def test_engagement_training_has_one_task_per_tfx_component(dagbag):
    from notiflow import pipelines

    tasks = dagbag["dags"]["engagement_training"]["tasks"]
    graph = pipelines.tasks(pipelines.load_graph("engagement"))
    assert set(tasks) == {"training_window"} | {node["id"] for node in graph}
    for node in graph:
        assert set(tasks[node["id"]]["upstream"]) == (set(node["upstream"]) or {"training_window"})
    # the resolvers run in the tasks of the nodes they feed
    assert "LatestBlessedModelResolver" not in tasks and "Evaluator" in tasks
    for component in (
        "StatisticsGen",
        "SchemaGen",
        "ExampleValidator",
        "Transform",
        "Trainer",
        "Evaluator",
        "Pusher",
    ):
        assert component in tasks


def test_ranking_training_has_one_task_per_tfx_component(dagbag):
    from notiflow import pipelines

    tasks = dagbag["dags"]["ranking_training"]["tasks"]
    graph = pipelines.tasks(pipelines.load_graph("ranking"))
    assert set(tasks) == {"training_window"} | {node["id"] for node in graph}
    for node in graph:
        assert set(tasks[node["id"]]["upstream"]) == (set(node["upstream"]) or {"training_window"})
    assert tasks["Pusher"]["outlets"] == ["ranking_model"]
    assert all(not task["outlets"] for t, task in tasks.items() if t != "Pusher")
    assert tasks["ExampleGen"]["pool"] == "warehouse"


def test_fault_drills_offered_by_the_dag_are_the_simulators(dagbag):
    from notiflow import simulator

    offered = dagbag["dags"]["daily_features"]["params"]["inject_fault"]["enum"]
    assert tuple(fault for fault in offered if fault is not None) == tuple(simulator.FAULTS)


def test_notification_planning_scores_chooses_gates_then_publishes(dagbag):
    from notiflow import domain

    tasks = dagbag["dags"]["notification_planning"]["tasks"]
    assert set(tasks) == {
        "plan_day", "score_candidates", "choose_sends", "gate_plan", "publish_plan",
    }  # fmt: skip
    assert tasks["score_candidates"]["upstream"] == ["plan_day"]
    assert tasks["choose_sends"]["upstream"] == ["plan_day", "score_candidates"]
    assert tasks["gate_plan"]["upstream"] == ["choose_sends", "plan_day"]
    assert tasks["publish_plan"]["upstream"] == ["gate_plan", "plan_day"]
    # only a gated plan is published (the Asset event), and only by publish_plan
    assert tasks["publish_plan"]["outlets"] == [domain.PLAN_TABLE]
    assert all(not task["outlets"] for t, task in tasks.items() if t != "publish_plan")
    for task_id, task in tasks.items():
        assert task["pool"] == "warehouse", task_id
    offered = dagbag["dags"]["notification_planning"]["params"]["inject_fault"]["enum"]
    assert tuple(f for f in offered if f is not None) == domain.PLAN_FAULT_DRILLS
