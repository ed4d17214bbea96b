"""The ranking model: orders the pins of an email digest by P(click | user, pin).

A pipeline folder on the TFX template's shape, like ``tfx_pipelines/engagement``
(found by ``notiflow.pipelines`` through its ``configs.py``; nothing outside this
folder names it):
- ``configs.py``: every knob and ``pipeline_args(settings, end_ds)``;
- ``pipeline.py``: ``create_pipeline`` and the TFMA ``eval_config`` (NDCG@3 by list);
- ``hooks.py``: ``AFTER_NODE`` (data gate, evaluation report, model registry);
- ``features.py``, ``preprocessing.py`` (Transform), ``model.py`` (Trainer: a listwise
  softmax model with a training-only position tower);
- ``schema/``: the curated schema; ``pipeline_graph.json``: the compiled node graph
  (``python -m tfx_pipelines.run_component --pipeline ranking --print-graph``).
"""
