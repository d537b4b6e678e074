"""Landlock (Linux >= 5.13) filesystem and network confinement the worker applies to itself when bubblewrap
is not available: the `landlock` level.

After it, the worker may only read (and execute) the paths given as read-only — the Python installation,
the venv, the AuraQuant code, the modules directory, shared libraries, `/sys/devices/system/cpu`, and
`/dev/null` / `/dev/urandom` — and read and write only under its scratch directory. Everything else
(the workspace with its keys, trust list and store, the user config directory, `/proc` and so other
processes' environments) is refused by the kernel with EACCES. With ABI >= 4 TCP bind/connect are refused;
with ABI >= 6 signals and abstract UNIX sockets are scoped to the worker. Rules use only the rights of the
running kernel's ABI.
"""

from __future__ import annotations

import ctypes
import os
import struct

_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446
_CREATE_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FILE_RIGHTS_V1 = _EXECUTE | _WRITE_FILE | _READ_FILE
_ALL_V1 = (1 << 13) - 1
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version (0 when Landlock is absent or disabled)."""
    try:
        v = _libc().syscall(_SYS_CREATE, None, 0, _CREATE_VERSION)
    except (OSError, AttributeError):
        return 0
    return max(int(v), 0)


def _rights(abi: int) -> tuple[int, int]:
    """(all handled filesystem rights, the file-only subset) for `abi`."""
    handled, file_rights = _ALL_V1, _FILE_RIGHTS_V1
    if abi >= 2:
        handled |= _REFER
    if abi >= 3:
        handled |= _TRUNCATE
        file_rights |= _TRUNCATE
    if abi >= 5:
        handled |= _IOCTL_DEV
        file_rights |= _IOCTL_DEV
    return handled, file_rights


def restrict(read_only: list[str], read_write: list[str]) -> str | None:
    """Confine the calling process (all its threads must be created after, or be this one). None on success,
    else why Landlock is not in force. Missing paths are skipped."""
    abi = abi_version()
    if abi < 1:
        return "Landlock not available in this kernel"
    libc = _libc()
    handled, file_rights = _rights(abi)
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = struct.pack("<QQQ", handled, net, scoped)
    size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
    buf = ctypes.create_string_buffer(attr[:size], size)
    fd = libc.syscall(_SYS_CREATE, buf, size, 0)
    if fd < 0:
        return f"landlock_create_ruleset failed: errno {ctypes.get_errno()}"
    try:
        read = _READ_FILE | _READ_DIR | _EXECUTE
        for paths, access in ((read_only, read), (read_write, handled)):
            for p in paths:
                try:
                    pfd = os.open(p, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = access if os.path.isdir(p) else access & file_rights
                    rule = ctypes.create_string_buffer(struct.pack("<Qi", allowed, pfd), 12)
                    if libc.syscall(_SYS_ADD_RULE, fd, _RULE_PATH_BENEATH, rule, 0) != 0:
                        return f"landlock_add_rule({p}) failed: errno {ctypes.get_errno()}"
                finally:
                    os.close(pfd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"prctl(NO_NEW_PRIVS) failed: errno {ctypes.get_errno()}"
        if libc.syscall(_SYS_RESTRICT, fd, 0) != 0:
            return f"landlock_restrict_self failed: errno {ctypes.get_errno()}"
    finally:
        os.close(fd)
    return None
