"""``np.array``/``np.asarray``/``np.asanyarray``/``np.r_``/``np.c_``/``np.full`` on traced values.

NumPy's protocols never see these calls (``np.array`` is C code that asks each element for
``__array__``, which a tracer cannot answer with numbers). So while any thread traces, the
``numpy`` module's attributes of those names are wrappers: a call whose argument holds a
tracer *and* comes from a thread that is tracing builds a traced array (building.py); every
other call runs NumPy's own function with the same arguments. The first trace to open (in any
thread) installs them and the last to close restores NumPy's objects, under a lock, so outside
traces ``np.array is numpy._core.multiarray.array`` again. A wrapper object kept by user code
past the trace stays correct (it falls through). Limitation: names bound before the trace
(``from numpy import array``) call NumPy directly. benchmarks/array_intercept.py measures
the cost of a wrapped call on plain NumPy values.
"""
from __future__ import annotations

import threading

import numpy as _np
from numpy.lib import _index_tricks_impl as _tricks

from ..tracer import _ACTIVE, install_trace_hooks

ORIGINAL = {name: getattr(_np, name)
            for name in ("array", "asarray", "asanyarray", "r_", "c_", "full")}
_np_array, _np_asarray, _np_asanyarray = ORIGINAL["array"], ORIGINAL["asarray"], \
    ORIGINAL["asanyarray"]

_lock = threading.Lock()
_open_traces = 0  # in every thread: the wrappers are installed while this is positive


def _traced(a) -> bool:
    """Whether ``a`` (the first argument) holds a tracer; only asked in a tracing thread."""
    return type(a) is _Tracer or (type(a) in (list, tuple) and _holds_tracer(a))


# The wrappers take NumPy's arguments as given and pass them on unchanged (parsing keywords
# here would cost every plain call), reading them only on the traced path.
def array(*args, **kwargs):
    if _ACTIVE.items and args and _traced(args[0]) and len(args) <= 2 and \
            not kwargs.get("like") and not kwargs.get("subok"):
        # (subok=True is NumPy's own code keeping a subclass, np.ma's operators: they go on to
        # ndarray methods a tracer lacks, so they keep NumPy's conversion error)
        copy = kwargs.get("copy", True)
        return _building().build_array(args[0], args[1] if len(args) > 1 else
                                       kwargs.get("dtype"), copy=copy is True,
                                       ndmin=kwargs.get("ndmin", 0))
    return _np_array(*args, **kwargs)


def asarray(*args, **kwargs):
    if _ACTIVE.items and args and _traced(args[0]) and len(args) <= 2 and \
            not kwargs.get("like"):
        return _building().build_array(args[0], args[1] if len(args) > 1 else
                                       kwargs.get("dtype"), copy=kwargs.get("copy") is True)
    return _np_asarray(*args, **kwargs)


def asanyarray(*args, **kwargs):
    if _ACTIVE.items and args and _traced(args[0]) and len(args) <= 2 and \
            not kwargs.get("like"):
        return _building().build_array(args[0], args[1] if len(args) > 1 else
                                       kwargs.get("dtype"), copy=kwargs.get("copy") is True)
    return _np_asanyarray(*args, **kwargs)


_np_full = ORIGINAL["full"]


def full(*args, **kwargs):
    """``np.full(shape, fill_value)`` with a traced fill value (NumPy dispatches ``full`` only
    on ``like=``, and converts the fill value with ``asarray``)."""
    fill = args[1] if len(args) > 1 else kwargs.get("fill_value")
    if _ACTIVE.items and fill is not None and _traced(fill) and not kwargs.get("like"):
        from . import creation
        shape = args[0] if args else kwargs.get("shape")
        dtype = args[2] if len(args) > 2 else kwargs.get("dtype")
        return creation.full(shape, _building().build_array(fill, None, copy=False)
                             if type(fill) is not _Tracer else fill, dtype)
    return _np_full(*args, **kwargs)


for _f, _orig in ((array, _np_array), (asarray, _np_asarray), (asanyarray, _np_asanyarray),
                  (full, _np_full)):
    _f.__doc__ = _orig.__doc__  # help(np.array) while tracing reads NumPy's text
    _f.__wrapped__ = _orig


def _key_holds_tracer(key) -> bool:
    return type(key) is _Tracer or (type(key) is tuple and _holds_tracer(key))


class _RClass(_tricks.RClass):
    """``np.r_`` whose ``[...]`` with traced items joins them in the trace."""

    __slots__ = ()

    def __getitem__(self, key):
        if _ACTIVE.items and _key_holds_tracer(key):
            return _building().R_(key)
        return _tricks.RClass.__getitem__(self, key)


class _CClass(_tricks.CClass):
    """``np.c_`` whose ``[...]`` with traced items joins them in the trace."""

    __slots__ = ()

    def __getitem__(self, key):
        if _ACTIVE.items and _key_holds_tracer(key):
            return _building().C_(key)
        return _tricks.CClass.__getitem__(self, key)


WRAPPERS = {"array": array, "asarray": asarray, "asanyarray": asanyarray, "r_": _RClass(),
            "c_": _CClass(), "full": full}


def _opened() -> None:
    global _open_traces
    with _lock:
        _open_traces += 1
        if _open_traces == 1:
            for name, wrapper in WRAPPERS.items():
                if getattr(_np, name) is ORIGINAL[name]:  # never displace another library's
                    setattr(_np, name, wrapper)


def _closed() -> None:
    global _open_traces
    with _lock:
        _open_traces -= 1
        if _open_traces == 0:
            for name, wrapper in WRAPPERS.items():
                if getattr(_np, name) is wrapper:
                    setattr(_np, name, ORIGINAL[name])


def installed() -> bool:
    """Whether the wrappers are the ``numpy`` module's attributes now (tests, benchmark)."""
    return _np.array is array


def _building():
    from . import building
    return building


from ..tracer import Tracer as _Tracer  # noqa: E402
from .building import holds_tracer as _holds_tracer  # noqa: E402

install_trace_hooks(_opened, _closed)
