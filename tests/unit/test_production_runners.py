"""The DAGs with the production runners chosen (BigQuery warehouse, TFX tasks as
Kubernetes pods, ML Metadata on MySQL, Beam on Dataflow): they parse, every TFX task is a
pod on the tfx image, and every rendered pod is a valid Kubernetes object
(``kubernetes-validate --strict``, the schemas of the Kubernetes version below). No
cluster is reached: pods are rendered with ``build_pod_request_obj(dry_run=True)``.
"""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from notiflow.dbt import run_dbt
from notiflow.settings import Settings
from tests.airflow_dags import load_dag_folder

pytestmark = pytest.mark.production

KUBERNETES_VERSION = "1.33.0"  # GKE's regular channel, late 2026
IMAGE = "registry.example.com/notiflow/tfx:1.0.0"
PRODUCTION = {
    "NOTIFLOW_WAREHOUSE_TARGET": "bigquery",
    "NOTIFLOW_BIGQUERY_PROJECT": "example-project",
    "NOTIFLOW_TFX_RUNNER": "kubernetes",
    "NOTIFLOW_TFX_IMAGE": IMAGE,
    "NOTIFLOW_METADATA_STORE": "mysql",
    "NOTIFLOW_METADATA_MYSQL_HOST": "127.0.0.1",  # the Cloud SQL proxy beside each pod
    "NOTIFLOW_BEAM_RUNNER": "dataflow",
    "NOTIFLOW_GCP_PROJECT": "example-project",
    "NOTIFLOW_GCP_REGION": "europe-west1",
    "NOTIFLOW_DATAFLOW_TEMP_LOCATION": "gs://example-bucket/dataflow/tmp",
}
TFX_DAGS = {"engagement_training", "ranking_training", "notification_planning"}

RENDER_PODS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from kubernetes.client import ApiClient
bag = DagBag(dag_folder=sys.argv[1])
serialize = ApiClient().sanitize_for_serialization
print(json.dumps({
    "import_errors": {k: v[-2000:] for k, v in bag.import_errors.items()},
    "tasks": {
        f"{dag_id}.{task.task_id}": {
            "class": type(task).__name__,
            "pod": serialize(task.build_pod_request_obj(dry_run=True))
            if hasattr(task, "build_pod_request_obj") else None,
        }
        for dag_id, dag in bag.dags.items()
        for task in dag.tasks
    },
}))
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> tuple[Settings, dict]:
    home = str(tmp_path_factory.mktemp("home"))
    # Cosmos renders the dbt group from the manifest; the project parses the same for
    # either target, and parsing BigQuery's would need its adapter's credentials.
    run_dbt(Settings.load({"NOTIFLOW_HOME": home}), ["parse", "--quiet"])
    settings = Settings.load({"NOTIFLOW_HOME": home, **PRODUCTION})
    return settings, load_dag_folder(settings, RENDER_PODS)


def _pods(rendered: dict) -> dict[str, dict]:
    return {name: task["pod"] for name, task in rendered["tasks"].items() if task["pod"]}


def test_the_dags_parse_and_every_tfx_task_is_a_pod_on_the_tfx_image(production):
    _, rendered = production
    assert rendered["import_errors"] == {}
    pods = _pods(rendered)
    tfx_tasks = {
        name
        for name in rendered["tasks"]
        if name.split(".")[0] in TFX_DAGS
        and not name.endswith(
            (".training_window", ".plan_day", ".choose_sends", ".gate_plan", ".publish_plan")
        )
    }
    assert "engagement_training.Trainer" in tfx_tasks
    assert "notification_planning.score_candidates" in tfx_tasks
    assert set(pods) == tfx_tasks
    for name, pod in pods.items():
        assert rendered["tasks"][name]["class"] == "TfxPodOperator"
        (container,) = pod["spec"]["containers"]
        assert container["image"] == IMAGE, name


def test_a_pod_runs_the_local_entry_point_with_the_deployments_settings(production):
    settings, rendered = production
    pod = _pods(rendered)["engagement_training.Trainer"]
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert container["command"] == ["python", "-m"]
    assert container["args"][:5] == [
        "tfx_pipelines.run_component", "--pipeline", "engagement", "--node", "Trainer"
    ]  # fmt: skip
    assert pod["metadata"]["namespace"] == settings.kubernetes_namespace
    assert spec["serviceAccountName"] == settings.kubernetes_service_account
    env = {e["name"]: e for e in container["env"]}
    assert env["NOTIFLOW_WAREHOUSE_TARGET"]["value"] == "bigquery"
    assert env["NOTIFLOW_METADATA_STORE"]["value"] == "mysql"
    assert env["NOTIFLOW_HOME"]["value"] == str(settings.home)
    # the image's own paths are the image's: none of this installation's
    assert not {"NOTIFLOW_PROJECT_DIR", "NOTIFLOW_VENVS_DIR", "NOTIFLOW_DAGS_DIR"} & set(env)
    # the store's password comes from the Secret, never as a value
    assert env["NOTIFLOW_METADATA_MYSQL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": settings.metadata_mysql_password_secret,
        "key": "password",
    }
    (volume,) = spec["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == settings.kubernetes_home_claim
    assert container["volumeMounts"] == [{"name": volume["name"], "mountPath": str(settings.home)}]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_every_rendered_pod_is_a_valid_kubernetes_object(production):
    _, rendered = production
    for name, pod in _pods(rendered).items():
        # raises ValidationError on any defect; returns the schema version it used
        assert kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True) == "1.33", name


def _container(pod: dict) -> dict:
    return pod["spec"]["containers"][0]


@pytest.mark.parametrize(
    ("defect", "plant"),
    [
        ("a misspelled field", lambda pod: _container(pod).update(imagePulPolicy="Always")),
        ("a required field missing", lambda pod: _container(pod).pop("name")),
        ("a wrong type", lambda pod: _container(pod).update(args="--node Trainer")),
    ],
)
def test_a_planted_pod_defect_fails_validation(production, defect, plant):
    _, rendered = production
    pod = copy.deepcopy(_pods(rendered)["engagement_training.Trainer"])
    plant(pod)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def _finished_pod(exit_code: int):
    from kubernetes.client import models as k8s

    terminated = k8s.V1ContainerStateTerminated(exit_code=exit_code)
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="notiflow-trainer-abc", namespace="notiflow"),
        status=k8s.V1PodStatus(
            phase="Succeeded" if exit_code == 0 else "Failed",
            container_statuses=[
                k8s.V1ContainerStatus(
                    name="base", image=IMAGE, image_id="", ready=False, restart_count=0,
                    state=k8s.V1ContainerState(terminated=terminated),
                )
            ],
        ),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("exit_code", "outcome"),
    [(3, "fail without retry"), (99, "skip"), (1, "retry"), (0, "success")],
)
def test_a_pods_exit_code_maps_to_the_tasks_outcome_as_locally(monkeypatch, exit_code, outcome):
    """The same outcomes as TfxComponentOperator's: the gate's code fails the task for
    good, the not-pushed code skips it, any other failure stays retryable. (The pod's
    istio check, label patch and deletion talk to the cluster: left out here.)"""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

    from notiflow.domain import TFX_GATE_EXIT_CODE, TFX_NOT_PUSHED_EXIT_CODE
    from notiflow_airflow.kubernetes import TfxPodOperator

    assert (TFX_GATE_EXIT_CODE, TFX_NOT_PUSHED_EXIT_CODE) == (3, 99)
    task = TfxPodOperator(task_id="Trainer", image=IMAGE, name="notiflow-trainer")
    monkeypatch.setattr(task, "is_istio_enabled", lambda pod: False)
    monkeypatch.setattr(task, "patch_already_checked", lambda *a, **k: None)
    monkeypatch.setattr(task, "process_pod_deletion", lambda *a, **k: True)
    pod = _finished_pod(exit_code)
    expected = {
        "fail without retry": AirflowFailException,
        "skip": AirflowSkipException,
        "retry": AirflowException,
    }.get(outcome)
    if expected is None:
        task.cleanup(pod, pod)
        return
    with pytest.raises(expected) as raised:
        task.cleanup(pod, pod)
    if outcome == "retry":
        assert not isinstance(raised.value, AirflowFailException | AirflowSkipException)
