"""Where a TFX run keeps its metadata and runs Beam, from settings: the one place that
turns ``metadata_store`` and ``beam_runner`` into TFX's configs.

Locally: ML Metadata in a SQLite file, Beam in the task's process. In production: one
MySQL store (Cloud SQL) shared by every component pod, and each Beam-backed component
(StatisticsGen, Transform, Evaluator, BigQueryExampleGen) a Dataflow job whose workers
run the tfx image, which holds TFX and notiflow's own code.
"""

from __future__ import annotations

from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from notiflow.settings import Settings

# Locally Beam runs on its default in-process DirectRunner (one worker, in memory).
# Left empty on purpose: any Beam argument without a container image makes TFX build and
# attach an sdist of TFX itself for remote workers (tfx/utils/dependency_utils.py),
# seconds per component for nothing.
DIRECT_BEAM_ARGS: tuple[str, ...] = ()


def metadata_connection_config(settings: Settings) -> metadata_store_pb2.ConnectionConfig:
    """The ML Metadata store every node of every run shares."""
    if settings.metadata_store == "mysql":
        return metadata.mysql_metadata_connection_config(
            host=settings.metadata_mysql_host,
            port=settings.metadata_mysql_port,
            database=settings.metadata_mysql_database,
            username=settings.metadata_mysql_user,
            password=settings.metadata_mysql_password,
        )
    return metadata.sqlite_metadata_connection_config(str(settings.metadata_path))


def beam_pipeline_args(settings: Settings, job_name: str) -> list[str]:
    """Beam's arguments. Dataflow jobs run on the tfx image as their SDK container (so TFX
    ships no sdist), are named after the pipeline's run, and write temporary files to
    ``dataflow_temp_location``."""
    if settings.beam_runner == "direct":
        return list(DIRECT_BEAM_ARGS)
    return [
        "--runner=DataflowRunner",
        f"--project={settings.gcp_project}",
        f"--region={settings.gcp_region}",
        f"--temp_location={settings.dataflow_temp_location}",
        f"--sdk_container_image={settings.tfx_image}",
        f"--job_name={dataflow_job_name(job_name)}",
        "--experiments=use_runner_v2",
    ]


def dataflow_job_name(name: str) -> str:
    """A valid Dataflow job name: lower case letters, digits and hyphens, starting with a
    letter, at most 63 characters."""
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    cleaned = "-".join(part for part in cleaned.split("-") if part)
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"notiflow-{cleaned}".rstrip("-")
    return cleaned[:63].rstrip("-")
