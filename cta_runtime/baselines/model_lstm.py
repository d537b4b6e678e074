"""Learned baseline (an LSTM): long where the model's P(up over the next `horizon` bars) > threshold, short
where it is < 1 - threshold. Params, fitting and candidates: `LearnedBaseline`
(`auraquant/cta/strategy/learned.py`); the model itself: `auraquant/cta/models/nets.py`.
"""

from auraquant.cta.strategy.learned import LearnedBaseline


class ModelLstm(LearnedBaseline):
    name = "model_lstm"


MODULE = ModelLstm()
