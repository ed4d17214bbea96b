"""Airflow operators of notiflow."""

from __future__ import annotations

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk.exceptions import AirflowFailException

from notiflow.domain import TFX_GATE_EXIT_CODE, TFX_NOT_PUSHED_EXIT_CODE

__all__ = ["TFX_GATE_EXIT_CODE", "TFX_NOT_PUSHED_EXIT_CODE", "TfxComponentOperator"]


class TfxComponentOperator(BashOperator):
    """Runs one TFX node in the TFX environment (``python -m tfx_pipelines.run_component``).

    A gate's verdict (anomalies in the data) fails the task at once: a retry would
    see the same data. A Pusher that pushed nothing exits with the skip code: the task
    is skipped, so its model Asset gets no event. Other failures are retried as usual.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(skip_on_exit_code=TFX_NOT_PUSHED_EXIT_CODE, **kwargs)

    def _run_inline_command(self, bash_path: str, env: dict):
        result = super()._run_inline_command(bash_path=bash_path, env=env)
        if result.exit_code == TFX_GATE_EXIT_CODE:
            raise AirflowFailException(
                f"TFX gate stopped the run (exit code {TFX_GATE_EXIT_CODE}): "
                "the log above names each anomaly"
            )
        return result
