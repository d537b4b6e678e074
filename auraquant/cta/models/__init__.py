"""Learned baselines: features from closed bars, labels, purging, per-window training and model artifacts.

torch and lightgbm (the `ml` extra) are imported lazily, inside the functions that train or predict, so
importing this package never needs them.
"""
