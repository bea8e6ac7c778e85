"""``tracegrad cache info|clear``: show or empty the on-disk kernel cache.

The directory is ``options.cache_dir()``, the same resolution the C runtime uses. Only the
C backend's own subdirectory (``codegen/c/disk_cache.SUBDIR``) is counted and cleared, and in
it only the files tracegrad wrote (``codegen/cache_files``: names it generates, owned by this user, never
through a symlink). A ``c`` that is a symlink, shared, or a user's own folder without
tracegrad's marker is refused with exit status 2: the cache directory may be one a user
pointed ``TRACEGRAD_CACHE_DIR`` at, holding their own files.
"""
from __future__ import annotations

import os

from .errors import CLIError
from .stats import human_bytes


def _cache_dir() -> str:
    from tracegrad import options
    return options.cache_dir()


def _c_subdir() -> str:
    from tracegrad.codegen.c.disk_cache import SUBDIR
    return SUBDIR


def info() -> int:
    from tracegrad import options
    from tracegrad.codegen import cache_files
    path = _cache_dir()
    origin = ("TRACEGRAD_CACHE_DIR" if options.get("TRACEGRAD_CACHE_DIR") else
              "the user cache directory; set TRACEGRAD_CACHE_DIR to move it")
    print(f"kernel cache: {path}")
    print(f"  from: {origin}")
    sub = os.path.join(path, _c_subdir())
    try:
        files, size, kernels, marked = cache_files.tally(path, _c_subdir())
    except (FileNotFoundError, NotADirectoryError):
        print("  C kernels: none yet (the C backend fills it on its first compile)")
    except cache_files.NotOurs as e:
        print(f"  C kernels: none; {e}, so tracegrad neither uses nor clears it")
    except OSError as e:
        raise CLIError(f"cannot read the kernel cache {sub}: {e.strerror or e}") from None
    else:
        note = "" if marked else f" (no {cache_files.MARKER} marker yet)"
        print(f"  C kernels: {kernels} compiled, {files} files, {human_bytes(size)} "
              f"in {sub}{note}")
        from tracegrad.codegen.c.blas_copy import recorded
        for line in recorded(sub):  # the C backend's OpenBLAS instance (blas_instance.py)
            print(f"  C backend's BLAS: {line}")
    if os.path.isdir(path):
        others = sorted(n for n in os.listdir(path) if n != _c_subdir())
        if others:
            print(f"  other entries (not tracegrad's kernels, left alone by clear): "
                  f"{', '.join(others)}")
    return 0


def clear() -> int:
    from tracegrad.codegen import cache_files
    path = _cache_dir()
    sub = os.path.join(path, _c_subdir())
    try:
        fd = cache_files.open_dir(path, _c_subdir())
        try:  # a cache made before markers existed holds only our names: adopt it
            refused = cache_files.claim(fd)
        finally:
            os.close(fd)
        if refused:
            raise cache_files.NotOurs(f"{sub}: {refused}")
        done = cache_files.clear(path, _c_subdir())
    except (FileNotFoundError, NotADirectoryError):
        print(f"kernel cache {sub}: already empty")
        return 0
    except cache_files.NotOurs as e:
        raise CLIError(f"refusing to clear the kernel cache: {e}; nothing was deleted "
                       f"(point TRACEGRAD_CACHE_DIR at a directory of its own)") from None
    except OSError as e:
        raise CLIError(f"cannot clear the kernel cache {sub}: {e.strerror or e}") from None
    print(f"kernel cache {sub}: removed {done.files} file{'s' if done.files != 1 else ''} "
          f"({human_bytes(done.bytes)})")
    if done.kept:
        names = ", ".join(f"{n} ({why})" for n, why in done.kept[:5])
        more = f" and {len(done.kept) - 5} more" if len(done.kept) > 5 else ""
        print(f"  left alone, not written by tracegrad: {names}{more}")
    return 0


def run(argv) -> int:
    from .argparsing import ArgParser
    p = ArgParser(prog="tracegrad cache",
                  description="Show or clear the on-disk kernel cache of the C backend "
                              "($TRACEGRAD_CACHE_DIR, else the user cache directory).")
    p.add_argument("action", choices=("info", "clear"))
    ns = p.parse_args(argv)
    return info() if ns.action == "info" else clear()
