"""Universes: a named set of data versions of one timeframe, researched together (`uv_…`).

`model` holds the persisted object, `align` the common calendar with its availability mask, `service`
the store operations (create, show, load research bars, declare one holdout for every member).
"""
