"""Turn a generated C source string into a loaded CPython extension module: look it up in
memory, then in the disk cache (disk_cache.py), else compile it (compiler.py) and publish it."""

# Turn a generated C source string into a loaded CPython extension module, cached on disk.
#
# The C emitter hands over a complete C99 extension module (single-phase init) in which the text
# ``TG_MODULE_NAME`` stands for the module name; ``load_extension`` returns the loaded module::
#
#     module = load_extension(source, uses_blas=False, openmp=True, fast_math=False)
#
# Why it is built the way it is:
#
# * **Content-addressed.** The key is a sha256 over the source *with the placeholder* and
#   everything else that changes the machine code: the compiler (resolved path and ``--version``),
#   the flags, what ``-march=native`` means on this CPU (the full ``-Q --help=target`` listing,
#   because two CPUs reported as the same ``-march`` name can differ in AVX-512), the Python ABI
#   (``EXT_SUFFIX``), the OpenBLAS wheel when linked, and ``tracegrad.version``. The module
#   name is ``tg_`` + 20 hex digits of the key, so two kernels never share a name in one process.
# * **Nothing half-written is ever loaded.** The compiler writes into a private scratch directory;
#   the result is copied into a ``mkstemp`` file inside the cache directory and moved into place
#   with ``os.replace``: ``<key>.c``, then ``<key>.so``, then ``<key>.json`` (size and sha256 of the
#   .so) last. A load checks the .so against its metadata, so a process killed at any point, a
#   truncated or bit-flipped file, or an entry without metadata is rebuilt, never loaded.
# * **Nothing is left behind for ever.** A compile killed with SIGKILL leaves its scratch
#   directory in ``$TMPDIR``; the next process's first compile removes such directories once
#   they are older than ``STALE_SCRATCH_SECONDS`` (see ``cache_files.sweep_scratch``).
# * **Races are harmless.** Two processes compiling the same kernel both compile and both publish.
#   The build is deterministic (same file names, compiled from the same relative path), so the
#   files they publish are byte-identical and any interleaving of the renames is a valid entry.
# * **Only our own files are loaded.** Loading a shared library runs its code, so the cache
#   directory and the entry's files must belong to the current user and be writable by nobody
#   else, and ``c/`` must be a real directory carrying tracegrad's marker (``cache_files``: a
#   user's own ``c/`` folder of sources is never written into, nor cleared). Otherwise, or
#   when the cache cannot be written (read-only, full), this process uses a
#   private ``mkdtemp`` directory instead and says so with one ``TracegradWarning``.
# * **Cheap when warm.** Loaded modules are kept per key (and per request) in this process, so a
#   second request is a dict lookup. What the compiler probe learns (version, CPU target, OpenMP
#   and libmvec support) is itself cached on disk, keyed by the compiler binaries' stat and the
#   CPU's identity, so a new process with a warm cache starts no subprocess at all.
#
# ``CACHE_STATS`` counts compiles, disk hits, memory hits and rebuilt corrupt entries (tests count
# rather than time); ``compiler_info()`` describes the toolchain for the CLI and the tests.
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from types import ModuleType

from tracegrad import options
from tracegrad.errors import CompileError
from tracegrad.version import __version__

from . import compiler, disk_cache


PLACEHOLDER = "TG_MODULE_NAME"
_LOCK = threading.RLock()          # one compile/publish at a time per process
_BY_KEY: dict[str, ModuleType] = {}
# (source, options, $CC) -> module: skips hashing. Bounded (oldest dropped) because each key
# holds a whole C source; a dropped request costs one sha256 and lands in _BY_KEY. _BY_KEY is
# not bounded: CPython never unloads an extension module, so dropping it would free nothing.
_BY_REQUEST: dict[tuple, ModuleType] = {}
BY_REQUEST_LIMIT = 256


def load_extension(source: str, *, placeholder: str = PLACEHOLDER, uses_blas: bool = False,
                   openmp: bool = True, fast_math: bool = False) -> ModuleType:
    """Compile (or fetch from the cache) the extension module in ``source`` and return it.

    ``placeholder`` is replaced by the module name ``tg_<20 hex digits of the key>``; it must
    appear as ``PyInit_<placeholder>``. ``uses_blas`` compiles and links against the
    scipy-openblas32 wheel (``scipy_cblas_sgemm`` and friends); ``openmp`` adds ``-fopenmp``
    when the compiler supports it; ``fast_math`` adds ``-ffast-math`` (off by default: NaN and
    inf must behave as in NumPy). Raises ``CompileError`` when no compiler works, the compiler
    rejects the source, or the built library does not load.
    """
    cc = compiler._cc_setting()
    request = (source, placeholder, uses_blas, openmp, fast_math, cc,
               options.get("TRACEGRAD_CFLAGS"))
    module = _BY_REQUEST.get(request)
    if module is not None:
        disk_cache.CACHE_STATS["memory_hits"] += 1
        return module
    if f"PyInit_{placeholder}" not in source:
        raise ValueError(f"load_extension: the source has no PyInit_{placeholder}; the module "
                         f"name placeholder {placeholder!r} must name the init function")
    with _LOCK:
        comp = compiler._compiler(cc)
        build = compiler._build_config(comp, uses_blas=uses_blas, openmp=openmp,
                                       fast_math=fast_math)
        key = _key(source, comp, build)
        module = _BY_KEY.get(key)
        if module is not None:
            disk_cache.CACHE_STATS["memory_hits"] += 1
        else:
            module = _load_or_build(key, source, placeholder, comp, build)
            _BY_KEY[key] = module
        _BY_REQUEST[request] = module
        while len(_BY_REQUEST) > BY_REQUEST_LIMIT:
            del _BY_REQUEST[next(iter(_BY_REQUEST))]
        return module


def is_built(source: str, *, uses_blas: bool = False, openmp: bool = True,
             fast_math: bool = False) -> bool:
    """Whether ``load_extension`` with these arguments would load without compiling: the
    module is loaded in this process or a verified entry is in the disk cache. Takes no lock
    (a compile in progress elsewhere holds it for seconds); a wrong answer costs only time."""
    comp = compiler._compiler(compiler._cc_setting())
    build = compiler._build_config(comp, uses_blas=uses_blas, openmp=openmp,
                                   fast_math=fast_math)
    key = _key(source, comp, build)
    if key in _BY_KEY:
        return True
    return disk_cache._verified_entry(disk_cache._entry_dir(), key, _module_name(key)) is not None


def compiler_info() -> dict:
    """The toolchain as the C backend uses it: raises ``CompileError`` when no compiler works.

    Keys: ``cc`` (the setting), ``path`` (resolved), ``version`` (first line of ``--version``),
    ``target`` (what ``-march=native`` resolves to), ``flags`` (compile and link flags of a
    default kernel), ``openmp`` and ``libmvec`` (bools), ``openblas`` (include/lib/library/version
    of the scipy-openblas32 wheel, or None when it is not installed), ``cache_dir`` (the entry
    directory this process uses).
    """
    with _LOCK:
        comp = compiler._compiler(compiler._cc_setting())
        build = compiler._build_config(comp, uses_blas=False, openmp=True, fast_math=False)
        try:
            blas = dict(zip(("include", "lib", "library", "version"), compiler._openblas()))
        except CompileError:
            blas = None
        return {"cc": comp.cc, "path": comp.path, "version": comp.version,
                "target": comp.target, "flags": [*build.cflags, *build.ldflags],
                "openmp": comp.openmp, "libmvec": comp.libmvec, "openblas": blas,
                "cache_dir": disk_cache._entry_dir()}


def _tracegrad_version() -> str:
    return __version__


def _key(source: str, comp: compiler._Compiler, build: compiler._Build) -> str:
    ident = {"format": disk_cache.RUNTIME_FORMAT, "compiler": comp.path, "version": comp.version,
             "argv_extra": list(comp.argv[1:]), "target": comp.target_sha,
             "cflags": list(build.cflags), "ldflags": list(build.ldflags),
             "blas": list(build.blas) if build.blas else None, "abi": compiler._ext_suffix(),
             "tracegrad": _tracegrad_version()}
    h = hashlib.sha256(json.dumps(ident, sort_keys=True).encode())
    h.update(b"\0")
    h.update(source.encode())
    return h.hexdigest()


def _module_name(key: str) -> str:
    return "tg_" + key[:20]


def _load_or_build(key: str, source: str, placeholder: str, comp: compiler._Compiler,
                   build: compiler._Build) -> ModuleType:
    name = _module_name(key)
    d = disk_cache._entry_dir()
    so_path = disk_cache._verified_entry(d, key, name)
    if so_path is not None:
        try:
            module = _import(name, so_path)
        except ImportError:
            # verified but unloadable: e.g. a moved library
            disk_cache.CACHE_STATS["rebuilt_corrupt"] += 1
        else:
            disk_cache.CACHE_STATS["disk_hits"] += 1
            return module
    so_path = _build(key, name, source.replace(placeholder, name), comp, build)
    try:
        return _import(name, so_path)
    except ImportError as e:
        c_path = os.path.join(os.path.dirname(so_path), key + ".c")
        raise CompileError(f"the compiled kernel {name} does not load: {e}\n  source kept at "
                           f"{c_path}", output=str(e), source_path=c_path) from None


def _build(key: str, name: str, source: str, comp: compiler._Compiler,
           build: compiler._Build) -> str:
    """Compile ``source`` in a scratch directory and publish the entry; returns the .so path.

    The scratch directory is private and outside the cache, so a killed compile leaves nothing
    a later run would look at; compiling ``<key>.c`` from the scratch directory as cwd makes
    the output independent of where the scratch directory is (byte-identical across processes).
    """
    disk_cache._sweep_scratch()
    scratch = tempfile.mkdtemp(prefix="tracegrad-cc-")
    try:
        with open(os.path.join(scratch, key + ".c"), "w") as f:
            f.write(source)
        cmd = [*comp.argv, *build.cflags, key + ".c", "-o", key + ".so", *build.ldflags]
        t0 = time.perf_counter()
        try:
            r = subprocess.run(cmd, check=False, cwd=scratch, capture_output=True, text=True,
                               errors="replace", timeout=disk_cache.COMPILE_TIMEOUT,
                               stdin=subprocess.DEVNULL)
            returncode, output = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired as e:
            returncode = None
            output = (f"timed out after {disk_cache.COMPILE_TIMEOUT} s\n"
                      f"{compiler._text(e.stdout)}{compiler._text(e.stderr)}")
        except OSError as e:
            returncode, output = None, f"could not run the compiler: {e}"
        seconds = time.perf_counter() - t0
        disk_cache.CACHE_STATS["compiles"] += 1
        if returncode != 0:
            try:
                failed = key + ".failed.c"
                kept = os.path.join(disk_cache._publish([(failed, source.encode(), 0o600)]),
                                    failed)
            except CompileError:
                kept = None  # nowhere to keep it; the output still says what went wrong
            raise CompileError(
                f"C compiler failed on kernel {name} "
                f"({'exit ' + str(returncode) if returncode is not None else 'did not finish'}); "
                f"source kept at {kept}\n  command: {shlex.join(cmd)}\n{compiler._head(output)}",
                output=output, source_path=kept)
        with open(os.path.join(scratch, key + ".so"), "rb") as f:
            data = f.read()
        meta = {"format": disk_cache.RUNTIME_FORMAT, "key": key, "module": name, "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(), "compiler": comp.path,
                "compiler_version": comp.version, "target": comp.target,
                "command": cmd, "python_abi": compiler._ext_suffix(),
                "tracegrad": _tracegrad_version(), "created": time.time(),
                "compile_seconds": round(seconds, 4)}
        # order matters: source and library first, metadata last, so an entry with metadata is
        # complete and one without metadata is rebuilt
        d = disk_cache._publish([(key + ".c", source.encode(), 0o600), (key + ".so", data, 0o700),
                      (key + ".json", json.dumps(meta, indent=1).encode(), 0o600)])
        disk_cache._sweep_stale(d)
        return os.path.join(d, key + ".so")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _import(name: str, path: str) -> ModuleType:
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _reset_for_tests(*, compilers: bool = False) -> None:
    """Forget loaded modules, directory decisions, the warning and the counters (tests only);
    ``compilers=True`` also forgets the probed compilers and the OpenBLAS location."""
    with _LOCK:
        _BY_KEY.clear()
        _BY_REQUEST.clear()
        disk_cache._DIRS.clear()
        disk_cache._PRIVATE["dir"] = None
        disk_cache._WARNED[0] = False
        disk_cache._SWEPT_SCRATCH[0] = False
        for k in list(disk_cache.CACHE_STATS):
            disk_cache.CACHE_STATS[k] = 0
        if compilers:
            compiler._COMPILERS.clear()
            compiler._OPENBLAS = None


def _reset_compiler_check() -> None:
    """Forget the probed compilers so the next load checks $CC again (tests only)."""
    with _LOCK:
        compiler._COMPILERS.clear()
