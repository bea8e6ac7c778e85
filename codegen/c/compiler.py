"""The C compiler: found ($CC, else cc/gcc/clang), identified (version, what -march=native
means here, OpenMP and libmvec support) and checked once per process, remembered on disk."""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import itertools
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import asdict, dataclass
from functools import cache

from tracegrad import options
from tracegrad.errors import CompileError

from . import disk_cache


# -fno-math-errno / -fno-trapping-math let loops calling libm vectorize without -ffast-math:
# NumPy never reads errno or traps either, so results and NaN/inf behaviour stay NumPy's.
OPT_FLAGS = ("-O3", "-fPIC", "-shared", "-std=c99", "-fno-math-errno", "-fno-trapping-math")
MARCH_NATIVE = "-march=native"
PROBE_TIMEOUT = 60      # seconds for one compiler probe (--version, target listing, test build)
_COMPILERS: dict[str, _Compiler | CompileError] = {}


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
    fingerprint = disk_cache._sha({"format": disk_cache.RUNTIME_FORMAT, "cc": cc,
                                   "binaries": binaries, "cpu": _cpu_identity(),
                                   "include": _python_include(), "abi": _ext_suffix(),
                                   "platform": sys.platform})
    record = disk_cache._memo_read(f"cc-{fingerprint[:24]}.json", fingerprint)
    if record is not None:
        try:
            return _Compiler(**{**record, "argv": tuple(record["argv"])})
        except (TypeError, KeyError):
            pass  # a record of another shape: probe again
    comp = _probe_uncached(cc, argv)
    disk_cache._memo_write(f"cc-{fingerprint[:24]}.json", fingerprint, asdict(comp))
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
    fingerprint = disk_cache._sha({"format": disk_cache.RUNTIME_FORMAT, "origin": spec.origin,
                                   "size": st.st_size, "mtime": st.st_mtime_ns,
                                   "ino": st.st_ino})
    record = disk_cache._memo_read(f"blas-{fingerprint[:24]}.json", fingerprint)
    if record is None:
        import scipy_openblas32 as s
        record = {"info": [s.get_include_dir(), s.get_lib_dir(), s.get_library(),
                           getattr(s, "__version__", "")]}
        disk_cache._memo_write(f"blas-{fingerprint[:24]}.json", fingerprint, record)
    _OPENBLAS = tuple(record["info"])
    return _OPENBLAS


_OPENBLAS: tuple | None = None


def _head(text: str, lines: int = 30) -> str:
    out = text.strip().splitlines()
    more = f"\n  ... ({len(out) - lines} more lines in CompileError.output)" \
        if len(out) > lines else ""
    return "\n".join("  " + ln for ln in out[:lines]) + more


def _text(b) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode(errors="replace")
