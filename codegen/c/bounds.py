"""Index bounds and elementwise domains in the C backend: ``gather`` and ``scatter_add`` check
every index they read; an integer ``pow`` checks its exponents (``DomainFlags``).

The primitives' contract is NumPy's (tracegrad/prims/np_bounds.py): an index ``v`` into an axis
of size ``n`` is valid when ``-n <= v < n``. Each index costs one compare, made once per index
row, outside the loop over the row's trailing elements: after the wrap ``v += n`` of a negative
``v``, ``(uint64_t)v < n`` holds exactly for valid indices. A row with a bad index is skipped
(nothing is read or written out of bounds); after its loop the kernel scans the index array
again, serially, for the first bad index in row-major order (the one the NumPy backend names),
records it in a thread-local and returns 1. The statement calling the kernel returns 1 too, as
after Ctrl-C, so loop bodies and loops stop (a while loop whose condition reads a skipped row
cannot spin); ``tg_run`` does not re-run a program stopped this way (``TG_INDEX_FAILED``), and
the executable reads ``index_status()`` after the call and raises ``TracedIndexError`` naming
the value, the axis size, the equation's line and the fix (``checked``).

Sites (the primitive and the user's line of each checking equation) stay on the Python side
(``CProgram.index_sites``): the C source holds only their numbers, never user text.

An elementwise equation NumPy raises for (``lowerings.DOMAIN_CHECKS``) is a site too: its
kernel declares an ``int`` flag per such equation that the lowering's helper sets (a relaxed
atomic store, from any thread), and after its loops records the first flagged site with
``tg_ix_fail`` and returns 1 as a gather does; ``checked`` raises the NumPy backend's
``DomainError`` (prims/np_domain.py) for it.
"""
from __future__ import annotations


def site(em, e) -> int:
    """Number equation ``e``'s index check (one list per module: loop bodies share it)."""
    em.index_sites.append((e.prim.name, e.src))
    return len(em.index_sites) - 1


class DomainFlags:
    """The domain flags of one elementwise kernel over equations ``eqns``: a site and a flag
    ``tg_bad<k>`` per equation that may raise; ``raises`` when there is any."""

    def __init__(self, em, eqns):
        from .lowerings import checks_domain
        self.sites = [(e, site(em, e)) for e in eqns if checks_domain(e)]
        self._flag = {id(e): f"tg_bad{k}" for k, (e, _) in enumerate(self.sites)}
        self.raises = bool(self.sites)
        self.ret = "int" if self.raises else "void"  # the kernel's return type

    def flag(self, e) -> str | None:
        """The ``int*`` equation ``e``'s lowering sets (``scalar_expr(flag=...)``), or None."""
        name = self._flag.get(id(e))
        return None if name is None else f"&{name}"

    def decls(self) -> list[str]:
        """At the kernel's top, before any parallel region (its team shares the flags)."""
        return [f"int {self._flag[id(e)]} = 0;" for e, _ in self.sites]

    def report(self) -> list[str]:
        """At the kernel's end (on the calling thread): record the first flagged equation,
        in program order, and return 1 (its call in the program returns 1 then: emit.py)."""
        if not self.raises:
            return []
        return [f"if ({self._flag[id(e)]}) {{ tg_ix_fail({n}, 0, 0); return 1; }}"
                for e, n in self.sites] + ["return 0;"]


def row_check(x, idx, ok: str = "ok") -> list[str]:
    """C statements for index row ``b`` of ``ix``: ``base`` (its offset into ``x``) and ``ok``
    (every component in range), one compare per component, no branch until the row's end."""
    k = idx.aval.shape[-1]
    from .kernels import strides  # (kernels imports this module)
    xst = strides(x.aval.shape)
    lines = ["int64_t base = 0;", f"int {ok} = 1;"]
    for j in range(k):
        dim = x.aval.shape[j]
        lines.append(f"{{ int64_t v = (int64_t)ix[b*{k} + {j}]; if (v < 0) v += {dim}; "
                     f"{ok} &= (uint64_t)v < (uint64_t){dim}; base += v*{xst[j]}; }}")
    return lines


def skip_row() -> list[str]:
    """Inside the row loop: leave a row with a bad index (any thread may set ``bad``)."""
    return ["if (!ok) {", "    TG_PRAGMA(omp atomic write)", "    bad = 1;", "    continue;", "}"]


def report(x, idx) -> list[str]:
    """After the row loop: find and record the first bad index, and return 1 (serial, so it
    names the same index on every run; only reached when some row was bad). The site is the
    kernel's last parameter ``int site``, so equal gathers at two lines share one kernel text
    (dedupe.py)."""
    k = idx.aval.shape[-1]
    nb = 1
    for d in idx.aval.shape[:-1]:
        nb *= d
    lines = ["    if (bad) {", f"        for (int64_t b = 0; b < {nb}; b++) {{"]
    for j in range(k):
        dim = x.aval.shape[j]
        lines.append(f"            {{ int64_t v = (int64_t)ix[b*{k} + {j}]; "
                     f"if (v < -{dim}LL || v >= {dim}LL) "
                     f"{{ tg_ix_fail(site, v, {dim}); return 1; }} }}")
    lines += ["        }", "        return 1;", "    }", "    return 0;"]
    return lines


def decls(em) -> str:
    """The module's record of the first bad index of a call (per thread, as tg_run's caller
    is), and the ``TG_INDEX_FAILED`` test ``tg_run`` makes before re-running a stopped call."""
    if not em.index_sites:  # (on a line of its own: the text before may not end one)
        return "\n#define TG_INDEX_FAILED 0\n"
    return "\n" + r"""/* an index out of range (codegen/c/bounds.py): the first of this thread's call */
/* tg-library begin */
static __thread int tg_ix_site = -1;
static __thread int64_t tg_ix_value = 0, tg_ix_size = 0;
static void tg_ix_fail(int site, int64_t value, int64_t size) {
    if (tg_ix_site < 0) { tg_ix_site = site; tg_ix_value = value; tg_ix_size = size; }
}
#define TG_INDEX_FAILED (tg_ix_site >= 0)
static PyObject* tg_index_status(PyObject* self, PyObject* unused) {
    PyObject* r;
    if (tg_ix_site < 0) Py_RETURN_NONE;
    r = Py_BuildValue("(iLL)", tg_ix_site, (long long)tg_ix_value, (long long)tg_ix_size);
    tg_ix_site = -1;
    return r;
}
/* tg-library end */
"""


def method(em) -> str:
    if not em.index_sites:
        return ""
    return ('{"index_status", (PyCFunction)tg_index_status, METH_NOARGS, '
            '"(site, value, axis size) of the first index out of range (or operand out of its '
            'domain), or None"},')


def checked(run, status, sites):
    """``run`` raising ``TracedIndexError`` when the call met an index out of range (the
    outputs are then incomplete: they are never returned)."""
    from tracegrad.prims.np_bounds import index_error
    from tracegrad.prims.np_domain import _MESSAGES, domain_error

    def run_checked(*args):
        try:
            run(*args)
        finally:  # another error (LinAlgError, Ctrl-C) must not leave a stale record
            failed = status()
        if failed is not None:
            site_no, value, size = failed
            name, src = sites[site_no]
            if name in _MESSAGES:  # an elementwise domain site (DomainFlags)
                raise domain_error(name, src)
            raise index_error(name, value, size, src)
    return run_checked
