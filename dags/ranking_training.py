"""
### ranking_training

Trains, validates and pushes the ranking model (which pins to put in a notification,
and in which order) with the TFX pipeline in `tfx_pipelines/ranking/` (its knobs in
`configs.py`), whenever gated ranking examples land (the `ml_ranking_examples` Asset).

The model is listwise: items of one email digest form a list, trained with a softmax
cross-entropy over the list; the logged position enters training through a shallow
position tower only, so the served score (`serving_default`, serialized (user, pin)
examples of warehouse features, no position) ranks by relevance, not by where the item
was shown. Clicked digests are few, so the model is a 5-fold cross-validated ensemble:
each member early-stops on its held-out fold, the served score is their mean.
ExampleValidator (TFDV) fails on schema anomalies, drift and skew; the
Evaluator blesses only a model whose NDCG@3 per digest is above the floor and no worse
than the last blessed one; the Pusher pushes only a blessed model (otherwise it is
skipped and the `ranking_model` Asset gets no event).

The DAG is built by `notiflow_airflow.factories.training_dag`; the window logic is in
`notiflow_airflow.tasks`, what runs after each node in `tfx_pipelines/ranking/hooks.py`.
"""

from __future__ import annotations

from notiflow import domain
from notiflow_airflow.factories import training_dag

training_dag(
    pipeline="ranking",
    trigger=domain.RANKING_EXAMPLES,
    model_asset=domain.RANKING_MODEL,
    doc_md=__doc__,
)
