"""Walk-forward experiments: turning single backtests into evidence (README and AGENTS.md §4).

Modules, one concept each:
- `config`: walk-forward and search settings, the window plan;  `models`: Run, RunResult, WindowResult;
- `sealed`: the bar access that cannot reach the sealed holdout;  `holdout`: the one explicit holdout score;
- `search`: the per-window Optuna TPE search (batched ask/tell over `run_sweep`, resumable storage);
- `window`: search -> validation re-rank -> target evaluation;  `executors`: threads or Dask;
- `runner`: runs, artifacts, resume, status;  `stitch`: the stitched OOS curve and its summary;
- robustness statistics: `montecarlo`, `pbo` (CSCV), `spa` (arch SPA / Reality Check), `deflated` (DSR
  inputs; formulas owned by `backtest.metrics`), and `robustness` (what a finished run stores);
- `compare`: run A vs run B;  `cli`: `auraquant experiment ...`.
"""
