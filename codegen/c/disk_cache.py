"""The C backend's on-disk cache: content-addressed entries under ``<cache dir>/c``, published
atomically, loaded only when they are ours (owner, mode, marker, no symlinks) and their
checksum matches; scratch left by killed compiles is swept."""
from __future__ import annotations

import atexit
import collections
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import warnings

from tracegrad import options
from tracegrad.errors import CompileError, TracegradWarning

from .. import cache_files


# Part of every key and probe record: bump when the key recipe, the entry layout or the flags
# change meaning, so old entries are simply never hit again.
RUNTIME_FORMAT = 1
COMPILE_TIMEOUT = 900   # seconds for one kernel: generous, a hung compiler must not hang forever
STALE_TEMP_SECONDS = 3600  # leftovers of killed publishers older than this are swept
# scratch directories of killed compiles in $TMPDIR older than this are swept by the next
# compile: longer than a live compile may leave its directory untouched (COMPILE_TIMEOUT)
STALE_SCRATCH_SECONDS = 2 * COMPILE_TIMEOUT
SUBDIR = "c"            # C artefacts live in <cache_dir>/c; other caches may share cache_dir
CACHE_STATS: collections.Counter = collections.Counter(
    compiles=0, disk_hits=0, memory_hits=0, rebuilt_corrupt=0)
_DIRS: dict[str, str] = {}         # configured entry directory -> directory actually used
_PRIVATE: dict[str, str | None] = {"dir": None}
_WARNED = [False]
_SWEPT_SCRATCH = [False]           # $TMPDIR swept once per process, on its first compile


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _my_uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def _untrusted(st: os.stat_result, what: str, path: str, *, is_dir: bool) -> str | None:
    """Why code found at ``path`` must not be loaded, or None when it may be."""
    kind_ok = stat.S_ISDIR(st.st_mode) if is_dir else stat.S_ISREG(st.st_mode)
    if not kind_ok:
        return f"{what} {path} is not a {'directory' if is_dir else 'regular file'}"
    uid = _my_uid()
    if uid is not None and st.st_uid != uid:
        return f"{what} {path} is owned by uid {st.st_uid}, not by this user (uid {uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"{what} {path} is writable by group or others (mode "
                f"{stat.S_IMODE(st.st_mode):o}); anyone could plant code in it")
    return None


def _configured_dir() -> str:
    return os.path.join(os.fspath(options.cache_dir()), SUBDIR)


def _entry_dir() -> str:
    """The directory this process reads and writes entries in (decided once per setting)."""
    configured = _configured_dir()
    base = os.path.dirname(configured)
    used = _DIRS.get(configured)
    if used is not None:
        return used
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        try:
            os.mkdir(configured, 0o700)
        except FileExistsError:
            pass
        problem = (_untrusted(os.stat(base), "the cache directory", base, is_dir=True)
                   or _untrusted(os.stat(configured, follow_symlinks=False),
                                 "the cache directory", configured, is_dir=True)
                   or _claim(base))
    except OSError as e:
        problem = f"it cannot be created ({e})"
    used = configured if problem is None else _fall_back(configured, problem)
    _DIRS[configured] = used
    return used


def _claim(base: str) -> str | None:
    """Why ``base/c`` is not tracegrad's (no marker and files tracegrad did not write, or a
    symlink), or None after marking it as tracegrad's: only a marked directory is ever
    written to or cleared."""
    try:
        fd = cache_files.open_dir(base, SUBDIR)
    except cache_files.NotOurs as e:
        return str(e)
    try:
        return cache_files.claim(fd)
    finally:
        os.close(fd)


def _fall_back(configured: str, reason: str) -> str:
    """Switch this process to a private temporary directory, warning once per process."""
    private = _PRIVATE["dir"]
    if private is None:
        # mode 0700, ours; the pid lets a later process sweep it once this one is gone
        private = tempfile.mkdtemp(prefix=f"tracegrad-kernels-{os.getpid()}-")
        _PRIVATE["dir"] = private
        atexit.register(shutil.rmtree, private, True)
    _DIRS[configured] = private
    if not _WARNED[0]:
        _WARNED[0] = True
        warnings.warn(
            f"tracegrad: not using the kernel cache {os.path.dirname(configured)}: {reason}. "
            f"Kernels compiled by this process go to the private directory {private} and are "
            f"compiled again in the next process. Fix the directory (owned by you, mode 0700) "
            f"or set TRACEGRAD_CACHE_DIR to one that is.", TracegradWarning,
            stacklevel=_stacklevel_outside())
    return private


# the modules that turn source into a loaded module: a warning names the frame that called them
_RUNTIME_MODULES = frozenset({__name__, f"{__package__}.loader", f"{__package__}.compiler"})


def _stacklevel_outside() -> int:
    """The warnings stacklevel naming the first frame outside the loader, the compiler probe
    and this module (the executable's)."""
    f, level = sys._getframe(2), 2  # frame 1 is _fall_back, whose caller is level 2
    while f is not None and f.f_globals.get("__name__") in _RUNTIME_MODULES:
        f, level = f.f_back, level + 1
    return level


def _nofollow(path, flags):
    """``open`` opener for files in the cache: a name swapped for a symlink after its lstat
    fails to open (ELOOP) instead of reading whatever the link points at."""
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))


def _memo_read(name: str, fingerprint: str) -> dict | None:
    """A probe record from the cache directory, if present, trusted and for ``fingerprint``."""
    try:
        d = _entry_dir()
        path = os.path.join(d, name)
        if _untrusted(os.stat(path, follow_symlinks=False), "the probe record", path,
                      is_dir=False):
            return None
        with open(path, opener=_nofollow) as f:
            data = json.load(f)
        return data["record"] if data.get("fingerprint") == fingerprint else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _memo_write(name: str, fingerprint: str, record: dict) -> None:
    try:  # best effort: without it the next process probes again
        _write_atomic(_entry_dir(), name,
                      json.dumps({"fingerprint": fingerprint, "record": record}).encode(), 0o600)
    except OSError:
        pass


def _write_atomic(d: str, name: str, data: bytes, mode: int) -> str:
    """Write ``d/name`` so that readers see either the old file or all of the new one."""
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix="-" + name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
        final = os.path.join(d, name)
        os.replace(tmp, final)
        return final
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _sweep_stale(d: str) -> None:
    """Remove temporaries of publishers killed mid-write (never loaded: names start with .tmp-)
    from a marked entry directory; a private directory is removed whole at exit instead."""
    try:
        cache_files.clear(os.path.dirname(d), os.path.basename(d),
                          older_than=STALE_TEMP_SECONDS, names=cache_files.TEMP_NAME)
    except (OSError, cache_files.NotOurs):
        pass


def _sweep_scratch() -> None:
    """Once per process: scratch directories of compiles killed with SIGKILL (no ``finally``
    ran) and private directories of dead processes, from ``$TMPDIR``."""
    if not _SWEPT_SCRATCH[0]:
        _SWEPT_SCRATCH[0] = True
        cache_files.sweep_scratch(STALE_SCRATCH_SECONDS)


def _verified_entry(d: str, key: str, name: str) -> str | None:
    """Path of the entry's .so if it is complete, ours and matches its metadata; else None.

    An untrusted entry switches the process to its private directory (one warning) and reads
    as a miss; a truncated, corrupted or metadata-less entry counts in ``rebuilt_corrupt``.
    """
    so_path = os.path.join(d, key + ".so")
    meta_path = os.path.join(d, key + ".json")
    try:  # lstat: tracegrad writes regular files, so a symlink in an entry is not ours
        so_st = os.stat(so_path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError:
        so_st = None
    try:
        meta_st = os.stat(meta_path, follow_symlinks=False)
    except OSError:
        meta_st = None
    for st, what, path in ((so_st, "the kernel", so_path), (meta_st, "the metadata", meta_path)):
        problem = st is not None and _untrusted(st, f"cache entry {what}", path, is_dir=False)
        if problem:
            _fall_back(_configured_dir(), problem)
            return None
    try:
        with open(meta_path, opener=_nofollow) as f:
            meta = json.load(f)
        with open(so_path, "rb", opener=_nofollow) as f:
            data = f.read()
        ok = (meta.get("key") == key and meta.get("module") == name
              and meta.get("size") == len(data)
              and meta.get("sha256") == hashlib.sha256(data).hexdigest())
    except (OSError, ValueError, AttributeError):
        ok = False
    if not ok:
        CACHE_STATS["rebuilt_corrupt"] += 1
        return None
    return so_path


def _publish(files: list[tuple[str, bytes, int]]) -> str:
    """Write the files, in order, into the entry directory and return that directory. On
    OSError (read-only, full, removed) switch to the private directory (one warning) and write
    them all there; ``CompileError`` when even that fails."""
    d = _entry_dir()
    try:
        for name, data, mode in files:
            _write_atomic(d, name, data, mode)
        return d
    except OSError as e:
        if d == _PRIVATE["dir"]:
            raise CompileError(f"cannot write the kernel cache entry in {d}: {e}") from None
        d = _fall_back(_configured_dir(), f"writing to it failed ({e})")
    try:
        for name, data, mode in files:
            _write_atomic(d, name, data, mode)
    except OSError as e:
        raise CompileError(f"cannot write the kernel cache entry in {d}: {e}") from None
    return d
