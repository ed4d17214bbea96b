"""TfxComponentOperator maps run_component's exit codes to Airflow task outcomes."""

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from notiflow_airflow.operators import (
    TFX_GATE_EXIT_CODE,
    TFX_NOT_PUSHED_EXIT_CODE,
    TfxComponentOperator,
)


def _run(command: str):
    operator = TfxComponentOperator(task_id="node", bash_command=command)
    return operator.execute(context={})


def test_success_returns_the_last_line():
    assert _run("echo ok") == "ok"


def test_gate_verdict_fails_without_retry():
    with pytest.raises(AirflowFailException, match="TFX gate stopped the run"):
        _run(f"echo 'anomaly in channel'; exit {TFX_GATE_EXIT_CODE}")


def test_not_pushed_is_skipped():
    with pytest.raises(AirflowSkipException):
        _run(f"exit {TFX_NOT_PUSHED_EXIT_CODE}")


def test_other_failures_stay_retryable():
    with pytest.raises(AirflowException) as failure:
        _run("exit 1")
    assert not isinstance(failure.value, AirflowFailException)
