"""notiflow's Airflow glue: operators, DAG factories, task callables, the local
supervisor and the reports plugin.

Only the orchestration environment imports this package (the CLI commands in
:mod:`notiflow_airflow.commands` import Airflow only when they run). It builds on the
core (:mod:`notiflow`) and the gates (:mod:`expectations`); TFX work runs in the TFX
environment as one subprocess per component, found through :mod:`notiflow.pipelines`.
"""
