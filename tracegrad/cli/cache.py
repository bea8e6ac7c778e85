"""``tracegrad cache info|clear``: show or empty the on-disk kernel cache.

The directory is ``options.cache_dir()``, the same resolution the C runtime uses. Only the
C backend's own subdirectory (``c_runtime.SUBDIR``) is counted as kernels and cleared: the
cache directory may be one a user pointed ``TRACEGRAD_CACHE_DIR`` at, holding other files.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .stats import human_bytes


def _cache_dir() -> Path:
    from tracegrad import options
    return Path(options.cache_dir())


def _c_subdir() -> str:
    from tracegrad.codegen.c_runtime import SUBDIR
    return SUBDIR


def _tally(path: Path) -> tuple[int, int, int]:
    """(files, bytes, compiled kernels) under ``path``."""
    files = size = kernels = 0
    for root, _, names in os.walk(path):
        for n in names:
            files += 1
            kernels += n.endswith((".so", ".pyd", ".dylib"))
            try:
                size += os.lstat(os.path.join(root, n)).st_size
            except OSError:  # removed meanwhile by another process
                pass
    return files, size, kernels


def info() -> int:
    from tracegrad import options
    path = _cache_dir()
    origin = ("TRACEGRAD_CACHE_DIR" if options.get("TRACEGRAD_CACHE_DIR") else
              "the user cache directory; set TRACEGRAD_CACHE_DIR to move it")
    print(f"kernel cache: {path}")
    print(f"  from: {origin}")
    sub = path / _c_subdir()
    if not sub.is_dir():
        print("  C kernels: none yet (the C backend fills it on its first compile)")
    else:
        files, size, kernels = _tally(sub)
        print(f"  C kernels: {kernels} compiled, {files} files, {human_bytes(size)} "
              f"in {sub}")
    if path.is_dir():
        others = sorted(p.name for p in path.iterdir() if p.name != _c_subdir())
        if others:
            print(f"  other entries (not tracegrad's kernels, left alone by clear): "
                  f"{', '.join(others)}")
    return 0


def clear() -> int:
    sub = _cache_dir() / _c_subdir()
    if not sub.is_dir():
        print(f"kernel cache {sub}: already empty")
        return 0
    files, size, _ = _tally(sub)
    for entry in sorted(sub.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                entry.unlink()
            except FileNotFoundError:  # another process removed it first
                pass
    print(f"kernel cache {sub}: removed {files} file{'s' if files != 1 else ''} "
          f"({human_bytes(size)})")
    return 0


def run(argv) -> int:
    from .argparsing import ArgParser
    p = ArgParser(prog="tracegrad cache",
                  description="Show or clear the on-disk kernel cache of the C backend "
                              "($TRACEGRAD_CACHE_DIR, else the user cache directory).")
    p.add_argument("action", choices=("info", "clear"))
    ns = p.parse_args(argv)
    return info() if ns.action == "info" else clear()
