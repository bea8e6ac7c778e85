"""What the C runtime writes on disk, recognised by name, and the only code that deletes it.

Invariant: a deletion removes a regular file (or a scratch directory) that this user owns and
whose name tracegrad generates, found without following any symlink (directories are opened
with ``O_NOFOLLOW`` and walked through their file descriptor, so a path swapped for a symlink
mid-walk cannot redirect it). The kernel directory carries a marker file written when
tracegrad creates it; a directory without the marker is refused, not emptied.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field

MARKER = ".tracegrad-kernel-cache"
MARKER_TEXT = b"tracegrad kernel cache: every other file here is written by tracegrad\n"
_KEY = r"[0-9a-f]{64}"
# openblas-*: codegen/c/blas_copy.py's copy of NumPy's OpenBLAS and its record
_OWN = (rf"(?:{_KEY}\.(?:c|so|json|failed\.c)|(?:cc|blas|openblas)-[0-9a-f]{{24}}\.json"
        rf"|openblas-[0-9a-f]{{24}}\.so)")
# tempfile.mkstemp's 8 random characters between our prefix and suffix (see _write_atomic)
OWN_NAME = re.compile(rf"(?:{_OWN}|\.tmp-[a-z0-9_]{{8}}-{_OWN}|{re.escape(MARKER)})\Z")
TEMP_NAME = re.compile(rf"\.tmp-[a-z0-9_]{{8}}-{_OWN}\Z")
# scratch directories in $TMPDIR: compiles and probes (tempfile.mkdtemp's 8 characters), and
# a process's private kernel directory, named with its pid (it lives as long as the process)
SCRATCH_NAME = re.compile(r"tracegrad-(?:cc|probe)-[a-z0-9_]{8}\Z")
PRIVATE_NAME = re.compile(r"tracegrad-kernels-(\d+)-[a-z0-9_]{8}\Z")

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


def my_uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def _ours(st: os.stat_result) -> bool:
    uid = my_uid()
    return uid is None or st.st_uid == uid


@dataclass
class Removal:
    """What a clear did: counts of removed files and bytes, and what it left alone and why."""

    files: int = 0
    bytes: int = 0
    kept: list = field(default_factory=list)  # (name, reason)


class NotOurs(Exception):
    """The directory is not one tracegrad made (no marker, a symlink, another owner)."""


def open_dir(parent: str, name: str) -> int:
    """A file descriptor of ``parent/name``, a real directory owned by this user that nobody
    else can write; ``NotOurs`` otherwise (``FileNotFoundError`` when it does not exist).
    ``parent`` itself may be a symlink (the user chose it); ``name`` may not."""
    pfd = os.open(parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
        except OSError as e:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)  # FileNotFoundError passes
            if stat.S_ISLNK(st.st_mode):
                raise NotOurs(f"{os.path.join(parent, name)} is a symlink") from None
            raise NotOurs(f"{os.path.join(parent, name)} cannot be opened as a directory "
                          f"({e.strerror})") from None
    finally:
        os.close(pfd)
    st = os.fstat(fd)
    problem = (None if _ours(st) else f"it is owned by uid {st.st_uid}, not by you") or \
        (f"it is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
         if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) else None)
    if problem:
        os.close(fd)
        raise NotOurs(f"{os.path.join(parent, name)}: {problem}")
    return fd


def is_marked(fd: int) -> bool:
    try:
        st = os.stat(MARKER, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and _ours(st)


def claim(fd: int) -> str | None:
    """Mark the directory as tracegrad's if it is empty or holds only names tracegrad writes
    (a cache made before markers existed); return why not otherwise (e.g. a user's own
    ``c/`` folder of C sources under ``TRACEGRAD_CACHE_DIR``)."""
    if is_marked(fd):
        return None
    foreign = sorted(n for n in os.listdir(fd) if not OWN_NAME.match(n))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        return (f"it holds files tracegrad did not write ({shown}) and no {MARKER} marker, "
                f"so it is not tracegrad's kernel directory")
    wfd = os.open(MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                  0o600, dir_fd=fd)
    try:
        os.write(wfd, MARKER_TEXT)
    finally:
        os.close(wfd)
    return None


def clear(parent: str, name: str, *, older_than: float | None = None,
          names: re.Pattern = OWN_NAME) -> Removal:
    """Remove the files tracegrad wrote in ``parent/name`` (its marker stays), or only those
    whose names match ``names`` and that are older than ``older_than`` seconds. Raises
    ``NotOurs`` for an unmarked, symlinked, foreign or shared directory."""
    fd = open_dir(parent, name)
    try:
        if not is_marked(fd):
            raise NotOurs(f"{os.path.join(parent, name)} has no {MARKER} marker: tracegrad did "
                          f"not create it, so it deletes nothing in it")
        out, now = Removal(), time.time()
        for entry in os.scandir(fd):
            n = entry.name
            if n == MARKER:
                continue
            try:
                st = os.stat(n, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed meanwhile by another process
            why = ("not a name tracegrad writes" if not names.match(n) else
                   "a symlink" if stat.S_ISLNK(st.st_mode) else
                   "not a regular file" if not stat.S_ISREG(st.st_mode) else
                   f"owned by uid {st.st_uid}" if not _ours(st) else None)
            if why:
                if names is OWN_NAME:
                    out.kept.append((n, why))
                continue
            if older_than is not None and now - st.st_mtime <= older_than:
                continue
            try:
                os.unlink(n, dir_fd=fd)  # removes the name itself; never follows it
            except FileNotFoundError:
                continue
            out.files += 1
            out.bytes += st.st_size
        return out
    finally:
        os.close(fd)


def tally(parent: str, name: str) -> tuple[int, int, int, bool]:
    """(files, bytes, compiled kernels, marked) of what tracegrad wrote in ``parent/name``."""
    fd = open_dir(parent, name)
    try:
        files = size = kernels = 0
        for entry in os.scandir(fd):
            if entry.name == MARKER or not OWN_NAME.match(entry.name):
                continue
            try:
                st = os.stat(entry.name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                files += 1
                size += st.st_size
                kernels += bool(re.match(rf"{_KEY}\.so\Z", entry.name))  # not the BLAS copy
        return files, size, kernels, is_marked(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but is not ours (EPERM)
        return True
    return True


def sweep_scratch(max_age: float, tmpdir: str | None = None) -> list[str]:
    """Remove scratch directories of killed compiles and probes in ``$TMPDIR`` older than
    ``max_age`` seconds, and private kernel directories of processes that no longer exist
    (same age rule); only real directories this user owns whose names tracegrad generates.
    Returns the names removed."""
    if not getattr(shutil.rmtree, "avoids_symlink_attacks", False):
        return []  # rmtree could be raced into following a symlink: leave them
    tmpdir = tmpdir or tempfile.gettempdir()
    removed, now = [], time.time()
    try:
        pfd = os.open(tmpdir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return removed
    try:
        for entry in os.scandir(pfd):
            n = entry.name
            private = PRIVATE_NAME.match(n)
            if not (SCRATCH_NAME.match(n) or private):
                continue
            try:
                st = os.stat(n, dir_fd=pfd, follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode) or not _ours(st) or now - st.st_mtime <= max_age:
                continue
            if private and _pid_alive(int(private.group(1))):
                continue
            try:
                shutil.rmtree(n, dir_fd=pfd)  # fd-based: never follows a symlink inside
            except OSError:
                continue
            removed.append(n)
    finally:
        os.close(pfd)
    return removed
