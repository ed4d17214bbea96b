"""TFX tasks as Kubernetes pods (``tfx_runner = "kubernetes"``).

Each TFX node's task (and the scoring task) runs the entry point it runs locally,
``python -m tfx_pipelines.run_component ...``, in a pod on the tfx image
(``docker/tfx/Dockerfile``): in ``kubernetes_namespace``, as
``kubernetes_service_account`` (Workload Identity gives it its GCP roles: no key file
anywhere). Every pod mounts the ``kubernetes_home_claim`` volume at ``NOTIFLOW_HOME``,
where the Airflow workers find the reports and the serving folder, gets the
deployment's settings as ``NOTIFLOW_*`` variables (the image sets its own paths), and,
with the MySQL metadata store, ``NOTIFLOW_METADATA_MYSQL_PASSWORD`` from the
``metadata_mysql_password_secret`` Secret. All pods of a run share that one ML Metadata
store, so a retried pod carries on in the same TFX pipeline run.

Imported only when the Kubernetes runner is chosen: the local path needs no Kubernetes
client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kubernetes.client import models as k8s

from notiflow.domain import TFX_GATE_EXIT_CODE, TFX_NOT_PUSHED_EXIT_CODE
from notiflow.settings import Settings
from notiflow_airflow.common import TFX_PROCESS_ENVIRONMENT

HOME_VOLUME = "notiflow-home"
# The tfx image's user and group (docker/tfx/Dockerfile: uid 1000, gid 0).
IMAGE_UID, IMAGE_GID = 1000, 0
PASSWORD_VARIABLE = "NOTIFLOW_METADATA_MYSQL_PASSWORD"
PASSWORD_KEY = "password"


class TfxPodOperator(KubernetesPodOperator):
    """A pod running one TFX node. As locally (``TfxComponentOperator``): a gate's exit
    code fails the task at once (a retry would see the same data), the not-pushed code
    skips it, any other failure is retried."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(skip_on_exit_code=TFX_NOT_PUSHED_EXIT_CODE, **kwargs)

    def cleanup(self, pod, remote_pod, xcom_result=None, context=None) -> None:
        try:
            super().cleanup(pod, remote_pod, xcom_result=xcom_result, context=context)
        except AirflowException as failure:
            if base_container_exit_code(remote_pod, self.base_container_name) == (
                TFX_GATE_EXIT_CODE
            ):
                raise AirflowFailException(
                    f"TFX gate stopped the run (exit code {TFX_GATE_EXIT_CODE}): "
                    "the pod's log above names each anomaly"
                ) from failure
            raise


def base_container_exit_code(remote_pod: k8s.V1Pod | None, container: str) -> int | None:
    statuses = remote_pod.status.container_statuses if remote_pod and remote_pod.status else None
    status = next((s for s in statuses or [] if s.name == container), None)
    terminated = status.state.terminated if status and status.state else None
    return terminated.exit_code if terminated else None


def pod_name(task_id: str) -> str:
    """A DNS-1123 name prefix for the task's pods (the operator appends a random suffix)."""
    cleaned = "".join(c if c.isalnum() else "-" for c in f"notiflow-{task_id}".lower())
    return "-".join(part for part in cleaned.split("-") if part)[:50]


def tfx_pod_task(
    settings: Settings, task_id: str, module_args: Sequence[str], **task_args: Any
) -> TfxPodOperator:
    """The pod task running ``python -m <module_args>`` on the tfx image."""
    secrets = (
        [
            Secret(
                deploy_type="env",
                deploy_target=PASSWORD_VARIABLE,
                secret=settings.metadata_mysql_password_secret,
                key=PASSWORD_KEY,
            )
        ]
        if settings.metadata_store == "mysql"
        else []
    )
    return TfxPodOperator(
        task_id=task_id,
        name=pod_name(task_id),
        namespace=settings.kubernetes_namespace,
        image=settings.tfx_image,
        cmds=["python", "-m"],
        arguments=list(module_args),
        env_vars={**settings.portable_environment(), **TFX_PROCESS_ENVIRONMENT},
        secrets=secrets,
        service_account_name=settings.kubernetes_service_account,
        volumes=[
            k8s.V1Volume(
                name=HOME_VOLUME,
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                    claim_name=settings.kubernetes_home_claim
                ),
            )
        ],
        volume_mounts=[k8s.V1VolumeMount(name=HOME_VOLUME, mount_path=str(settings.home))],
        security_context=k8s.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=IMAGE_UID,
            run_as_group=IMAGE_GID,
            fs_group=IMAGE_GID,
        ),
        container_security_context=k8s.V1SecurityContext(
            allow_privilege_escalation=False,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
        labels={"app.kubernetes.io/name": "notiflow-tfx", "app.kubernetes.io/part-of": "notiflow"},
        get_logs=True,
        on_finish_action="delete_pod",
        **task_args,
    )
