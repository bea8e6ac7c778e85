"""Route SciPy's public callables to tracegrad's versions when an argument is traced.

scipy.special's functions are mostly ufuncs, which reach ``Tracer.__array_ufunc__`` on their
own (tracegrad/numpy/dispatch.py maps them by identity, ``ufunc_impl`` below). The rest
(``logsumexp``, ``softmax``, ``log_softmax``, ``polygamma``) and scipy.stats' distribution
methods call ``np.asarray`` on their inputs first, which fails on a tracer inside SciPy. So,
once per process, when a trace starts and SciPy is loaded (``install``):

- each such *function* keeps its identity but gets a small trampoline as its code: a name the
  user bound before tracegrad loaded (``from scipy.special import logsumexp``) is the same
  object, so rebinding module attributes alone would miss it. The trampoline calls a
  ``_Router`` holding the original function (a copy of it: same code, globals, defaults and
  closure) and tracegrad's implementation; concrete arguments go to the original untouched.
- each distribution *method* (``rv_continuous.logpdf``, ``rv_discrete.logpmf``,
  ``multivariate_normal_gen.logpdf``, ...) is routed the same way, its function object given
  a trampoline, so every instance, frozen distributions and bound methods taken earlier
  (``logpdf = norm.logpdf``) included, goes through it.

A SciPy module imported after the first trace (even inside a traced function) gets its routes
when its import finishes, through an import hook the first trace registers; tracegrad itself
never imports SciPy for this. The cost on concrete arguments is one extra Python call and an
isinstance scan of the arguments (~0.5 us, tests/test_stats.py). Installation holds a
(reentrant) lock and is idempotent, so concurrent traces in several threads install once.
``uninstall`` restores SciPy's code exactly.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
import types

from ..errors import TracegradError, UnsupportedOperationError
from ..source_info import names_caller, user_src_with_text
from ..tracer import Tracer

COVERAGE_PAGE = "docs/numpy-coverage.md"

# "scipy.special.gammaln" -> tracegrad's implementation (filled by special.py and stats.py)
IMPLEMENTATIONS: dict[str, object] = {}


def implements(qualname: str):
    """Register ``fn`` as tracegrad's ``qualname``; its TracegradErrors name the user's line."""
    def deco(fn):
        public = names_caller(fn)
        IMPLEMENTATIONS[qualname] = public
        return public
    return deco


def unsupported(qualname: str, why: str = ""):
    """An UnsupportedOperationError naming the SciPy function the user called."""
    raise UnsupportedOperationError(
        f"{qualname} on a traced array is not supported by tracegrad"
        + (f" ({why})" if why else "")
        + f"; {COVERAGE_PAGE} lists the NumPy and SciPy functions it can trace",
        src=user_src_with_text(3))


def _traced(args, kwargs) -> bool:
    """Whether any argument (or an element of a list/tuple argument) is a tracer."""
    for a in args:
        if isinstance(a, Tracer) or (type(a) in (list, tuple)
                                     and any(isinstance(e, Tracer) for e in a)):
            return True
    for a in kwargs.values():
        if isinstance(a, Tracer) or (type(a) in (list, tuple)
                                     and any(isinstance(e, Tracer) for e in a)):
            return True
    return False


# --- functions: a trampoline in place of the code ------------------------------------------
_SENTINEL = 1.2345678901234567e-300  # a constant of the trampoline replaced by its router


def _trampoline(*args, **kwargs):
    route = 1.2345678901234567e-300
    return route(args, kwargs)


class _Router:
    """Called by a trampoline with the call's arguments: tracegrad's ``impl`` when one is
    traced, SciPy's ``original`` otherwise. For a method (``method``), ``args[0]`` is the
    instance and ``impl(self, args, kwargs)`` gets the rest."""
    __slots__ = ("impl", "method", "original", "qualname")

    def __init__(self, original, impl, qualname, method=False):
        self.original, self.impl, self.qualname, self.method = original, impl, qualname, method

    def __call__(self, args, kwargs):
        if self.method:
            if _traced(args[1:], kwargs):
                return self.impl(args[0], args[1:], kwargs)
        elif _traced(args, kwargs):
            return self.impl(*args, **kwargs)
        return self.original(*args, **kwargs)


# routed function -> (its own code, its router)
_ROUTED_FUNCTIONS: dict = {}


def _copy(fn):
    """A new function object with ``fn``'s code, globals, defaults, closure and attributes."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                              fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__dict__.update(fn.__dict__)
    copy.__qualname__, copy.__doc__, copy.__module__ = fn.__qualname__, fn.__doc__, fn.__module__
    return copy


def _swap(fn, router) -> None:
    if fn.__closure__:  # a trampoline has no free variables to match a closure with
        raise TracegradError(f"internal: {router.qualname} has a closure; it cannot be routed")
    code = _trampoline.__code__
    consts = tuple(router if type(c) is float and c == _SENTINEL else c for c in code.co_consts)
    code = code.replace(co_consts=consts, co_name=fn.__code__.co_name,
                        co_qualname=fn.__code__.co_qualname)
    _ROUTED_FUNCTIONS[fn] = (fn.__code__, router)
    fn.__wrapped__ = router.original  # inspect.signature and help() show SciPy's signature
    fn.__code__ = code  # one assignment: a concurrent call sees the old code or the new one


def route_function(fn, impl, qualname: str) -> None:
    """Make ``fn`` (a plain Python function) call ``impl`` when an argument is traced."""
    if fn not in _ROUTED_FUNCTIONS:
        _swap(fn, _Router(_copy(fn), impl, qualname))


def route_method(cls, name: str, dispatch) -> None:
    """Make the method ``cls.name`` call ``dispatch(self, name, args, kwargs)`` when an
    argument is traced. The function object itself is routed, as for functions, so bound
    methods taken before (``logpdf = norm.logpdf``) and subclasses' lookups all see it."""
    fn = cls.__dict__[name]
    if fn not in _ROUTED_FUNCTIONS:
        _swap(fn, _Router(_copy(fn), lambda self, args, kwargs: dispatch(self, name, args,
                                                                          kwargs),
                          f"{cls.__name__}.{name}", method=True))


# --- installation --------------------------------------------------------------------------
_LOCK = threading.RLock()  # reentrant: installing imports, which may run the import hook
_INSTALLED: set[str] = set()  # the SciPy modules whose routes are in place
# scipy.signal's convolutions are routed too (their implementations: tracegrad/numpy/signal.py),
# so that install() after uninstall() restores every route, whatever was imported first
_MODULES = ("scipy.special", "scipy.stats", "scipy.signal")


def install(_done: str | None = None) -> None:
    """Install the routes of every SciPy module already imported, and have the others
    installed as soon as they are (called as each trace starts: cheap when there is nothing
    new to do)."""
    if len(_INSTALLED) == len(_MODULES):
        return
    pending = [m for m in _MODULES if m not in _INSTALLED and (m == _done or _loaded(m))]
    if len(pending) + len(_INSTALLED) < len(_MODULES):
        _watch_imports()
    if not pending:
        return
    with _LOCK:
        for mod in pending:
            if mod in _INSTALLED:
                continue
            if mod == "scipy.special":
                _install_special()
            elif mod == "scipy.stats":
                _install_stats()
            else:
                from ..numpy.signal import _patch
                _patch(sys.modules["scipy.signal"])
            _INSTALLED.add(mod)


class _InstallOnImport(importlib.abc.MetaPathFinder):
    """Installs a SciPy module's routes when it finishes importing: a traced function that
    imports scipy.stats itself gets the routes in the same trace."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _MODULES or fullname in _INSTALLED:
            return None
        try:  # find the real spec without finding ourselves
            sys.meta_path.remove(self)
        except ValueError:  # another thread's import took us out first
            return None
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            if len(_INSTALLED) + 1 < len(_MODULES):
                sys.meta_path.insert(0, self)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module):
            run(module)
            install(fullname)  # executed, though importlib marks it initializing until we return
        loader.exec_module = exec_module
        return spec


def _loaded(name: str) -> bool:
    """``name`` is imported and done executing (scipy.stats imports scipy.special part-way
    through its own import: its routes must wait until it is complete)."""
    mod = sys.modules.get(name)
    return mod is not None and not getattr(getattr(mod, "__spec__", None), "_initializing", False)


def _watch_imports() -> None:
    with _LOCK:
        if not any(isinstance(f, _InstallOnImport) for f in sys.meta_path):
            sys.meta_path.insert(0, _InstallOnImport())


def uninstall() -> None:
    """Give SciPy back its own code and methods (tests; ``install`` can run again)."""
    with _LOCK:
        for fn, (code, _) in list(_ROUTED_FUNCTIONS.items()):
            fn.__code__ = code
            del fn.__wrapped__
        _ROUTED_FUNCTIONS.clear()
        _INSTALLED.clear()


# scipy.special functions that are Python functions (not ufuncs) calling np.asarray
_SPECIAL_FUNCTIONS = ("logsumexp", "softmax", "log_softmax", "polygamma")


def _install_special() -> None:
    import scipy.special as sc

    from . import special  # noqa: F401  (registers the implementations)
    for name in _SPECIAL_FUNCTIONS:
        fn = getattr(sc, name)
        route_function(fn, IMPLEMENTATIONS[f"scipy.special.{name}"], f"scipy.special.{name}")


def _install_stats() -> None:
    import scipy.stats as st
    from scipy.stats import _multivariate as mv

    from . import stats
    for cls, names in ((st.rv_continuous, ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf")),
                       (st.rv_discrete, ("logpmf", "pmf", "cdf", "logcdf", "sf", "logsf")),
                       (mv.multivariate_normal_gen, ("logpdf", "pdf", "__call__")),
                       (mv.dirichlet_gen, ("logpdf", "pdf", "__call__")),
                       (mv.multivariate_normal_frozen, ("logpdf", "pdf")),
                       (mv.dirichlet_frozen, ("logpdf", "pdf"))):
        for name in names:
            route_method(cls, name, stats.dispatch)


_UFUNCS = None


def ufunc_impl(ufunc):
    """tracegrad's implementation of a SciPy ufunc (by identity), or None."""
    global _UFUNCS
    sc = sys.modules.get("scipy.special")
    if sc is None:
        return None
    if _UFUNCS is None:
        from . import special  # noqa: F401  (registers the implementations)
        table = {}
        for qualname, impl in IMPLEMENTATIONS.items():
            if qualname.startswith("scipy.special."):
                obj = getattr(sc, qualname.rsplit(".", 1)[1], None)
                if type(obj).__name__ == "ufunc":
                    table[obj] = impl
        _UFUNCS = table
    return _UFUNCS.get(ufunc)


def ufunc_qualname(ufunc) -> str:
    """The name the user called a ufunc by: ``np.exp``, ``scipy.special.gammaln``."""
    name = ufunc.__name__
    import numpy as np
    if getattr(np, name, None) is ufunc:
        return f"np.{name}"
    for mod in ("scipy.special",):
        m = sys.modules.get(mod)
        if m is not None and getattr(m, name, None) is ufunc:
            return f"{mod}.{name}"
    return f"the ufunc {name}"


def dispatch_ufunc(ufunc, method, inputs, kwargs):
    """A ufunc NumPy does not define, called on a traced array: tracegrad's version of the
    SciPy ufunc it is, or an error naming it as the user wrote it (scipy.special.<name>)."""
    qual = ufunc_qualname(ufunc)
    impl = ufunc_impl(ufunc)
    if impl is None or method != "__call__":
        unsupported(qual if method == "__call__" else f"{qual}.{method}")
    out = kwargs.pop("out", None)
    if out is not None and any(o is not None for o in out):
        unsupported(f"{qual}(..., out=)", "return the result instead")
    dtype = kwargs.pop("dtype", None)
    for k in ("casting", "order", "subok"):
        kwargs.pop(k, None)
    if kwargs:
        unsupported(f"{qual}(..., {', '.join(sorted(kwargs))}=)")
    res = impl(*inputs)
    if dtype is not None:
        from .. import numpy as tnp
        res = tnp.astype(res, dtype)
    return res
