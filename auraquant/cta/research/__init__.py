"""The research loop: goals, ITER_STATE, the anti-stagnation protocol, the offline autopilot, the session
wiring, and the `research` / `chat` / `demo` commands."""
