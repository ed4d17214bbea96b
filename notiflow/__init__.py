"""notiflow's core: settings, domain facts, table contracts, warehouse access, the model
registry, where the TFX pipelines are, the simulator and the CLI.

Installed in every environment (orchestration, dbt, TFX), it imports nothing of the
other layers (``notiflow_airflow``, ``expectations``, ``tfx_pipelines``) and no Airflow,
Great Expectations or TensorFlow (``tests/unit/test_architecture.py``).
"""
