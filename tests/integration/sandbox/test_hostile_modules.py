"""Hostile agent modules, written as if they had slipped past the static guard (the file is written directly),
run through the engine's isolation path at both confinement levels.

Every case must be contained: the call raises the typed `ModuleSandboxError` subclass naming the cause
(or, for a background thread, returns normally without effect), no planted secret appears in anything the
research process receives, no protected file changes, nothing is written outside scratch, the 127.0.0.1
listener accepts no connection, the module is never imported into this process, and a following call
with a clean module works (the session goes on). Cases that need filesystem confinement skip at
`rlimits-only`, which (documented in docs/sandbox.md) has none. The `landlock` level shares the process
setup of `rlimits-only` (same limits, seccomp, reply checks) and adds filesystem and TCP confinement, so
it runs the filesystem and network cases.
"""

from __future__ import annotations

import base64
import os
import sys
import textwrap
import time

import pytest

from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.sandbox import errors, isolation
from auraquant.cta.sandbox.client import CODE_ROOT
from auraquant.cta.strategy.spec import Spec

from .conftest import SECRETS, Lab

pytestmark = pytest.mark.slow
FS_ONLY = "rlimits-only has no filesystem confinement (documented fallback)"
NET_CASES = {"connect_listener", "udp_send", "http_request", "kill_parent"}


def _module(name: str, body: str, top: str = "") -> str:
    return (f"import numpy as np\n{textwrap.dedent(top)}\n\nclass M:\n    name = {name!r}\n    params = {{}}\n\n"
            f"    def candidates(self, bars, params):\n{textwrap.indent(textwrap.dedent(body), ' ' * 8)}\n"
            f"        return np.zeros(len(bars), dtype=np.int8)\n\n\nMODULE = M()\n")


def _accepted(lab: Lab) -> bool:
    try:
        conn, _ = lab.listener.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def _clean_call_works(lab: Lab) -> None:
    prep = prepare(lab.bars, Spec(baseline={"name": "clean"}), None, lab.runtime)
    assert prep.sig_pool.shape[1] == len(lab.bars) and int(prep.sig_pool[1].sum()) == 6


def _assert_contained(lab: Lab, text: str) -> None:
    for secret in SECRETS.values():
        assert secret not in text
    assert lab.protected() == lab.snapshot
    assert sorted(os.listdir(lab.outside)) == []
    assert not _accepted(lab)
    assert not any(k.startswith("_aq_ws_") for k in sys.modules)
    assert not (CODE_ROOT / "auraquant" / "pwned.py").exists()
    assert not (lab.runtime / "baselines" / "evil.py").exists()


def run_case(lab: Lab, name: str, src: str, expect: type[errors.ModuleSandboxError], match: str) -> str:
    (lab.runtime / "baselines" / f"{name}.py").write_text(src)
    with pytest.raises(expect) as info:
        prepare(lab.bars, Spec(baseline={"name": name}), None, lab.runtime)
    msg = str(info.value)
    assert match in msg, msg
    assert "\n" not in msg.strip() or len(msg) < 2100
    _assert_contained(lab, msg)
    _clean_call_works(lab)
    _assert_contained(lab, "")
    return msg


def _paths(lab: Lab) -> dict[str, str]:
    return {"KEY": str(lab.key), "TRUST": str(lab.trust), "STORE": str(lab.store), "APPROVER": str(lab.approver),
            "OUTSIDE": str(lab.outside), "WS": str(lab.ws), "PORT": str(lab.port), "PARENT": str(os.getpid()),
            "CODE": str(CODE_ROOT / "auraquant")}


def _fill(code: str, lab: Lab) -> str:
    for k, v in _paths(lab).items():
        code = code.replace(f"@{k}@", v)
    return code


# (case, body, top-level code, expected error, message fragment, needs filesystem confinement)
CASES = [
    ("read_witness_key", "raise ValueError(open('@KEY@').read())", "", errors.SandboxDenied, "forbids", True),
    ("read_trust_list", "raise ValueError(open('@TRUST@').read())", "", errors.SandboxDenied, "forbids", True),
    ("read_store", "raise ValueError(open('@STORE@', 'rb').read())", "", errors.SandboxDenied, "forbids", True),
    ("read_user_config", "raise ValueError(open('@APPROVER@').read())", "", errors.SandboxDenied, "forbids", True),
    ("read_parent_environ", "raise ValueError(open('/proc/@PARENT@/environ', 'rb').read())", "",
     errors.SandboxDenied, "forbids", True),
    ("list_workspace", "import os\nraise ValueError(os.listdir('@WS@/.aura'))", "", errors.SandboxDenied,
     "forbids", True),
    ("write_outside", "open('@OUTSIDE@/pwned', 'w').write('x')", "", errors.SandboxDenied, "forbids", True),
    ("tamper_trust_list", "open('@TRUST@', 'w').write('{}')", "", errors.SandboxDenied, "forbids", True),
    ("write_module_dir", "err = None\nfor p in ('/sandbox/modules/baselines/evil.py', "
                         "'@WS@/cta_runtime/baselines/evil.py'):\n    try:\n        open(p, 'w').write('x')\n"
                         "    except OSError as exc:\n        err = exc\nraise err", "", errors.SandboxDenied,
     "forbids", True),
    ("write_code", "open('@CODE@/pwned.py', 'w').write('x')", "", errors.SandboxDenied, "forbids", True),
    ("load_time_key_read", "", "SECRET = open('@KEY@').read()", errors.SandboxDenied, "forbids", True),
    ("approve_as_human", "from auraquant.workspace import Workspace\nWorkspace.open('@WS@').store.schema_version()", "",
     errors.ModuleSandboxError, "", True),
    ("env_secrets", "import os\nraise ValueError(repr(dict(os.environ)))", "", errors.ModuleRaised, "raised", False),
    ("connect_listener", "import socket\nsocket.create_connection(('127.0.0.1', @PORT@), timeout=2)", "",
     errors.SandboxDenied, "forbids", False),
    ("udp_send", "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', "
                 "('127.0.0.1', @PORT@))", "", errors.SandboxDenied, "forbids", False),
    ("http_request", "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:@PORT@/', timeout=2)", "",
     errors.SandboxDenied, "forbids", False),
    ("subprocess_run", "import subprocess\nsubprocess.run(['/bin/true'])", "", errors.SandboxForkRefused,
     "fork", False),
    ("os_fork", "import os\nos.fork()", "", errors.SandboxForkRefused, "fork", False),
    ("os_system", "import os\nos.system('true')", "", errors.SandboxForkRefused, "fork", False),
    ("os_execv", "import os\nos.execv('/bin/true', ['true'])", "", errors.SandboxForkRefused, "fork", False),
    ("ctypes_system", "import ctypes\nctypes.CDLL(None).system(b'true')", "", errors.SandboxForkRefused, "fork",
     False),
    ("multiprocessing", "import multiprocessing\nmultiprocessing.Process(target=len, args=('',)).start()", "",
     errors.SandboxForkRefused, "fork", False),
    ("pickle_payload", "import pickle\npickle.loads(PAYLOAD)",
     "import os, pickle\nclass P:\n    def __reduce__(self):\n        return (os.system, ('true',))\n"
     "PAYLOAD = pickle.dumps(P())", errors.SandboxForkRefused, "fork", False),
    ("exec_hidden_string", "", "import base64\nexec(base64.b64decode(b'"
     + base64.b64encode(b"import os\nos.fork()").decode() + "'))", errors.SandboxForkRefused, "fork", False),
    ("kill_parent", "import os\nos.kill(@PARENT@, 9)", "", errors.SandboxDenied, "forbids", False),
    ("unshare_namespace", "import os\nos.unshare(os.CLONE_NEWUSER)", "", errors.SandboxDenied, "forbids", False),
    ("raise_rlimit", "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))", "",
     errors.ModuleRaised, "not allowed to raise", False),
    ("infinite_loop", "while True:\n    pass", "", errors.SandboxTimeout, "timed out", False),
    ("sleep_forever", "import time\ntime.sleep(10**6)", "", errors.SandboxTimeout, "timed out", False),
    ("memory_bytearray", "x = bytearray(64 * 2**30)", "", errors.SandboxMemoryLimit, "memory limit", False),
    ("memory_growth", "keep = []\nwhile True:\n    keep.append(np.empty(2**27))", "", errors.SandboxMemoryLimit,
     "memory limit", False),
    ("stderr_flood", "import sys\nwhile True:\n    sys.stderr.write('x' * 65536)", "", errors.SandboxOutputFlood,
     "output flood", False),
    ("print_flood", "while True:\n    print('y' * 4096)", "", errors.SandboxOutputFlood, "output flood", False),
    ("file_flood", "with open('big.bin', 'wb') as fh:\n    while True:\n        fh.write(b'z' * 2**20)", "",
     errors.SandboxOutputFlood, "output flood", False),
    ("forge_reply_channel", "import os\nfor fd in range(3, 40):\n    try:\n        os.write(fd, b'NOPE' * 64)\n"
     "    except OSError:\n        pass", "", errors.SandboxProtocolViolation, "", False),
    ("forge_huge_array", "import os, json, struct\nh = json.dumps({'ok': True, 'arrays': [{'name': 'sig_pool', "
     "'dtype': '<f8', 'shape': [2**20, 2**19]}]}).encode()\nfor fd in range(3, 40):\n    try:\n"
     "        os.write(fd, b'AQSB' + struct.pack('<I', len(h)) + h)\n    except OSError:\n        pass", "",
     errors.SandboxProtocolViolation, "", False),
    ("forge_object_dtype", "import os, json, struct\nh = json.dumps({'ok': True, 'arrays': [{'name': 'x', "
     "'dtype': '|O', 'shape': [1]}]}).encode()\nfor fd in range(3, 40):\n    try:\n"
     "        os.write(fd, b'AQSB' + struct.pack('<I', len(h)) + h)\n    except OSError:\n        pass", "",
     errors.SandboxProtocolViolation, "", False),
    ("hard_exit", "import os\nos._exit(3)", "", errors.SandboxCrashed, "crashed", False),
    ("segfault", "import ctypes\nctypes.string_at(0)", "", errors.SandboxCrashed, "SIGSEGV", False),
    ("system_exit", "raise SystemExit(0)", "", errors.ModuleRaised, "SystemExit", False),
    ("recursion", "def f(n):\n    return f(n + 1)\nf(0)", "", errors.ModuleRaised, "RecursionError", False),
]


_RUNS = [pytest.param(level, *c, id=f"{level}-{c[0]}") for c in CASES
         for level in ("bubblewrap", *(("landlock",) if c[5] or c[0] in NET_CASES else ()), "rlimits-only")]


@pytest.mark.parametrize(("lab", "case", "body", "top", "expect", "match", "fs"), _RUNS, indirect=["lab"])
def test_hostile_module_is_contained(lab: Lab, case: str, body: str, top: str,
                                     expect: type[errors.ModuleSandboxError], match: str, fs: bool) -> None:
    if fs and lab.level == "rlimits-only":
        pytest.skip(FS_ONLY)
    if expect is errors.SandboxTimeout:
        lab.set_limits(wall_s=3)  # the case waits out the wall limit: keep it short
    msg = run_case(lab, case, _module(case, _fill(body, lab) or "pass", _fill(top, lab)), expect, match)
    if case == "env_secrets":  # the worker's whole environment came back: none of the parent's secrets
        assert "ANTHROPIC_API_KEY" not in msg and "AURAQUANT_" not in msg and "TOKEN" not in msg
        assert "PATH" in msg


def test_cpu_time_limit_kills_a_busy_module(lab: Lab) -> None:
    lab.set_limits(cpu_s=3, wall_s=120)
    msg = run_case(lab, "cpu_burn", _module("cpu_burn", "x = 0\nwhile True:\n    x += 1"), errors.SandboxTimeout,
                   "CPU")
    assert "3 s" in msg


def test_background_thread_cannot_act_after_the_call(lab: Lab) -> None:
    if lab.level == "rlimits-only":
        pytest.skip(FS_ONLY)
    top = ("import threading, time\ndef _later():\n    time.sleep(1)\n    open('@OUTSIDE@/late', 'w').write('x')\n"
           "    open('@TRUST@', 'w').write('{}')\n")
    src = _module("late_thread", "threading.Thread(target=_later, daemon=True).start()", _fill(top, lab))
    (lab.runtime / "baselines" / "late_thread.py").write_text(src)
    prep = prepare(lab.bars, Spec(baseline={"name": "late_thread"}), None, lab.runtime)
    assert prep.sig_pool.shape == (2, len(lab.bars))
    time.sleep(2.5)
    _assert_contained(lab, "")
    _clean_call_works(lab)


def test_spinning_thread_is_killed_and_the_session_goes_on(lab: Lab) -> None:
    lab.set_limits(cpu_s=3, wall_s=60)
    top = "import threading\ndef _spin():\n    while True:\n        pass\n"
    src = _module("spinner", "threading.Thread(target=_spin, daemon=True).start()", top)
    (lab.runtime / "baselines" / "spinner.py").write_text(src)
    prepare(lab.bars, Spec(baseline={"name": "spinner"}), None, lab.runtime)  # returns; the thread spins on
    time.sleep(6)  # past the worker's CPU limit: it is killed, the pool replaces it
    _clean_call_works(lab)
    _assert_contained(lab, "")


def test_validation_contains_a_load_time_attack(lab: Lab) -> None:
    """module_write's path: stages 2-4 run in a one-shot worker; a fork at import is killed there."""
    src = _module("forker", "pass", "import os\nos.fork()")
    staged = lab.root / f"stage-{lab.level}"
    (staged / "baselines").mkdir(parents=True, exist_ok=True)
    (staged / "baselines" / "forker.py").write_text(src)
    with pytest.raises(errors.SandboxForkRefused):
        isolation.validate("baselines", "forker", lab.bars, staged, config_dir=lab.runtime)
    broken = _module("broken", "pass", "raise ValueError('no good')")
    (staged / "baselines" / "broken.py").write_text(broken)
    verdict = isolation.validate("baselines", "broken", lab.bars, staged, config_dir=lab.runtime)
    assert verdict.stage == "load" and verdict.message == "ValueError: no good"
    if lab.level != "rlimits-only":  # at rlimits-only the file is readable: no filesystem confinement
        leak = _module("leaker", "pass", _fill("raise ValueError(open('@KEY@').read())", lab))
        (staged / "baselines" / "leaker.py").write_text(leak)
        with pytest.raises(errors.SandboxDenied, match="FileNotFoundError|PermissionError") as info:
            isolation.validate("baselines", "leaker", lab.bars, staged, config_dir=lab.runtime)
        _assert_contained(lab, str(info.value))
    _assert_contained(lab, "")
    _clean_call_works(lab)
