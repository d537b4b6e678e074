"""A small seccomp-BPF filter the worker installs on itself before it loads any agent module (x86-64 only).

It does not depend on bubblewrap, so it also holds at the `rlimits-only` level:
- process creation: `fork`, `vfork`, `execve`, `execveat` and `clone` without CLONE_THREAD kill the whole
  worker with SIGSYS (the parent reports `SandboxForkRefused`); `clone3` fails with ENOSYS so the C library
  falls back to `clone` (threads keep working: numba's parallel kernel needs them);
- network: `socket` for any family but AF_UNIX fails with EACCES;
- escape and interference: `ptrace`, `process_vm_readv/writev`, `unshare`, `setns`, `mount`, `umount2`,
  `pivot_root`, `chroot`, `setrlimit`, `prlimit64`, `kexec_load`, `bpf`, `perf_event_open`,
  `userfaultfd`, `keyctl`, `add_key`, `request_key` and `tkill` fail with EPERM; `kill`/`tgkill` may only
  target the worker itself (so even a root worker cannot signal the research process);
- the x32 ABI and any other architecture are killed.
Installed with SECCOMP_FILTER_FLAG_TSYNC so threads started earlier are covered too.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JSET_K = 0x45
_JGE_K = 0x35
_RET_K = 0x06

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
_CLONE_THREAD = 0x00010000
_AF_UNIX = 1
_EPERM, _EACCES, _ENOSYS = 1, 13, 38

_NR = {"fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "clone": 56, "clone3": 435, "socket": 41,
       "kill": 62, "tgkill": 234, "tkill": 200}
_EPERM_CALLS = {"ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "unshare": 272, "setns": 308,
                "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "setrlimit": 160,
                "prlimit64": 302, "kexec_load": 246, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
                "keyctl": 250, "add_key": 248, "request_key": 249, "tkill": 200, "open_tree": 428,
                "move_mount": 429, "fsopen": 430, "fsmount": 432, "mount_setattr": 442}

_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1
_SYS_SECCOMP = 317


def _stmt(code: int, k: int) -> tuple[int, int, int, int]:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def program(own_pid: int) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions; `own_pid` is the only target `kill`/`tgkill` may name."""
    kill = _stmt(_RET_K, _RET_KILL_PROCESS)
    allow = _stmt(_RET_K, _RET_ALLOW)
    p: list[tuple[int, int, int, int]] = [
        _stmt(_LD_W_ABS, 4),  # arch
        _jump(_JEQ_K, _AUDIT_ARCH_X86_64, 1, 0),
        kill,
        _stmt(_LD_W_ABS, 0),  # syscall number
        _jump(_JGE_K, _X32_BIT, 0, 1),
        kill,
    ]
    for name in ("fork", "vfork", "execve", "execveat"):
        p += [_jump(_JEQ_K, _NR[name], 0, 1), kill]
    p += [_jump(_JEQ_K, _NR["clone3"], 0, 1), _stmt(_RET_K, _RET_ERRNO | _ENOSYS)]
    for nr in sorted(set(_EPERM_CALLS.values())):
        p += [_jump(_JEQ_K, nr, 0, 1), _stmt(_RET_K, _RET_ERRNO | _EPERM)]
    # clone: threads only (flags in args[0], low word at offset 16)
    p += [_jump(_JEQ_K, _NR["clone"], 0, 4), _stmt(_LD_W_ABS, 16), _jump(_JSET_K, _CLONE_THREAD, 0, 1), allow,
          kill]
    # socket: AF_UNIX only
    p += [_jump(_JEQ_K, _NR["socket"], 0, 4), _stmt(_LD_W_ABS, 16), _jump(_JEQ_K, _AF_UNIX, 0, 1), allow,
          _stmt(_RET_K, _RET_ERRNO | _EACCES)]
    # kill / tgkill: only the worker's own pid (args[0]; 0 = own process group is refused too)
    for name in ("kill", "tgkill"):
        p += [_jump(_JEQ_K, _NR[name], 0, 4), _stmt(_LD_W_ABS, 16), _jump(_JEQ_K, own_pid, 0, 1), allow,
              _stmt(_RET_K, _RET_ERRNO | _EPERM)]
    p.append(allow)
    return p


def supported() -> bool:
    """Whether this filter applies on this machine (Linux x86-64)."""
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


def install() -> str | None:
    """Install the filter on the calling process (all threads). None on success, else why it is absent."""
    if not supported():
        return f"seccomp filter not available on {platform.system()}/{platform.machine()}"
    prog = program(os.getpid())
    raw = b"".join(struct.pack("<HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class _Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = _Fprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return f"prctl(NO_NEW_PRIVS) failed: errno {ctypes.get_errno()}"
    rc = libc.syscall(_SYS_SECCOMP, _SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC, ctypes.byref(fprog))
    if rc != 0:
        return f"seccomp() failed: errno {ctypes.get_errno()}"
    return None
