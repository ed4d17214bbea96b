"""
### notification_planning

Turns the newest pushed models into tomorrow's notification plan, whenever gated
candidates land (the `ml_scoring_candidates` Asset: the run landing day D builds the
candidates of D + 1):

1. **plan_day**: the day to plan (D + 1; or the `ds` parameter). A re-landed older day
   is skipped: the day after it was sent already.
2. **score_candidates** (TFX environment, `tfx_pipelines/scoring.py`): the ranking model
   orders every user's candidate pins; the engagement model gives P(open) of the best
   pin on each channel the user can get, at each local hour the channel may send. All
   of the day's candidates, in batches, through the models' serving signatures. No
   pushed model stops the run here, naming what is missing.
3. **choose_sends** (`notiflow/planning/`): a P(unsubscribe) per send (a calibrated rate
   by channel and recent sends), then the volume policy: per user the sends worth most
   (expected opens, less for each extra send of the day and for the unsubscribes they
   risk) under the daily caps, quiet hours, opt-ins and unsubscribes, and the day's
   volume budget (a Lagrange multiplier found by bisection); 5% of users explored at
   random with exact propensities. The plan is staged, not yet sendable (the
   `inject_fault` parameter plants a drill's fault in it).
4. **gate_plan**: the plan suite (Great Expectations) on the staged plan: contract,
   keys, caps, quiet hours, opt-ins, unsubscribes, one item per push. A critical failure
   stops the run: nothing is published, and the day is sent by the logging policy.
5. **publish_plan**: if this run's gate passed it, copies the staged plan to
   `plans.notification_plan` (one transaction) and updates the `notification_plan`
   Asset. The next `daily_features` run sends it (locally: the simulator executes it,
   recording what it drops).

Every task that touches the DuckDB warehouse holds the one-slot `warehouse` pool.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from notiflow import domain
from notiflow.settings import get_settings
from notiflow_airflow import tasks
from notiflow_airflow.common import WAREHOUSE_POOL, default_args
from notiflow_airflow.factories import START_DATE, asset, tfx_environment_task

settings = get_settings()
candidates = asset(settings, domain.SCORING_CANDIDATES)
plan = asset(settings, domain.PLAN_TABLE, schema=domain.PLAN_SCHEMA)


@dag(
    schedule=[candidates],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(settings),
    tags=["notiflow", "planning", "policy"],
    doc_md=__doc__,
    params={
        "ds": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Day to plan (default: the day after the landed day that "
            "triggered the run).",
        ),
        "inject_fault": Param(
            None,
            type=["null", "string"],
            enum=[None, *domain.PLAN_FAULT_DRILLS],
            description="Drill: plant this fault in the staged plan (gate_plan must stop it).",
        ),
    },
)
def notification_planning():
    @task(pool=WAREHOUSE_POOL)
    def plan_day(triggering_asset_events=None, params=None) -> str:
        return tasks.plan_day(settings, triggering_asset_events, (params or {}).get("ds"))

    day = plan_day()
    plan_ds = '{{ ti.xcom_pull(task_ids="plan_day") }}'
    score_candidates = tfx_environment_task(
        settings,
        "score_candidates",
        ["tfx_pipelines.scoring", "--ds", plan_ds],
        pool=WAREHOUSE_POOL,
    )

    # The plan day is `plan_ds`: `ds` is the run's own context value (its logical date).
    @task(pool=WAREHOUSE_POOL)
    def choose_sends(plan_ds: str, run_id=None, params=None) -> dict:
        return tasks.choose_sends(settings, plan_ds, run_id, (params or {}).get("inject_fault"))

    @task(pool=WAREHOUSE_POOL)
    def gate_plan(plan_ds: str, run_id=None) -> list[dict]:
        return tasks.run_quality_layer(settings, "plan", plan_ds, run_id)

    @task(pool=WAREHOUSE_POOL, outlets=[plan])
    def publish_plan(plan_ds: str, run_id=None, outlet_events=None) -> int:
        rows = tasks.publish_plan(settings, plan_ds, run_id)
        outlet_events[plan].extra = {"ds": plan_ds, "rows": rows}
        return rows

    chosen = choose_sends(day)
    day >> score_candidates >> chosen
    chosen >> gate_plan(day) >> publish_plan(day)


notification_planning()
