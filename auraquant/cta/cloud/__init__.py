"""Cloud offload: portable job bundles, cost estimates, remote backends (Dask, Claude Managed Agents), and the
local reproduction gate that decides whether outside results are trusted.

Job kinds: `sweep`, `walkforward`, `train` (a learned baseline's model per walk-forward window, `training`) and
`montecarlo` (a block bootstrap in seeded chunks, `montecarlo_job`); a sweep may ship the workspace's own modules
with their digests (`bundle.ModuleRef`).

Flow: `bundle.make_job` + `bundle.write_bundle` (job spec + bars, content-hashed; `jobs` builds one from a
workspace) -> `cost.calibrate` + `cost.estimate_job` (routing; long or costly runs need `--yes`) -> a backend
runs `runner.run_job` somewhere: here, on a Dask cluster (`dask_backend`), or in a Managed Agents container
(`managed`, cleaned up on Ctrl-C and SIGTERM (`interrupts`) and by `doctor` after a crash; API refusals
explained by `api_errors`) -> `trust.accept_results` recomputes locally (sweeps: the
top configurations + an audit sample drawn with a local secret, `audit`; every row checked by `consistency`;
walk-forwards: per window, `walkforward_check`) and signs + archives only locally recomputed numbers.

CLI: `cli.app` (`auraquant cloud bundle | estimate | run | status | doctor`) and `cli.job_app`
(`auraquant job run BUNDLE --out DIR`); `python -m auraquant.cta.cloud job run ...` works without the
top-level CLI. Agent tools: `auraquant.cta.tools.cloud.TOOLS`.
"""
