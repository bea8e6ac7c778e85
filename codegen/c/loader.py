"""Turn a generated C source string into a loaded CPython extension module, cached on disk.

The C emitter hands over a complete C99 extension module (single-phase init) in which the text
``TG_MODULE_NAME`` stands for the module name; ``load_extension`` returns the loaded module::

    module = load_extension(source, uses_blas=False, openmp=True, fast_math=False)

Why it is built the way it is:

* **Content-addressed.** The key is a sha256 over the source *with the placeholder* and
  everything else that changes the machine code: the compiler (resolved path and ``--version``),
  the flags, what ``-march=native`` means on this CPU (the full ``-Q --help=target`` listing,
  because two CPUs reported as the same ``-march`` name can differ in AVX-512), the Python ABI
  (``EXT_SUFFIX``), the OpenBLAS wheel when linked, and ``tracegrad.version``. The module
  name is ``tg_`` + 20 hex digits of the key, so two kernels never share a name in one process.
* **Nothing half-written is ever loaded.** The compiler writes into a private scratch directory;
  the result is copied into a ``mkstemp`` file inside the cache directory and moved into place
  with ``os.replace``: ``<key>.c``, then ``<key>.so``, then ``<key>.json`` (size and sha256 of the
  .so) last. A load checks the .so against its metadata, so a process killed at any point, a
  truncated or bit-flipped file, or an entry without metadata is rebuilt, never loaded.
* **Nothing is left behind for ever.** A compile killed with SIGKILL leaves its scratch
  directory in ``$TMPDIR``; the next process's first compile removes such directories once
  they are older than ``STALE_SCRATCH_SECONDS`` (see ``cache_files.sweep_scratch``).
* **Races are harmless.** Two processes compiling the same kernel both compile and both publish.
  The build is deterministic (same file names, compiled from the same relative path), so the
  files they publish are byte-identical and any interleaving of the renames is a valid entry.
* **Only our own files are loaded.** Loading a shared library runs its code, so the cache
  directory and the entry's files must belong to the current user and be writable by nobody
  else, and ``c/`` must be a real directory carrying tracegrad's marker (``cache_files``: a
  user's own ``c/`` folder of sources is never written into, nor cleared). Otherwise, or when the cache cannot be written (read-only, full), this process uses a
  private ``mkdtemp`` directory instead and says so with one ``TracegradWarning``.
* **Cheap when warm.** Loaded modules are kept per key (and per request) in this process, so a
  second request is a dict lookup. What the compiler probe learns (version, CPU target, OpenMP
  and libmvec support) is itself cached on disk, keyed by the compiler binaries' stat and the
  CPU's identity, so a new process with a warm cache starts no subprocess at all.

``CACHE_STATS`` counts compiles, disk hits, memory hits and rebuilt corrupt entries (tests count
rather than time); ``compiler_info()`` describes the toolchain for the CLI and the tests.
"""
from __future__ import annotations

import atexit
import collections
import hashlib
import importlib.machinery
import importlib.util
import itertools
import json
import os
import platform
import shlex
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from functools import cache
from types import ModuleType

from tracegrad import options
from tracegrad.errors import CompileError, TracegradWarning
from tracegrad.version import __version__

from .. import cache_files

PLACEHOLDER = "TG_MODULE_NAME"
# Part of every key and probe record: bump when the key recipe, the entry layout or the flags
# change meaning, so old entries are simply never hit again.
RUNTIME_FORMAT = 1
# -fno-math-errno / -fno-trapping-math let loops calling libm vectorize without -ffast-math:
# NumPy never reads errno or traps either, so results and NaN/inf behaviour stay NumPy's.
OPT_FLAGS = ("-O3", "-fPIC", "-shared", "-std=c99", "-fno-math-errno", "-fno-trapping-math")
MARCH_NATIVE = "-march=native"
PROBE_TIMEOUT = 60      # seconds for one compiler probe (--version, target listing, test build)
COMPILE_TIMEOUT = 900   # seconds for one kernel: generous, a hung compiler must not hang forever
STALE_TEMP_SECONDS = 3600  # leftovers of killed publishers older than this are swept
# scratch directories of killed compiles in $TMPDIR older than this are swept by the next
# compile: longer than a live compile may leave its directory untouched (COMPILE_TIMEOUT)
STALE_SCRATCH_SECONDS = 2 * COMPILE_TIMEOUT
SUBDIR = "c"            # C artefacts live in <cache_dir>/c; other caches may share cache_dir

CACHE_STATS: collections.Counter = collections.Counter(
    compiles=0, disk_hits=0, memory_hits=0, rebuilt_corrupt=0)

_LOCK = threading.RLock()          # one compile/publish at a time per process
_BY_KEY: dict[str, ModuleType] = {}
# (source, options, $CC) -> module: skips hashing. Bounded (oldest dropped) because each key
# holds a whole C source; a dropped request costs one sha256 and lands in _BY_KEY. _BY_KEY is
# not bounded: CPython never unloads an extension module, so dropping it would free nothing.
_BY_REQUEST: dict[tuple, ModuleType] = {}
BY_REQUEST_LIMIT = 256
_COMPILERS: dict[str, _Compiler | CompileError] = {}
_DIRS: dict[str, str] = {}         # configured entry directory -> directory actually used
_PRIVATE: dict[str, str | None] = {"dir": None}
_WARNED = [False]
_SWEPT_SCRATCH = [False]           # $TMPDIR swept once per process, on its first compile


# ---------------------------------------------------------------------------------------------
# public API


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
    cc = _cc_setting()
    request = (source, placeholder, uses_blas, openmp, fast_math, cc,
               options.get("TRACEGRAD_CFLAGS"))
    module = _BY_REQUEST.get(request)
    if module is not None:
        CACHE_STATS["memory_hits"] += 1
        return module
    if f"PyInit_{placeholder}" not in source:
        raise ValueError(f"load_extension: the source has no PyInit_{placeholder}; the module "
                         f"name placeholder {placeholder!r} must name the init function")
    with _LOCK:
        comp = _compiler(cc)
        build = _build_config(comp, uses_blas=uses_blas, openmp=openmp, fast_math=fast_math)
        key = _key(source, comp, build)
        module = _BY_KEY.get(key)
        if module is not None:
            CACHE_STATS["memory_hits"] += 1
        else:
            module = _load_or_build(key, source, placeholder, comp, build)
            _BY_KEY[key] = module
        _BY_REQUEST[request] = module
        while len(_BY_REQUEST) > BY_REQUEST_LIMIT:
            del _BY_REQUEST[next(iter(_BY_REQUEST))]
        return module


def compiler_info() -> dict:
    """The toolchain as the C backend uses it: raises ``CompileError`` when no compiler works.

    Keys: ``cc`` (the setting), ``path`` (resolved), ``version`` (first line of ``--version``),
    ``target`` (what ``-march=native`` resolves to), ``flags`` (compile and link flags of a
    default kernel), ``openmp`` and ``libmvec`` (bools), ``openblas`` (include/lib/library/version
    of the scipy-openblas32 wheel, or None when it is not installed), ``cache_dir`` (the entry
    directory this process uses).
    """
    with _LOCK:
        comp = _compiler(_cc_setting())
        build = _build_config(comp, uses_blas=False, openmp=True, fast_math=False)
        try:
            blas = dict(zip(("include", "lib", "library", "version"), _openblas()))
        except CompileError:
            blas = None
        return {"cc": comp.cc, "path": comp.path, "version": comp.version,
                "target": comp.target, "flags": [*build.cflags, *build.ldflags],
                "openmp": comp.openmp, "libmvec": comp.libmvec, "openblas": blas,
                "cache_dir": _entry_dir()}


# ---------------------------------------------------------------------------------------------
# the compiler: found, identified and checked once per process (and remembered on disk)


@dataclass(frozen=True)
class _Compiler:
    cc: str                  # the $CC setting as given
    argv: tuple              # resolved executable + the setting's further words
    path: str                # realpath of the executable
    version: str             # first line of --version
    target: str              # e.g. "znver3"; "generic" without -march=native
    target_sha: str          # sha256 of the full target description (all -m switches)
    march_native: bool
    openmp: bool
    libmvec: bool
    as_needed: bool          # GNU-style linker: -Wl,--as-needed keeps unused libs off NEEDED


@dataclass(frozen=True)
class _Build:
    cflags: tuple
    ldflags: tuple
    blas: tuple | None       # (include, lib, library, version) when linked


def _cc_setting() -> str:
    return os.environ.get("CC", "").strip() or "cc"


def _compiler(cc: str) -> _Compiler:
    """The probed compiler for the setting ``cc``; a failure is remembered too (raised again)."""
    found = _COMPILERS.get(cc)
    if found is None:
        try:
            found = _probe(cc)
        except CompileError as e:
            found = e
        _COMPILERS[cc] = found
    if isinstance(found, CompileError):
        raise found
    return found


_NO_COMPILER_HINT = ("install gcc or clang (Debian/Ubuntu: apt-get install gcc python3-dev) "
                     "or point $CC at one; backend='numpy' needs no compiler")


def _probe(cc: str) -> _Compiler:
    try:
        words = shlex.split(cc)
    except ValueError as e:
        raise CompileError(f"cannot parse $CC={cc!r}: {e}") from None
    exe = shutil.which(words[0]) if words else None
    if exe is None:
        raise CompileError(f"no working C compiler: {(words[0] if words else cc)!r} (from "
                           f"{'$CC' if os.environ.get('CC', '').strip() else 'the default cc'}) "
                           f"is not an executable on PATH; {_NO_COMPILER_HINT}")
    argv = (exe, *words[1:])
    # Binaries named in $CC (e.g. "ccache gcc" names two) decide what the probe would find.
    binaries = []
    for w in words:
        p = shutil.which(w)
        if p:
            st = os.stat(os.path.realpath(p))
            binaries.append((os.path.realpath(p), st.st_size, st.st_mtime_ns, st.st_ino))
    fingerprint = _sha({"format": RUNTIME_FORMAT, "cc": cc, "binaries": binaries,
                        "cpu": _cpu_identity(), "include": _python_include(),
                        "abi": _ext_suffix(), "platform": sys.platform})
    record = _memo_read(f"cc-{fingerprint[:24]}.json", fingerprint)
    if record is not None:
        try:
            return _Compiler(**{**record, "argv": tuple(record["argv"])})
        except (TypeError, KeyError):
            pass  # a record of another shape: probe again
    comp = _probe_uncached(cc, argv)
    _memo_write(f"cc-{fingerprint[:24]}.json", fingerprint, asdict(comp))
    return comp


def _run_probe(cmd, **kw) -> subprocess.CompletedProcess:
    # C locale: the version line and listings are part of the key and must not vary by locale
    env = {**os.environ, "LC_ALL": "C"}
    return subprocess.run(cmd, check=False, capture_output=True, text=True, errors="replace",
                          env=env, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL, **kw)


def _probe_uncached(cc: str, argv: tuple) -> _Compiler:
    try:
        ver = _run_probe([*argv, "--version"])
    except (OSError, subprocess.SubprocessError) as e:
        raise CompileError(f"no working C compiler: running {argv[0]} --version failed ({e}); "
                           f"{_NO_COMPILER_HINT}") from None
    lines = [ln for ln in ver.stdout.splitlines() if ln.strip()]
    if ver.returncode != 0 or not lines:
        raise CompileError(f"no working C compiler: {argv[0]} --version exited with "
                           f"{ver.returncode}; {_NO_COMPILER_HINT}", output=ver.stdout + ver.stderr)
    version = lines[0].strip()
    target, target_desc = _native_target(argv)
    libmvec = _has_libmvec(argv)
    as_needed = sys.platform.startswith("linux")
    # The test build includes Python.h (missing python3-dev headers is the usual breakage) and
    # calls exp, with each optional feature on; features are dropped until a build succeeds.
    scratch = tempfile.mkdtemp(prefix="tracegrad-probe-")
    try:
        with open(os.path.join(scratch, "probe.c"), "w") as f:
            f.write('#include <Python.h>\n#include <math.h>\n'
                    'double tg_probe(double *x, int n) { double s = 0;\n'
                    '#pragma omp parallel for reduction(+:s)\n'
                    '  for (int i = 0; i < n; i++) s += exp(x[i]);\n  return s; }\n')
        first_failure = None
        for march, omp, mvec in itertools.product((True, False), (True, False),
                                                 (libmvec, False) if libmvec else (False,)):
            cmd = [*argv, *_cflags(march, omp, False), "probe.c", "-o", "probe.so",
                   *_ldflags(as_needed, mvec, None)]
            try:
                r = _run_probe(cmd, cwd=scratch)
            except (OSError, subprocess.SubprocessError) as e:
                raise CompileError(f"no working C compiler: {' '.join(cmd)} failed to run ({e}); "
                                   f"{_NO_COMPILER_HINT}") from None
            if r.returncode == 0:
                break
            first_failure = first_failure or (cmd, r.stdout + r.stderr)
        else:
            cmd, output = first_failure
            raise CompileError(f"no working C compiler: {argv[0]} cannot build a Python extension "
                               f"(is Python.h installed? {_python_include()})\n  command: "
                               f"{shlex.join(cmd)}\n{_head(output)}", output=output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not march:
        target, target_desc = "generic", "generic"
    return _Compiler(cc=cc, argv=argv, path=os.path.realpath(argv[0]), version=version,
                     target=target, target_sha=hashlib.sha256(target_desc.encode()).hexdigest(),
                     march_native=march, openmp=omp, libmvec=mvec, as_needed=as_needed)


def _native_target(argv: tuple) -> tuple[str, str]:
    """(name, full description) of what -march=native selects on this machine."""
    try:  # gcc: every -m switch with its state, and the -march= name
        r = _run_probe([*argv, MARCH_NATIVE, "-Q", "--help=target"])
        if r.returncode == 0:
            name = next((ln.split()[-1] for ln in r.stdout.splitlines()
                         if ln.strip().startswith("-march=") and len(ln.split()) == 2), None)
            if name:
                cut = r.stdout.find("Known valid arguments")  # static lists after this point
                return name, r.stdout[:cut if cut > 0 else None]
        # clang: the driver's -### line spells out -target-cpu and every -target-feature
        r = _run_probe([*argv, MARCH_NATIVE, "-###", "-x", "c", "-c", os.devnull,
                        "-o", os.devnull])
        if r.returncode == 0 and '"-target-cpu"' in r.stderr:
            toks = shlex.split(next(ln for ln in r.stderr.splitlines() if '"-target-cpu"' in ln))
            cpu = toks[toks.index("-target-cpu") + 1]
            feats = [toks[i + 1] for i, t in enumerate(toks) if t == "-target-feature"]
            return cpu, " ".join([cpu, *feats])
    except (OSError, subprocess.SubprocessError, ValueError, StopIteration, IndexError):
        pass
    return "unknown", _cpu_identity()  # at least never share code between different CPUs


def _has_libmvec(argv: tuple) -> bool:
    """Whether ``-lmvec`` links: glibc's vector math (expf on 8/16 lanes) for simd-declared calls.

    ``-print-file-name`` asks the driver's own library search, which is what ``-lmvec`` uses;
    the probe build then confirms the link.
    """
    try:
        r = _run_probe([*argv, "-print-file-name=libmvec.so"])
    except (OSError, subprocess.SubprocessError):
        return False
    path = r.stdout.strip()
    return r.returncode == 0 and os.path.isabs(path) and os.path.exists(path)


def _cpu_identity() -> str:
    """What distinguishes this CPU for -march=native (model and feature flags)."""
    keep = ("vendor_id", "cpu family", "model", "model name", "stepping", "flags", "features",
            "cpu implementer", "cpu architecture", "cpu variant", "cpu part", "isa")
    try:
        with open("/proc/cpuinfo") as f:
            block = f.read().split("\n\n", 1)[0]
        lines = [ln for ln in block.splitlines()
                 if ln.split(":", 1)[0].strip().lower() in keep]
        if lines:
            return "\n".join(lines)
    except OSError:
        pass
    return f"{platform.machine()}|{platform.processor()}|{platform.node()}"


@cache
def _python_include() -> str:
    return sysconfig.get_paths()["include"]


@cache
def _ext_suffix() -> str:
    return sysconfig.get_config_var("EXT_SUFFIX") or ""


def _tracegrad_version() -> str:
    return __version__


def _cflags(march: bool, openmp: bool, fast_math: bool) -> list[str]:
    flags = [*OPT_FLAGS]
    if march:
        flags.append(MARCH_NATIVE)
    if openmp:
        flags.append("-fopenmp")
    if fast_math:
        # -ffast-math's parts, spelled out: the flag itself (and -funsafe-math-optimizations)
        # also links crtfastmath.o, whose constructor sets flush-to-zero/denormals-are-zero
        # for the WHOLE process when the module loads (NumPy then computes 5e-324 * 1 == 0)
        flags += ["-fno-math-errno", "-ffinite-math-only", "-fno-signed-zeros",
                  "-fno-trapping-math", "-fassociative-math", "-freciprocal-math",
                  "-fno-rounding-math", "-fcx-limited-range"]
    return [*flags, "-I" + _python_include()]


def _ldflags(as_needed: bool, libmvec: bool, blas: tuple | None) -> list[str]:
    flags = ["-Wl,--as-needed"] if as_needed else []  # before the libraries it should affect
    if blas is not None:
        _, lib, library, _ = blas
        flags += ["-L" + lib, "-l" + library, "-Wl,-rpath," + lib]
    flags.append("-lm")
    if libmvec:
        flags.append("-lmvec")
    return flags


def _extra_flags() -> list[str]:
    """``$TRACEGRAD_CFLAGS``: extra flags for the compile-and-link command of every kernel
    (the sanitizer test sets ``-fsanitize=address,undefined``). They are part of the flags,
    hence of the cache key: such builds never mix with ordinary entries."""
    text = options.get("TRACEGRAD_CFLAGS")
    try:
        return shlex.split(text)
    except ValueError as e:
        raise CompileError(f"cannot parse $TRACEGRAD_CFLAGS={text!r}: {e}") from None


def _build_config(comp: _Compiler, *, uses_blas: bool, openmp: bool, fast_math: bool) -> _Build:
    cflags = _cflags(comp.march_native, openmp and comp.openmp, fast_math)
    blas = None
    if uses_blas:
        blas = _openblas()
        # the wheel's pkg-config Cflags; its cblas.h already spells the scipy_ prefix
        cflags += ["-I" + blas[0], "-DBLAS_SYMBOL_PREFIX=scipy_"]
    cflags += _extra_flags()
    return _Build(tuple(cflags), tuple(_ldflags(comp.as_needed, comp.libmvec, blas)), blas)


def _openblas() -> tuple:
    """(include dir, lib dir, library name, version) of the scipy-openblas32 wheel.

    Importing the wheel costs ~20 ms (importlib.metadata), so the answer is remembered on disk,
    keyed by the stat of the package's __init__.py, which a reinstall rewrites.
    """
    global _OPENBLAS
    if _OPENBLAS is not None:
        return _OPENBLAS
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or not spec.origin:
        raise CompileError("uses_blas: the scipy-openblas32 wheel is not installed "
                           "(pip install scipy-openblas32); it provides the OpenBLAS the C "
                           "backend links its matrix products against")
    st = os.stat(spec.origin)
    fingerprint = _sha({"format": RUNTIME_FORMAT, "origin": spec.origin, "size": st.st_size,
                        "mtime": st.st_mtime_ns, "ino": st.st_ino})
    record = _memo_read(f"blas-{fingerprint[:24]}.json", fingerprint)
    if record is None:
        import scipy_openblas32 as s
        record = {"info": [s.get_include_dir(), s.get_lib_dir(), s.get_library(),
                           getattr(s, "__version__", "")]}
        _memo_write(f"blas-{fingerprint[:24]}.json", fingerprint, record)
    _OPENBLAS = tuple(record["info"])
    return _OPENBLAS


_OPENBLAS: tuple | None = None


# ---------------------------------------------------------------------------------------------
# the key


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _key(source: str, comp: _Compiler, build: _Build) -> str:
    ident = {"format": RUNTIME_FORMAT, "compiler": comp.path, "version": comp.version,
             "argv_extra": list(comp.argv[1:]), "target": comp.target_sha,
             "cflags": list(build.cflags), "ldflags": list(build.ldflags),
             "blas": list(build.blas) if build.blas else None, "abi": _ext_suffix(),
             "tracegrad": _tracegrad_version()}
    h = hashlib.sha256(json.dumps(ident, sort_keys=True).encode())
    h.update(b"\0")
    h.update(source.encode())
    return h.hexdigest()


def _module_name(key: str) -> str:
    return "tg_" + key[:20]


# ---------------------------------------------------------------------------------------------
# the cache directory and who may be trusted


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


def _stacklevel_outside() -> int:
    """The warnings stacklevel naming the first frame outside this module (the emitter's)."""
    f, level = sys._getframe(2), 2  # frame 1 is _fall_back, whose caller is level 2
    while f is not None and f.f_globals.get("__name__") == __name__:
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


# ---------------------------------------------------------------------------------------------
# entries: verify and load, or build and publish


def _load_or_build(key: str, source: str, placeholder: str, comp: _Compiler,
                   build: _Build) -> ModuleType:
    name = _module_name(key)
    d = _entry_dir()
    so_path = _verified_entry(d, key, name)
    if so_path is not None:
        try:
            module = _import(name, so_path)
        except ImportError:
            CACHE_STATS["rebuilt_corrupt"] += 1  # verified but unloadable: e.g. a moved library
        else:
            CACHE_STATS["disk_hits"] += 1
            return module
    so_path = _build(key, name, source.replace(placeholder, name), comp, build)
    try:
        return _import(name, so_path)
    except ImportError as e:
        c_path = os.path.join(os.path.dirname(so_path), key + ".c")
        raise CompileError(f"the compiled kernel {name} does not load: {e}\n  source kept at "
                           f"{c_path}", output=str(e), source_path=c_path) from None


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


def _build(key: str, name: str, source: str, comp: _Compiler, build: _Build) -> str:
    """Compile ``source`` in a scratch directory and publish the entry; returns the .so path.

    The scratch directory is private and outside the cache, so a killed compile leaves nothing
    a later run would look at; compiling ``<key>.c`` from the scratch directory as cwd makes
    the output independent of where the scratch directory is (byte-identical across processes).
    """
    _sweep_scratch()
    scratch = tempfile.mkdtemp(prefix="tracegrad-cc-")
    try:
        with open(os.path.join(scratch, key + ".c"), "w") as f:
            f.write(source)
        cmd = [*comp.argv, *build.cflags, key + ".c", "-o", key + ".so", *build.ldflags]
        t0 = time.perf_counter()
        try:
            r = subprocess.run(cmd, check=False, cwd=scratch, capture_output=True, text=True,
                               errors="replace", timeout=COMPILE_TIMEOUT,
                               stdin=subprocess.DEVNULL)
            returncode, output = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired as e:
            returncode = None
            output = f"timed out after {COMPILE_TIMEOUT} s\n{_text(e.stdout)}{_text(e.stderr)}"
        except OSError as e:
            returncode, output = None, f"could not run the compiler: {e}"
        seconds = time.perf_counter() - t0
        CACHE_STATS["compiles"] += 1
        if returncode != 0:
            try:
                kept = os.path.join(_publish([(key + ".failed.c", source.encode(), 0o600)]),
                                    key + ".failed.c")
            except CompileError:
                kept = None  # nowhere to keep it; the output still says what went wrong
            raise CompileError(
                f"C compiler failed on kernel {name} "
                f"({'exit ' + str(returncode) if returncode is not None else 'did not finish'}); "
                f"source kept at {kept}\n  command: {shlex.join(cmd)}\n{_head(output)}",
                output=output, source_path=kept)
        with open(os.path.join(scratch, key + ".so"), "rb") as f:
            data = f.read()
        meta = {"format": RUNTIME_FORMAT, "key": key, "module": name, "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(), "compiler": comp.path,
                "compiler_version": comp.version, "target": comp.target,
                "command": cmd, "python_abi": _ext_suffix(),
                "tracegrad": _tracegrad_version(), "created": time.time(),
                "compile_seconds": round(seconds, 4)}
        # order matters: source and library first, metadata last, so an entry with metadata is
        # complete and one without metadata is rebuilt
        d = _publish([(key + ".c", source.encode(), 0o600), (key + ".so", data, 0o700),
                      (key + ".json", json.dumps(meta, indent=1).encode(), 0o600)])
        _sweep_stale(d)
        return os.path.join(d, key + ".so")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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


def _import(name: str, path: str) -> ModuleType:
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _head(text: str, lines: int = 30) -> str:
    out = text.strip().splitlines()
    more = f"\n  ... ({len(out) - lines} more lines in CompileError.output)" \
        if len(out) > lines else ""
    return "\n".join("  " + ln for ln in out[:lines]) + more


def _text(b) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode(errors="replace")


def _reset_for_tests(*, compilers: bool = False) -> None:
    """Forget loaded modules, directory decisions, the warning and the counters (tests only);
    ``compilers=True`` also forgets the probed compilers and the OpenBLAS location."""
    global _OPENBLAS
    with _LOCK:
        _BY_KEY.clear()
        _BY_REQUEST.clear()
        _DIRS.clear()
        _PRIVATE["dir"] = None
        _WARNED[0] = False
        _SWEPT_SCRATCH[0] = False
        for k in list(CACHE_STATS):
            CACHE_STATS[k] = 0
        if compilers:
            _COMPILERS.clear()
            _OPENBLAS = None


def _reset_compiler_check() -> None:
    """Forget the probed compilers so the next load checks $CC again (tests only)."""
    with _LOCK:
        _COMPILERS.clear()
