"""The copy of NumPy's OpenBLAS in the kernel cache directory and the on-disk record of the
decision to use it (``blas_instance`` says when and why): written atomically, named by content,
checked before every load, rewritten when damaged; nothing outside tracegrad's files is touched.

Record ``openblas-<fingerprint>.json``: ``{"use", "why", "core", "sha256", "size", "stamp",
"numpy_s", "copy_s"}``; ``stamp`` (inode, ctime, mtime) of the copy as last verified, so a
process hashes the 25 MB copy only when the file changed since.
"""
from __future__ import annotations

import ctypes
import os

from . import blas_instance, disk_cache


def _fingerprint(numpy_path: str, core: str, measure: bool) -> str:
    st = os.stat(numpy_path)
    flags = sorted(blas_instance.cpu_flags())
    return disk_cache._sha({"format": blas_instance.FORMAT, "runtime": disk_cache.RUNTIME_FORMAT,
                            "numpy_lib": numpy_path, "size": st.st_size,
                            "mtime": st.st_mtime_ns, "ino": st.st_ino, "core": core,
                            "flags": flags, "measure": measure})


def record_name(fingerprint: str) -> str:
    return f"openblas-{fingerprint[:24]}.json"


def copy_name(sha: str) -> str:
    return f"openblas-{sha[:24]}.so"


def _stamp(st: os.stat_result) -> list:
    return [st.st_ino, st.st_ctime_ns, st.st_mtime_ns]


def publish(numpy_path: str, directory: str) -> tuple[str, str, int]:
    """Copy NumPy's library into ``directory`` atomically; ``(path, sha256, size)``. The bytes
    hashed are the bytes written, and the written file is hashed again before it is named."""
    import hashlib
    with open(numpy_path, "rb") as f:
        data = f.read()
    sha = hashlib.sha256(data).hexdigest()
    path = disk_cache._write_atomic(directory, copy_name(sha), data, 0o700)
    written, size = blas_instance.sha256_file(path)
    if (written, size) != (sha, len(data)):
        raise OSError(f"the copy {path} does not read back as written")
    return path, sha, size


def verified(path: str, rec: dict) -> bool:
    """Whether the copy at ``path`` is ours and holds the bytes the record names; a file whose
    inode/ctime/mtime changed since the record's stamp is hashed again (and re-stamped)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    if disk_cache._untrusted(st, "the OpenBLAS copy", path, is_dir=False) or \
            st.st_size != rec.get("size"):
        return False
    if _stamp(st) == rec.get("stamp"):
        return True
    try:
        sha, size = blas_instance.sha256_file(path)
    except OSError:
        return False
    if (sha, size) != (rec.get("sha256"), rec.get("size")):
        return False
    rec["stamp"] = _stamp(st)
    return True


def instance(numpy_path: str, numpy_core: str, core: str, *, measure: bool):
    """The Choice for a CPU whose best kernel set ``core`` is above NumPy's ``numpy_core``."""
    Choice = blas_instance.Choice
    directory = disk_cache._entry_dir()
    if directory == disk_cache._PRIVATE["dir"]:  # a copy and a probe in every process: no
        raise OSError("the kernel cache directory is not usable, so neither is a copy in it")
    fp = _fingerprint(numpy_path, core, measure)
    name = record_name(fp)
    rec = disk_cache._memo_read(name, fp)
    dirty = False
    if rec is None:  # first time on this machine (or NumPy / the CPU changed): decide
        rec = {"core": core, "use": True, "why": f"{blas_instance.ENV}=copy (not measured)"}
        if measure:  # on a copy in a scratch directory: the cache gets one only when used
            rec.update(_measure(numpy_path, numpy_core, core))
        dirty = True
    if not rec.get("use"):
        if dirty:
            disk_cache._memo_write(name, fp, rec)
        return Choice(numpy_path, numpy_core, False,
                      f"NumPy's OpenBLAS ({numpy_core} kernels): {rec.get('why')}")
    stamp = rec.get("stamp")
    path = os.path.join(directory, copy_name(rec.get("sha256", "")))
    if "sha256" not in rec or not verified(path, rec):  # new, damaged or removed: write it
        path, sha, size = publish(numpy_path, directory)
        if rec.setdefault("sha256", sha) != sha:
            raise OSError("NumPy's OpenBLAS changed under the record")
        rec.update(size=size, stamp=_stamp(os.stat(path, follow_symlinks=False)))
    if dirty or rec.get("stamp") != stamp:
        disk_cache._memo_write(name, fp, rec)
    lib, runs = blas_instance.load(path, core)
    if rec.get("core") != runs:
        rec["core"] = runs  # what it runs (OpenBLAS may take Cooperlake as SkylakeX)
        disk_cache._memo_write(name, fp, rec)
    if measure and not blas_instance.above(runs, numpy_core):
        raise OSError(f"the copy runs {runs} kernels, no better than NumPy's {numpy_core}")
    if not blas_instance.independent(lib, ctypes.CDLL(numpy_path)):
        raise OSError("the copy shares NumPy's instance (its symbols resolved to NumPy's)")
    return Choice(path, runs, True, f"a copy of NumPy's OpenBLAS with {runs} kernels "
                  f"(NumPy's instance runs {numpy_core}): {rec.get('why')}")


def _decide(got: dict, numpy_core: str) -> dict:
    """The record's verdict from the probe's measurement."""
    if "error" in got:
        return {"use": False, "why": f"the copy failed in a child process: {got['error']}"}
    core = str(got.get("core", "?"))
    if not blas_instance.above(core, numpy_core):
        return {"use": False, "why": f"the copy ran {core} kernels, no better than NumPy's"}
    times = {"numpy_s": got["numpy_s"], "copy_s": got["copy_s"]}
    timing = f"{got['copy_s'] * 1e3:.3f} ms vs {got['numpy_s'] * 1e3:.3f} ms on one thread"
    if not got.get("max_rel_err", 1.0) <= blas_instance.MAX_REL_ERR:
        return {"use": False, "why": f"the {core} copy's products differ from NumPy's "
                                     f"(relative {got.get('max_rel_err')})", **times}
    if got["copy_s"] > blas_instance.FASTER * got["numpy_s"]:
        return {"use": False, "why": f"measured not faster ({timing})", **times}
    return {"use": True, "why": f"measured {timing}", **times}


def _measure(numpy_path: str, numpy_core: str, core: str) -> dict:
    """Probe a copy written to a scratch directory (``tracegrad-probe-*``: swept if a killed
    process leaves it) and return the verdict."""
    import shutil
    import tempfile
    scratch = tempfile.mkdtemp(prefix="tracegrad-probe-")
    try:
        path, _, _ = publish(numpy_path, scratch)
        return _decide(blas_instance.probe(numpy_path, numpy_core, path, core), numpy_core)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def recorded(directory: str) -> list[str]:
    """The decisions recorded in a kernel directory, one line each (``tracegrad cache info``);
    reads the records only: nothing is measured, copied or loaded."""
    import json
    out = []
    try:
        names = sorted(n for n in os.listdir(directory)
                       if n.startswith("openblas-") and n.endswith(".json"))
    except OSError:
        return out
    for n in names:
        try:
            with open(os.path.join(directory, n), opener=blas_instance._nofollow) as f:
                rec = json.load(f)["record"]
            what = (f"a copy of NumPy's OpenBLAS with {rec['core']} kernels "
                    f"({copy_name(rec['sha256'])})" if rec.get("use") else
                    f"NumPy's OpenBLAS, not a {rec.get('core')} copy")
            out.append(f"{what}: {rec.get('why')}")
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out
