"""Confinement of agent-written strategy modules: they run only in a separate, confined worker process.

- `policy`: limits, the confinement level in force (bubblewrap / rlimits-only), the workspace requirement;
- `client`: starting, talking to and killing workers (`Worker`, `WorkerPool`);
- `worker`: the worker process itself (runs the modules, the engine and the look-ahead check);
- `wire`: the frame format (raw arrays + JSON, never pickle); `seccomp`: the worker's syscall filter;
- `isolation`: the engine-facing operations (prepare, sweep, lookahead, describe, validate);
- `errors`: the typed failures (`ModuleSandboxError` and subclasses).
See docs/sandbox.md for the threat model.
"""
