"""A long C build in a background thread while NumPy answers the first calls (``backend="auto"``).

A program of many kernels can take seconds in the C compiler; a user calling it once or twice
would rather not wait. For ``backend="auto"`` (never for an explicit ``backend="c"``, which
waits for its build), ``maybe_background`` emits the C source and, when that source is not
built yet (not loaded, not in the disk cache) and has at least ``BACKGROUND_MIN_KERNELS``
kernels, returns a ``BackgroundExecutable``: calls run the NumPy code of the same optimized
graph until the thread has built and loaded the C module, then the C module. The two backends
agree within float tolerance, not bit for bit (NumPy's and libm's elementwise functions differ
in the last bits), so a caller sees at most one switch: NumPy results, then C results.
``state`` says which ("numpy: C building in the background", "c: built in the background",
"numpy: the C build failed: ..."); ``JitFunction.cache_info().backends`` reports it per
signature.
"""
from __future__ import annotations

import threading

from tracegrad.ir import Graph

# kernels from which a build not found in the cache goes to the background: with kernels out
# of line gcc -O3 spends about 1.5 ms of CPU per small kernel plus ~0.3 s for the headers (an
# unrolled RNN of 1,100 kernels: 1.7 s of CPU, 2.5-6 s of wall time on a shared 2-CPU machine;
# benchmarks/c_build_scaling.py), so from 1,000 kernels a first call would wait seconds
BACKGROUND_MIN_KERNELS = 1000


def kernel_count(source: str) -> int:
    """The kernel functions in a generated module (each starts a line with ``TG_KERNEL``)."""
    return source.count("\nTG_KERNEL ")


def maybe_background(graph: Graph, fn_name: str, numpy_plan=None):
    """A ``BackgroundExecutable`` when ``graph``'s C build is long and not cached, else a
    ``CExecutable`` built now (from the same emitted source). Raises ``CompileError`` when no
    compiler works, as ``CExecutable`` does. ``numpy_plan``: the NumPy code's memory plan (None
    after the C pipelines, which leave planning to the backend)."""
    from .executable import CExecutable, prepare
    from .loader import is_built
    prepared = prepare(graph, fn_name)
    source = prepared[1].source
    if kernel_count(source) < BACKGROUND_MIN_KERNELS or is_built(source):
        return CExecutable(graph, fn_name, prepared)
    return BackgroundExecutable(graph, fn_name, prepared, numpy_plan)


class BackgroundExecutable:
    """NumPy now, C once the thread has built it; see the module docstring."""

    def __init__(self, graph: Graph, fn_name: str, prepared, numpy_plan=None):
        from tracegrad.codegen.executable import NumpyExecutable

        from . import threads as c_threads
        self.graph = graph
        self.plan, self.program, codegen = prepared
        self.source = self.program.source
        self._numpy = NumpyExecutable(graph, fn_name, numpy_plan)
        self.peak_bytes = self._numpy.peak_bytes
        self.seconds = {"codegen": codegen + self._numpy.seconds["codegen"],
                        "compile": self._numpy.seconds["compile"]}
        self._c = None
        self.error = None           # the exception that stopped the C build, if any
        self._done = threading.Event()
        c_threads.prepare_openmp()  # on this thread, before the module pulls libgomp in
        self._thread = threading.Thread(target=self._build, args=(graph, fn_name, prepared),
                                        name=f"tracegrad-c-build-{fn_name}", daemon=True)
        self._thread.start()

    def _build(self, graph, fn_name, prepared) -> None:
        from .executable import CExecutable
        try:
            self._c = CExecutable(graph, fn_name, prepared)
        except BaseException as e:  # noqa: BLE001 - reported through state; NumPy keeps going
            self.error = e
            import warnings

            from tracegrad.errors import TracegradWarning
            warnings.warn(f"tracegrad: the background C build of {fn_name} failed "
                          f"({self.state.split(': ', 2)[-1]}); the NumPy backend keeps "
                          "answering its calls (backend='c' raises the error instead)",
                          TracegradWarning, stacklevel=1)
        finally:
            self._done.set()

    @property
    def backend(self) -> str:
        """The backend answering calls now: ``numpy`` until the C module is loaded."""
        return "c" if self._c is not None else "numpy"

    @property
    def state(self) -> str:
        if self._c is not None:
            return "c: built in the background"
        if self.error is not None:
            first = str(self.error).splitlines()[0] if str(self.error) else type(self.error)
            return f"numpy: the C build failed: {first}"
        return "numpy: C building in the background"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the build has finished (or failed); True when C answers calls now."""
        self._done.wait(timeout)
        return self._c is not None

    def set_threads(self, n: int) -> None:
        """As ``CExecutable.set_threads`` (applied once the C module is there)."""
        self.wait()
        if self._c is not None:
            self._c.set_threads(n)

    def __call__(self, *args):
        c = self._c
        return c(*args) if c is not None else self._numpy(*args)
