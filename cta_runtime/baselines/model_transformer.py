"""Learned baseline (a Transformer encoder): long where the model's P(up over the next `horizon` bars) >
threshold, short where it is < 1 - threshold. Params, fitting and candidates: `LearnedBaseline`
(`auraquant/cta/strategy/learned_baseline.py`); the model itself: `auraquant/cta/models/nets.py`.
"""

from auraquant.cta.strategy.learned_baseline import LearnedBaseline


class ModelTransformer(LearnedBaseline):
    name = "model_transformer"


MODULE = ModelTransformer()
