"""The training DAG factory builds any TFX pipeline folder's DAG, with no shared file changed."""

from __future__ import annotations

import json
import os
import shlex
import shutil

import pytest

from notiflow import domain, pipelines
from notiflow.domain import TFX_NOT_PUSHED_EXIT_CODE
from notiflow_airflow.factories import WINDOW_TASK_ID, training_dag

TOY_GRAPH = [
    {"id": "ExampleGen", "type": "tfx.components.example_gen.component.QueryBasedExampleGen",
     "upstream": []},
    {"id": "Trainer", "type": "tfx.components.trainer.component.Trainer",
     "upstream": ["ExampleGen"]},
    {"id": "Pusher", "type": pipelines.PUSHER_TYPE, "upstream": ["Trainer"]},
]  # fmt: skip


@pytest.fixture
def toy_pipeline():
    """A pipeline folder added to the installed tfx_pipelines package, as a team would."""
    name = f"toy_{os.getpid()}"
    folder = pipelines.package_dir() / name
    folder.mkdir()
    try:
        (folder / "configs.py").write_text('PIPELINE_NAME = "toy"\n')
        (folder / pipelines.GRAPH_FILE).write_text(json.dumps(TOY_GRAPH))
        yield name
    finally:
        shutil.rmtree(folder)


def test_a_new_pipeline_folder_gets_its_training_dag(toy_pipeline, settings):
    assert toy_pipeline in pipelines.pipeline_names()
    dag = training_dag(
        pipeline=toy_pipeline,
        trigger=domain.RANKING_EXAMPLES,
        model_asset="toy_model",
        settings=settings,
    )
    assert dag.dag_id == f"{toy_pipeline}_training"
    assert [a.name for a in dag.timetable.asset_condition.objects] == [domain.RANKING_EXAMPLES]
    assert set(dag.task_ids) == {WINDOW_TASK_ID, "ExampleGen", "Trainer", "Pusher"}
    assert dag.get_task("ExampleGen").upstream_task_ids == {WINDOW_TASK_ID}
    assert dag.get_task("Pusher").upstream_task_ids == {"Trainer"}

    # every node runs in the TFX environment, as a node of this pipeline
    for node in TOY_GRAPH:
        argv = shlex.split(dag.get_task(node["id"]).bash_command)
        assert argv[:3] == [str(settings.tfx_python), "-m", "tfx_pipelines.run_component"]
        assert argv[argv.index("--pipeline") + 1] == toy_pipeline
        assert argv[argv.index("--node") + 1] == node["id"]
    # the ExampleGen holds the warehouse pool; the others do not
    assert {t.task_id for t in dag.tasks if t.pool == "warehouse"} == {WINDOW_TASK_ID, "ExampleGen"}
    # only the Pusher updates the model Asset, and only when it pushed (else: skip code)
    pusher = dag.get_task("Pusher")
    assert [a.uri for a in pusher.outlets] == ["notiflow://models/toy"]
    assert f"--not-pushed-exit-code {TFX_NOT_PUSHED_EXIT_CODE}" in pusher.bash_command
    assert pusher.skip_on_exit_code == [TFX_NOT_PUSHED_EXIT_CODE]
    for task_id in ("ExampleGen", "Trainer"):
        assert not dag.get_task(task_id).outlets
        assert "--not-pushed-exit-code" not in dag.get_task(task_id).bash_command


def test_an_unknown_pipeline_names_the_known_ones(settings):
    with pytest.raises(FileNotFoundError, match=r"no pipeline graph .*'nonexistent'.*engagement"):
        training_dag(
            pipeline="nonexistent",
            trigger=domain.ENGAGEMENT_EXAMPLES,
            model_asset=domain.ENGAGEMENT_MODEL,
            settings=settings,
        )
