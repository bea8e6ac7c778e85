"""The on-disk program cache: the optimized graph of a traced graph, stored as checked JSON under
``<cache dir>/programs`` and keyed by the traced graph, the options and the compiler's own
source, so a new process skips the passes (see ``lookup`` and ``store``)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
import struct
import threading

import numpy as np

from .. import options
from ..ir import AVal, Eqn, Graph, Lit, Var

FORMAT = 1
SUBDIR = "programs"
MAX_BYTES = 64 << 20     # larger programs (big closed-over constants) are not stored
STATS = {"hits": 0, "misses": 0, "stored": 0, "refused": 0, "uncacheable": 0}
_LOCK = threading.Lock()
_FINGERPRINT: list = []


class Uncacheable(Exception):
    """A graph holding a value the format cannot write exactly (a callable parameter ...)."""


# --- encoding: exact, and only data (decoding runs no code) ---------------------------------
def _bits(v: float) -> str:
    return struct.pack("<d", v).hex()


def _enc(v, vt):
    t = type(v)
    if v is None or t is bool or t is int or t is str:
        return v
    if t is float:
        return {"f": _bits(v)}
    if t is complex:
        return {"c": [_bits(v.real), _bits(v.imag)]}
    if t is tuple:
        return {"t": [_enc(x, vt) for x in v]}
    if t is list:
        return {"l": [_enc(x, vt) for x in v]}
    if t is slice:
        return {"sl": [_enc(v.start, vt), _enc(v.stop, vt), _enc(v.step, vt)]}
    if isinstance(v, np.dtype):
        return {"dt": v.str}
    if isinstance(v, np.generic) and v.dtype.kind in "biufc":
        return {"g": [v.dtype.str, base64.b64encode(v.tobytes()).decode()]}
    if t is np.ndarray and v.dtype.kind in "biufc":
        data = np.ascontiguousarray(v).tobytes()
        return {"a": [v.dtype.str, list(v.shape), base64.b64encode(data).decode()]}
    if t is Graph:
        return {"G": _enc_graph(v, vt)}
    if t is dict and all(type(k) is str for k in v):
        return {"d": [[k, _enc(x, vt)] for k, x in v.items()]}
    raise Uncacheable(f"a value of type {t.__name__}")


def _aval(a: AVal):
    return [list(a.shape), a.dtype.str]


def _atom(a, vt: dict):
    if type(a) is Lit:
        return {"lit": _enc(a.value, vt), "aval": _aval(a.aval)}
    return _var(a, vt)


def _var(v: Var, vt: dict) -> int:
    i = vt["ids"].get(id(v))
    if i is None:
        i = vt["ids"][id(v)] = len(vt["table"])
        vt["table"].append([_aval(v.aval), v.hint])
    return i


def _enc_graph(g: Graph, vt: dict) -> dict:
    ins = [_var(v, vt) for v in g.inputs]
    eqns = []
    for e in g.eqns:
        args = [_atom(a, vt) for a in e.inputs]
        params = [[k, _enc(e.params[k], vt)] for k in sorted(e.params)]
        outs = [_var(o, vt) for o in e.outputs]
        eqns.append([e.prim.name, args, params, outs, e.src])
    return {"in": ins, "eqns": eqns, "out": [_atom(a, vt) for a in g.outputs],
            "meta": _enc({k: x for k, x in g.meta.items()}, vt)}


def encode_graph(g: Graph) -> dict:
    """The graph as JSON-able data: variables numbered in order of appearance."""
    vt: dict = {"ids": {}, "table": []}  # the graph holds every Var: ids stay unique meanwhile
    body = _enc_graph(g, vt)
    return {"vars": vt["table"], "graph": body}


def _dec(x, vars_):
    if x is None or type(x) in (bool, int, str):
        return x
    if type(x) is not dict or len(x) != 1:
        raise ValueError("malformed value")
    (tag, p), = x.items()
    if tag == "f":
        return struct.unpack("<d", bytes.fromhex(p))[0]
    if tag == "c":
        return complex(struct.unpack("<d", bytes.fromhex(p[0]))[0],
                       struct.unpack("<d", bytes.fromhex(p[1]))[0])
    if tag == "t":
        return tuple(_dec(y, vars_) for y in p)
    if tag == "l":
        return [_dec(y, vars_) for y in p]
    if tag == "sl":
        return slice(*(_dec(y, vars_) for y in p))
    if tag == "dt":
        return _dtype(p)
    if tag == "g":
        return np.frombuffer(base64.b64decode(p[1]), _dtype(p[0]))[0]
    if tag == "a":
        dt, shape = _dtype(p[0]), tuple(int(s) for s in p[1])
        return np.frombuffer(base64.b64decode(p[2]), dt).reshape(shape).copy()
    if tag == "G":
        return _dec_graph(p, vars_)
    if tag == "d":
        return {str(k): _dec(y, vars_) for k, y in p}
    raise ValueError(f"unknown tag {tag!r}")


def _dtype(s: str) -> np.dtype:
    dt = np.dtype(s)
    if dt.kind not in "biufc":  # never an object or structured dtype from a file
        raise ValueError(f"dtype {s!r} refused")
    return dt


def _dec_aval(p) -> AVal:
    return AVal(tuple(int(d) for d in p[0]), _dtype(p[1]))


def _dec_atom(x, vars_):
    if type(x) is int:
        return vars_[x]
    return Lit(_dec(x["lit"], vars_), _dec_aval(x["aval"]))


def _dec_graph(p: dict, vars_) -> Graph:
    from ..primitive import get_primitive
    eqns = []
    for name, args, params, outs, src in p["eqns"]:
        eqns.append(Eqn(get_primitive(str(name)), tuple(_dec_atom(a, vars_) for a in args),
                        {str(k): _dec(v, vars_) for k, v in params},
                        tuple(vars_[o] for o in outs), None if src is None else str(src)))
    return Graph(tuple(vars_[i] for i in p["in"]), tuple(eqns),
                 tuple(_dec_atom(a, vars_) for a in p["out"]), _dec(p["meta"], vars_))


def decode_graph(doc: dict) -> Graph:
    vars_ = [Var(_dec_aval(a), None if h is None else str(h)) for a, h in doc["vars"]]
    return _dec_graph(doc["graph"], vars_)


# --- the key ----------------------------------------------------------------------------------
def compiler_fingerprint() -> str:
    """Size and mtime of every source file of the IR, the primitives and the passes: a pass
    edited (or tracegrad upgraded) changes it, so no optimized graph outlives the code that
    made it. Stat calls only; computed once per process."""
    if not _FINGERPRINT:
        import tracegrad
        import tracegrad.passes
        from ..version import __version__
        h = hashlib.sha256(f"{FORMAT} {__version__} {np.__version__}".encode())
        roots = [os.path.dirname(tracegrad.__file__), os.path.dirname(tracegrad.passes.__file__)]
        for root in roots:
            for sub, _, files in sorted(os.walk(root)):
                for n in sorted(files):
                    if n.endswith(".py"):
                        st = os.stat(os.path.join(sub, n))
                        h.update(f"{os.path.relpath(os.path.join(sub, n), root)} "
                                 f"{st.st_size} {st.st_mtime_ns}\n".encode())
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


def program_key(traced: Graph, config: dict) -> str | None:
    """The key of the optimized program of ``traced`` under ``config`` (pipeline, disabled
    passes, donated inputs, backend ...), or None when the graph cannot be written exactly."""
    if not enabled():
        return None
    try:
        doc = encode_graph(traced)
    except Uncacheable:
        STATS["uncacheable"] += 1
        return None
    h = hashlib.sha256(compiler_fingerprint().encode())
    h.update(json.dumps(config, sort_keys=True, default=repr).encode())
    h.update(b"\0")
    h.update(json.dumps(doc, separators=(",", ":")).encode())
    return h.hexdigest()


def enabled() -> bool:
    return options.flag("TRACEGRAD_PROGRAM_CACHE")


# --- the directory: ours, 0700, never through a symlink ---------------------------------------
def _open_dir() -> int | None:
    """A descriptor of ``<cache dir>/programs`` (made 0700 and marked as tracegrad's on first
    use), or None when it is missing, shared, foreign or a symlink (then nothing is cached)."""
    from tracegrad.codegen import cache_files
    base = options.cache_dir()
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        st = os.stat(base)
        if st.st_uid != cache_files.my_uid() and cache_files.my_uid() is not None:
            return None
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        try:
            os.mkdir(os.path.join(base, SUBDIR), 0o700)
        except FileExistsError:
            pass
        fd = cache_files.open_dir(base, SUBDIR)
    except (OSError, cache_files.NotOurs):
        return None
    try:
        if cache_files.claim(fd) is None:
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _read(fd: int, name: str) -> bytes | None:
    try:
        rfd = os.open(name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0), dir_fd=fd)
    except OSError:  # absent, or a symlink (ELOOP)
        return None
    try:
        st = os.fstat(rfd)
        from tracegrad.codegen import cache_files
        uid = cache_files.my_uid()
        if not stat.S_ISREG(st.st_mode) or (uid is not None and st.st_uid != uid) or \
                st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or st.st_size > MAX_BYTES * 2:
            STATS["refused"] += 1
            return None
        chunks = []
        while True:
            b = os.read(rfd, 1 << 20)
            if not b:
                return b"".join(chunks)
            chunks.append(b)
    finally:
        os.close(rfd)


def _write(fd: int, name: str, data: bytes) -> None:
    """Readers see the old file or all of the new one (a temporary renamed over it)."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_"
    tmp = ".tmp-" + "".join(secrets.choice(alphabet) for _ in range(8)) + "-" + name
    wfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                  0o600, dir_fd=fd)
    try:
        with os.fdopen(wfd, "wb") as f:
            f.write(data)
        os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=fd)
        except OSError:
            pass
        raise


# --- entries ----------------------------------------------------------------------------------
def lookup(key: str, traced: Graph) -> tuple[Graph, dict] | None:
    """``(graph, info)`` stored under ``key``, or None: absent, refused (not a regular file of
    ours, a symlink, shared), corrupt (checksum, format, a graph that does not verify or whose
    inputs and outputs differ from ``traced``'s): a bad entry is ignored, never trusted."""
    fd = _open_dir()
    if fd is None:
        return None
    try:
        data = _read(fd, key + ".json")
    finally:
        os.close(fd)
    if data is None:
        STATS["misses"] += 1
        return None
    try:
        head, _, body = data.partition(b"\n")
        if hashlib.sha256(body).hexdigest().encode() != head.strip():
            raise ValueError("checksum")
        doc = json.loads(body)
        if doc.get("format") != FORMAT or doc.get("key") != key:
            raise ValueError("format")
        graph = decode_graph(doc["program"])
        from ..ir import verify
        verify(graph)
        if [v.aval for v in graph.inputs] != [v.aval for v in traced.inputs] or \
                len(graph.outputs) != len(traced.outputs):
            raise ValueError("signature")
        info = doc["info"]
        if not isinstance(info, dict):
            raise ValueError("info")
    except Exception:  # noqa: BLE001 - whatever is wrong with it, the entry is not used
        STATS["refused"] += 1
        return None
    STATS["hits"] += 1
    return graph, info


def store(key: str, graph: Graph, info: dict) -> bool:
    """Write the entry (best effort: a full disk or a refused directory only costs the next
    process the passes). False when the graph cannot be written exactly or is too large."""
    try:
        body = json.dumps({"format": FORMAT, "key": key, "program": encode_graph(graph),
                           "info": info}, separators=(",", ":")).encode()
    except Uncacheable:
        STATS["uncacheable"] += 1
        return False
    if len(body) > MAX_BYTES:
        return False
    data = hashlib.sha256(body).hexdigest().encode() + b"\n" + body
    fd = _open_dir()
    if fd is None:
        return False
    try:
        with _LOCK:
            _write(fd, key + ".json", data)
        STATS["stored"] += 1
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
