"""What every TFX pipeline of notiflow shares (no pipeline is named here).

- ``graph``: the training graph every pipeline's ``create_pipeline`` builds
  (``build_pipeline``: ExampleGen to Pusher, the pipeline supplies its input and eval
  configs);
- ``node_runner``: compile a pipeline and run ONE node of it as part of a shared run;
- ``checks``: run invariants the runner checks before any node (same ``--end-ds`` as
  ExampleGen, nothing below a validator with anomalies);
- ``hooks``: reusable post-node hooks (TFDV report + anomaly gate, evaluation report,
  registry record of a push) and their context, ``NodeRun``;
- ``gates``: readers of TFX artifacts (anomalies, metrics, validation, pushed model);
- ``tfdv_report``: the self-contained TFDV report of a run;
- ``tf_compat``: TensorFlow process setup.
"""
