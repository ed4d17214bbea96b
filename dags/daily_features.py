"""
### daily_features

Lands one day of notification activity and turns it into gated features:

1. **land_day** writes day `ds` into the raw layer from the `source` setting: the
   simulator (standing in for the loggers and senders; the `inject_fault` parameter
   drills a data fault), or the day's files in the landing folder (a team's own logs,
   `notiflow/landing.py`). Rows that break a raw table's contract (e.g. a renamed
   column) are refused whole, naming the file or table and the column.
2. **gate_raw** runs the raw layer's Great Expectations suites on the day (schema,
   keys, enums, timestamps inside the day, ranges, volume against the trailing
   week). A critical failure stops the run before dbt touches anything.
3. **dbt** builds the day incrementally (`--vars ds`): staging → intermediate →
   marts, each model followed by its tests; a failing test stops its dependants.
   One `dbt build` does the work (`dbt.dbt_producer_watcher`); a task per model and
   per test follows its result (Cosmos's watcher mode), and a retried one rebuilds
   its own node.
4. **gate_features** runs the feature marts' suites on the day. Only when every
   critical expectation passes does it update the mart Assets
   (`ml_engagement_examples` schedules `engagement_training`).
5. **evaluate_policy** measures the day the landing made mature (D - 1): realized
   opens, clicks, unsubscribes and activity per user for the day's policy, its
   exploration share and the randomized holdout, beside the off-policy estimate made
   before it was sent (`notiflow/planning/evaluation.py`; the plan report shows it).
   A day planned but not published says that it fell back to the logging policy.
6. **publish_dbt_docs** refreshes the dbt docs report.

Every check result lands in `quality.data_quality_results` and in the reports
inside Airflow. Every task that touches the DuckDB warehouse holds the one-slot
`warehouse` pool.

Where the logic lives: landing and the gates in `notiflow_airflow/tasks.py` (over the
simulator in `notiflow/simulator/` and the suites in `expectations/suites.py`), the
models in `dbt_project/`, the mart names in `notiflow/domain.py`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from notiflow import domain
from notiflow.settings import get_settings
from notiflow_airflow import tasks
from notiflow_airflow.common import WAREHOUSE_POOL, default_args
from notiflow_airflow.factories import asset, dbt_task_group

settings = get_settings()
mart_assets = [asset(settings, name) for name in domain.FEATURE_MARTS]


@dag(
    # Data-interval semantics: the run of [D, D+1) starts after day D ends and lands day D.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(settings),
    tags=["notiflow", "features", "dbt", "data-quality"],
    doc_md=__doc__,
    params={
        "inject_fault": Param(
            None,
            type=["null", "string"],
            enum=[None, *domain.FAULT_DRILLS],
            description="Drill: inject this data fault into the simulated day.",
        ),
        "fault_severity": Param(
            0.2,
            type="number",
            minimum=0.01,
            maximum=1.0,
            description="Share of rows the fault hits.",
        ),
    },
)
def daily_features():
    @task(pool=WAREHOUSE_POOL)
    def land_day(ds=None, run_id=None, params=None) -> dict[str, int]:
        params = params or {}
        return tasks.land_day(
            settings, ds, params.get("inject_fault"), params.get("fault_severity", 0.2), run_id
        )

    @task(pool=WAREHOUSE_POOL)
    def gate_raw(ds=None, run_id=None) -> list[dict]:
        return tasks.run_quality_layer(settings, "raw", ds, run_id)

    dbt_build = dbt_task_group(settings)

    @task(pool=WAREHOUSE_POOL, outlets=mart_assets)
    def gate_features(ds=None, run_id=None, outlet_events=None) -> list[dict]:
        outcomes = tasks.run_quality_layer(settings, "features", ds, run_id)
        for mart in mart_assets:
            outlet_events[mart].extra = {"ds": ds}
        return outcomes

    @task(pool=WAREHOUSE_POOL)
    def evaluate_policy(ds=None) -> dict:
        return tasks.evaluate_policy(settings, ds)

    @task(pool=WAREHOUSE_POOL)
    def publish_dbt_docs() -> str:
        from notiflow.dbt import publish_docs

        return str(publish_docs(settings))

    gated = land_day() >> gate_raw() >> dbt_build >> gate_features()
    gated >> [evaluate_policy(), publish_dbt_docs()]


daily_features()
