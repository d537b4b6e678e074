"""A long candidate on every bar (test fixture): through the engine it is buy and hold."""

import numpy as np


class AlwaysLong:
    name = "always_long"
    params = {}

    def candidates(self, bars, params):
        return np.ones(bars.close.shape[0], dtype=np.int8)


MODULE = AlwaysLong()
