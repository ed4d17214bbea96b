"""The engagement model: P(open within 24h | user, channel, content, send hour).

A pipeline folder on the TFX template's shape (found by ``notiflow.pipelines`` through
its ``configs.py``; nothing outside this folder names it):
- ``configs.py``: every knob (names, source table, node ids, steps, hyperparameters)
  and ``pipeline_args(settings, end_ds)``, the arguments of ``create_pipeline``;
- ``pipeline.py``: ``create_pipeline`` (its input config and the TFMA ``eval_config``
  over the shared graph of ``common/graph.py``);
- ``hooks.py``: ``AFTER_NODE``, what runs after a node (data gate, evaluation report,
  model registry);
- ``features.py``, ``preprocessing.py`` (Transform), ``model.py`` (Trainer): user code;
- ``schema/``: the curated schema; ``pipeline_graph.json``: the compiled node graph
  (``python -m tfx_pipelines.run_component --pipeline engagement --print-graph``),
  which the orchestration reads without TFX.
"""
