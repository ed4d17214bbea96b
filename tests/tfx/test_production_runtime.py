"""The production runtime from settings: ML Metadata on MySQL, Beam on Dataflow with the
tfx image as SDK container, as TFX receives them (nothing is sent to Google or MySQL)."""

from __future__ import annotations

import datetime

import pytest

pytestmark = pytest.mark.tfx

pytest.importorskip("tfx")

from notiflow.settings import Settings  # noqa: E402
from tfx_pipelines import run_component  # noqa: E402
from tfx_pipelines.common import node_runner, runtime  # noqa: E402

IMAGE = "registry.example.com/notiflow-tfx:1.0"
DATAFLOW = {
    "NOTIFLOW_BEAM_RUNNER": "dataflow",
    "NOTIFLOW_GCP_PROJECT": "example-project",
    "NOTIFLOW_GCP_REGION": "europe-west1",
    "NOTIFLOW_DATAFLOW_TEMP_LOCATION": "gs://example-bucket/dataflow/tmp",
    "NOTIFLOW_TFX_IMAGE": IMAGE,
}


def test_local_defaults_are_sqlite_and_in_process_beam(settings):
    config = runtime.metadata_connection_config(settings)
    assert config.sqlite.filename_uri == str(settings.metadata_path)
    assert runtime.beam_pipeline_args(settings, "Transform-engagement-run") == []


def test_mysql_metadata_store_from_settings_and_the_secret(tmp_path):
    settings = Settings.load({
        "NOTIFLOW_HOME": str(tmp_path),
        "NOTIFLOW_METADATA_STORE": "mysql",
        "NOTIFLOW_METADATA_MYSQL_HOST": "127.0.0.1",
        "NOTIFLOW_METADATA_MYSQL_PASSWORD": "from-the-secret",
    })  # fmt: skip
    config = runtime.metadata_connection_config(settings)
    assert config.WhichOneof("config") == "mysql"
    mysql = config.mysql
    assert (mysql.host, mysql.port, mysql.database) == ("127.0.0.1", 3306, "mlmd")
    assert (mysql.user, mysql.password) == ("notiflow", "from-the-secret")
    assert "from-the-secret" not in repr(settings)
    assert "NOTIFLOW_METADATA_MYSQL_PASSWORD" not in settings.as_environment()


def test_dataflow_arguments_reach_every_beam_component_of_the_compiled_pipeline(tmp_path):
    settings = Settings.load({"NOTIFLOW_HOME": str(tmp_path), **DATAFLOW})
    job = "StatisticsGen-engagement-scheduled__2026-12-01T00:00:00+00:00"
    pipeline = run_component.load_pipeline("engagement").build(
        settings, datetime.date(2026, 12, 1), None, beam_job=job
    )
    ir = node_runner.compile_pipeline(pipeline, "scheduled__2026-12-01")
    beam_nodes = _beam_args_by_node(ir)
    assert {"StatisticsGen", "Transform", "Evaluator"} <= set(beam_nodes)
    for args in beam_nodes.values():
        assert "--runner=DataflowRunner" in args
        assert "--project=example-project" in args and "--region=europe-west1" in args
        assert "--temp_location=gs://example-bucket/dataflow/tmp" in args
        assert f"--sdk_container_image={IMAGE}" in args  # so TFX builds no sdist of itself
        assert "--job_name=statisticsgen-engagement-scheduled-2026-12-01t00-00-00-00-00" in args


def _beam_args_by_node(ir) -> dict[str, list[str]]:
    """The Beam arguments of each node that runs on Beam, from the compiled IR."""
    from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2

    deployment = pipeline_pb2.IntermediateDeploymentConfig()
    ir.deployment_config.Unpack(deployment)
    found = {}
    for node_id, packed in deployment.executor_specs.items():
        spec = executable_spec_pb2.BeamExecutableSpec()
        if packed.Unpack(spec):
            found[node_id] = list(spec.beam_pipeline_args)
    return found


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Transform-engagement-manual__2026-12-01T10:00:00+00:00",
         "transform-engagement-manual-2026-12-01t10-00-00-00-00"),
        ("1-run", "notiflow-1-run"),
        ("x" * 80, "x" * 63),
    ],
)  # fmt: skip
def test_dataflow_job_names_are_valid(name, expected):
    assert runtime.dataflow_job_name(name) == expected


def test_a_dataflow_runner_without_its_settings_is_refused(tmp_path):
    from notiflow.settings import SettingsError

    with pytest.raises(SettingsError, match="NOTIFLOW_GCP_PROJECT, NOTIFLOW_GCP_REGION"):
        Settings.load({"NOTIFLOW_HOME": str(tmp_path), "NOTIFLOW_BEAM_RUNNER": "dataflow"})
