#!/usr/bin/env bash
# Best-effort install of the system packages the test suite can use but does not require:
#   chromium   -- headless browser that renders HTML tearsheets (tests/integration/report skip without it).
#   bubblewrap -- `bwrap`, the OS confinement of the sandbox worker for agent-written modules; without it
#                 the worker runs at level "rlimits-only" and the bubblewrap-only sandbox tests skip.
# Idempotent and never fatal: does nothing for a package whose command is already on PATH; installs the
# missing ones with apt-get only when running as root on a machine with apt; otherwise (or on failure)
# prints why and exits 0, so `make test` keeps working everywhere and the tests report a clear skip reason.
set -u

have_chromium() {
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || command -v google-chrome >/dev/null 2>&1
}
have_bwrap() {
  command -v bwrap >/dev/null 2>&1
}

missing=()
have_chromium || missing+=(chromium)
have_bwrap || missing+=(bubblewrap)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: ${missing[*]} not found and apt-get is unavailable; tearsheet browser tests and/or" \
       "bubblewrap sandbox tests will be skipped (agent modules then run at level rlimits-only)" >&2
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "system-deps: ${missing[*]} not found; install (e.g. 'sudo apt-get install -y ${missing[*]}') to run" \
       "the tearsheet browser tests / the bubblewrap sandbox -- they are skipped until then" >&2
  exit 0
fi

echo "system-deps: installing ${missing[*]} (one-time, may take a minute)..." >&2
log=$(mktemp)
DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1
for pkg in "${missing[@]}"; do
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >>"$log" 2>&1; then
    echo "system-deps: $pkg installed" >&2
  else
    echo "system-deps: could not install $pkg (see the apt output below); its tests will be skipped" >&2
    tail -n 15 "$log" >&2
  fi
done
rm -f "$log"
exit 0
