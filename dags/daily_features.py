"""
### daily_features

Lands one day of notification activity and turns it into gated features:

1. **simulate_day** writes day `ds` into the raw layer (the simulator stands in
   for the loggers; the `inject_fault` parameter drills a data fault).
2. **dbt** builds staging → intermediate → marts, each model followed by its tests.
3. **gate_engagement_examples** runs the Great Expectations checkpoint on the
   day's `ml_engagement_examples` rows and publishes Data Docs. Only when every
   critical expectation passes does it update the `ml_engagement_examples` Asset,
   which schedules `engagement_training`.

Every task that touches the DuckDB warehouse holds the one-slot `warehouse` pool.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior

from notiflow.orchestration import (
    DEFAULT_ARGS,
    ENGAGEMENT_EXAMPLES_ASSET_NAME,
    SIMULATOR_FAULTS,
    WAREHOUSE_POOL,
    asset_uri,
    dbt_paths,
    run_quality_gate,
    task_environment,
)
from notiflow.orchestration import (
    simulate_day as land_simulated_day,
)
from notiflow.settings import get_settings

settings = get_settings()
dbt = dbt_paths(settings)
engagement_examples = Asset(
    name=ENGAGEMENT_EXAMPLES_ASSET_NAME, uri=asset_uri(settings, ENGAGEMENT_EXAMPLES_ASSET_NAME)
)


@dag(
    # Data-interval semantics: the run of [D, D+1) starts after day D ends and lands day D.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["notiflow", "features", "dbt", "data-quality"],
    doc_md=__doc__,
    params={
        "inject_fault": Param(
            None,
            type=["null", "string"],
            enum=[None, *SIMULATOR_FAULTS],
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
    def simulate_day(ds: str | None = None, params: dict | None = None) -> dict[str, int]:
        params = params or {}
        return land_simulated_day(
            settings, ds, params.get("inject_fault"), params.get("fault_severity", 0.2)
        )

    dbt_build = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=dbt["project"],
            manifest_path=dbt["manifest"],
            env_vars=task_environment(settings) | settings.dbt_environment(),
        ),
        profile_config=ProfileConfig(
            profile_name="notiflow",
            target_name=settings.warehouse_target,
            profiles_yml_filepath=dbt["profiles"],
        ),
        execution_config=ExecutionConfig(
            dbt_executable_path=dbt["executable"], invocation_mode=InvocationMode.SUBPROCESS
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            # tests spanning models (relationships) run once all their models are built
            should_detach_multiple_parents_tests=True,
            emit_datasets=False,
            dbt_executable_path=dbt["executable"],
            invocation_mode=InvocationMode.SUBPROCESS,
        ),
        operator_args={"pool": WAREHOUSE_POOL, "install_deps": False},
    )

    @task(pool=WAREHOUSE_POOL, outlets=[engagement_examples])
    def gate_engagement_examples(ds: str | None = None, outlet_events=None) -> list[dict]:
        outcomes = run_quality_gate(settings, ENGAGEMENT_EXAMPLES_ASSET_NAME, ds)
        outlet_events[engagement_examples].extra = {"ds": ds}
        return outcomes

    simulate_day() >> dbt_build >> gate_engagement_examples()


daily_features()
