"""TFX layer of notiflow: pipelines, custom components and their runner.

Layout (the TFX template's shape: one folder per pipeline, nothing shared names one):
- ``<name>/`` (e.g. ``engagement/``): one pipeline, found by ``notiflow.pipelines``
  through its ``configs.py`` (every knob, and ``pipeline_args(settings, end_ds)``);
  ``pipeline.py`` (``create_pipeline``), ``hooks.py`` (``AFTER_NODE``: what runs after
  a node), its user code and ``pipeline_graph.json`` (the compiled node graph);
- ``common/``: what every pipeline shares: the training graph (``graph.py``, which each
  ``create_pipeline`` calls), the one-node runner, run checks, reusable post-node hooks,
  TFX artifact readers, the TFDV report;
- ``components/``: custom components (DuckDB ExampleGen, DataValidator);
- ``run_component.py``: the entry point of each Airflow TFX task (it only wires);
  ``serving_check.py``: scores warehouse rows with a pipeline's newest pushed model.

Everything under this package runs in the TFX environment (``.venvs/tfx``), imports
nothing of notiflow's but the core (``notiflow``) and never Airflow; Airflow drives it
through ``python -m tfx_pipelines.run_component`` and reads the node graph from the
checked-in JSON file.
"""

import os

# TFX 1.16, TFT and TFMA need tf.keras to be tf-keras (Keras 2): models are saved and
# loaded through it. TensorFlow reads this flag once, at import, so it is set here,
# before any module of this package can import TensorFlow. It is process setup for
# TensorFlow, not a notiflow setting (those come from notiflow.settings only).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
