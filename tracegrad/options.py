"""Every ``TRACEGRAD_*`` environment variable, in one place, with its default and meaning.

Read once at import; ``describe()`` renders the table shown in the README and by the CLI.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    name: str
    default: str
    help: str

    @property
    def value(self) -> str:
        return os.environ.get(self.name, self.default)


OPTIONS = {o.name: o for o in [
    Option("TRACEGRAD_BACKEND", "auto", "default backend of tg.jit: auto, numpy or c"),
    Option("TRACEGRAD_OPT_LEVEL", "O2", "default pass pipeline of tg.jit: O0, O1 or O2"),
    Option("TRACEGRAD_VERIFY", "0", "1: run ir.verify after every pass (always on in tests)"),
    Option("TRACEGRAD_DISABLE_PASSES", "", "comma-separated pass names to skip (for bisecting)"),
    Option("TRACEGRAD_STOP_AFTER", "", "stop the pipeline after this pass"),
    Option("TRACEGRAD_CACHE_DIR", "", "directory of the on-disk kernel cache (default: the user "
           "cache directory)"),
    Option("TRACEGRAD_NUM_THREADS", "", "threads for the C backend's parallel loops (default: "
           "the CPUs this process may use); results are deterministic for a given count"),
    Option("TRACEGRAD_ADAPT_THREADS", "", "1: the C backend's loops and BLAS calls use fewer "
           "threads while other processes hold the CPUs; 0: never (default: 1 unless "
           "TRACEGRAD_NUM_THREADS is set)"),
    Option("TRACEGRAD_CFLAGS", "", "extra flags for every C kernel's compile-and-link command, "
           "e.g. -fsanitize=address,undefined (part of the kernel cache key)"),
    Option("TRACEGRAD_JIT_CACHE_SIZE", "128", "compiled signatures each jitted function (and "
           "tg.compile step) keeps; the least recently used is dropped beyond it; 0: no limit"),
    Option("TRACEGRAD_TRANSFORM_CACHE_SIZE", "256", "transformed functions (tg.grad(f), "
           "tg.jacobian(f) ...) kept process-wide, so re-creating one with the same f reuses its "
           "compiled programs; least recently used dropped beyond it; 0: no limit"),
    Option("TRACEGRAD_PROGRAM_CACHE", "1", "1: keep optimized programs on disk under the cache "
           "directory, keyed by the traced graph, so a new process skips the passes; 0: off"),
    Option("TRACEGRAD_BACKGROUND_BUILD", "1", "1: backend='auto' builds a long C program "
           "(many kernels, not in the kernel cache) in a background thread while NumPy answers "
           "the first calls, then switches to C; 0: wait for the build (backend='c' always "
           "waits)"),
    Option("TRACEGRAD_BLAS_INSTANCE", "auto", "auto: the C backend calls a copy of NumPy's "
           "OpenBLAS with the CPU's best kernels when NumPy's runs lesser ones and the copy "
           "measured faster; numpy: always NumPy's; copy: the copy without measuring"),
    Option("CC", "cc", "the C compiler used by the C backend"),
]}


def get(name: str) -> str:
    return OPTIONS[name].value


def flag(name: str) -> bool:
    return OPTIONS[name].value.strip().lower() in ("1", "true", "yes", "on")


def jit_cache_size() -> int:
    """``$TRACEGRAD_JIT_CACHE_SIZE`` as a count (0: unbounded); ``ArgumentError`` if it is not
    a non-negative integer. Read at each compile, so it may change while a program runs."""
    return _count("TRACEGRAD_JIT_CACHE_SIZE")


def transform_cache_size() -> int:
    """``$TRACEGRAD_TRANSFORM_CACHE_SIZE`` as a count (0: unbounded), read at each insertion."""
    return _count("TRACEGRAD_TRANSFORM_CACHE_SIZE")


def _count(name: str) -> int:
    text = get(name).strip()
    if text.isdigit():
        return int(text)
    from .errors import ArgumentError
    raise ArgumentError(f"{name}={text!r}: expected a non-negative integer "
                        f"(the default is {OPTIONS[name].default}; 0 means no limit)")


def cache_dir() -> str:
    """The on-disk cache directory shared by the C runtime and ``tracegrad cache``.

    ``$TRACEGRAD_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/tracegrad`` (the XDG base-directory
    rule: a relative ``XDG_CACHE_HOME`` is ignored), else ``~/.cache/tracegrad``. Read on every
    call, not at import, so tests and long-running programs can point it elsewhere. Creating it
    (mode 0700) and checking that it is safe to load code from is the caller's job.
    """
    configured = os.environ.get("TRACEGRAD_CACHE_DIR", "")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tracegrad")


def describe() -> str:
    return "\n".join(f"{o.name:28} default {o.default or '(none)':8}  {o.help}"
                     for o in OPTIONS.values())
