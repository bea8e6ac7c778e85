"""Random draws inside a ``tg.compile`` capture (issue 15 item 1 on the PyTorch-style front).

A compiled step is replayed without running its Python, so a value drawn while it is captured
would be frozen into every replay. Each draw made during a capture becomes instead a *drawn
leaf*: an input of the program that every replay fills by calling the same NumPy sampler again,
with the same arguments, on the same generator (tg's default generator as it is at that call,
since ``manual_seed`` replaces it), with all the step's draws made in the order the eager step
made them (compile_step._Entry.run). So a seeded run of N compiled steps gives the numbers of N
eager steps bit for bit: they are NumPy's own, not the traced Threefry stream of random_host.py.

Draws reach here from ``tg.randn``/``rand``/``randint``/``*_like`` and dropout masks
(creation.py, nn.functional) and from ``np.random`` functions and ``RandomState``/``Generator``
methods (random_numpy.py, which hands back the drawn leaf, a ``tg.Tensor``, in place of the
array). What a replay cannot redraw raises ``TracedRandomError`` at capture, never freezes: a
draw's value read as a Python number or array, a generator made inside the step, a sampler with
symbolic parameters, an in-place shuffle. (A draw inside a tensor loop body is one value per
call, which every iteration reads, eagerly and compiled alike: tensor/control.py.) Every other draw during a capture (NumPy's own classes, SciPy's samplers) meets the
guarded bit-generator lock (random_guard.py), which refuses it.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .. import dtypes
from ..errors import TracedRandomError
from ..pytree import tree_flatten
from ..random_host import CAPTURING, on_captured_draw
from ..source_info import user_src, user_src_with_text
from . import lazy as L
from .core import Tensor


@contextlib.contextmanager
def host_draws():
    """Draws inside go straight to NumPy: a drawn leaf's own sampler runs, not a capture's."""
    CAPTURING.append(None)
    try:
        yield
    finally:
        CAPTURING.pop()


class DrawnTensor(Tensor):
    """A leaf drawn during a capture. Its array holds this call's numbers only; reading it as a
    value while capturing would freeze them into the replays, so that raises."""

    __slots__ = ("_what",)

    def _read(self, how: str) -> None:
        if L._CAPTURE:
            raise TracedRandomError(
                f"{self._what} is read as a concrete value ({how}) inside a tg.compile step: "
                "the step is replayed without running its Python, so that value would be "
                "frozen into every replay. Keep it a tensor (x * np.random.rand() and "
                "tg.where(tg.rand(()) < p, a, b) are drawn anew at each call), or draw it "
                "outside the step and pass it in as an argument", src=user_src_with_text(3))

    def item(self):
        self._read("item()")
        return super().item()

    def tolist(self):
        self._read("tolist()")
        return super().tolist()

    def numpy(self):
        self._read("numpy()")
        return super().numpy()

    def __array__(self, dtype=None, copy=None):
        self._read("np.asarray")
        return super().__array__(dtype, copy)

    def __bool__(self):
        self._read("bool()")
        return super().__bool__()

    def __float__(self):
        self._read("float()")
        return super().__float__()

    def __int__(self):
        self._read("int()")
        return super().__int__()

    def __index__(self):
        self._read("an index")
        return super().__index__()

    @property
    def data(self):
        self._read(".data")
        return Tensor.data.fget(self)

    @data.setter
    def data(self, value):
        Tensor.data.fset(self, value)


def capture_for():
    """The tg.compile capture a draw made now belongs to (None: draw eagerly). A tensor
    loop body's Python runs once per call, eagerly as when compiled (tensor/control.py): a
    draw there is one value per call that every iteration reads, so it belongs to the
    enclosing capture, if any."""
    cap = L._capture()
    while cap is not None and getattr(cap, "no_values_hint", None) is not None:
        cap = cap.outer
    return cap


def drawn_leaf(make, what: str, requires_grad: bool = False, gen=None):
    """A leaf holding ``make()`` (a NumPy array drawn from host generator ``gen``, None: tg's
    default one) that every replay of the enclosing tg.compile step draws anew, in draw order;
    None when not capturing (the caller draws eagerly)."""
    cap = capture_for()
    if cap is None:
        return None
    if gen is not None:
        check_generator(gen, what)
    with host_draws():
        value = make()
    t = DrawnTensor._leaf(value, False)
    t._what = f"{what} (drawn at {user_src(3)})"
    t._rg = bool(requires_grad)  # without requires_grad_: that would re-capture every call
    t._private = True
    cap.add_draw(t, make)
    return t


def check_generator(gen, what: str) -> None:
    """A generator made inside the step starts afresh at every eager call: a replay cannot
    follow it (which seed? the one the Python computed at capture)."""
    if getattr(gen, "_tg_made_in_capture", False):
        raise TracedRandomError(
            f"{what} draws from a generator made inside the tg.compile step: eagerly it is "
            "made anew at every call, which a replay (no Python runs) cannot do. Make the "
            "generator once, outside the step (rng = np.random.default_rng(seed) before it), "
            "or draw from tg's default generator (tg.randn) or np.random",
            src=user_src_with_text(3))


_IN_PLACE = frozenset({"shuffle"})  # write the caller's array: no value to redraw


def captured_draw(gen, what: str, call, args, kwargs):
    """``call(*args, **kwargs)`` (NumPy's own sampler bound to ``gen``) during a capture: a
    drawn leaf (a tg.Tensor) that each replay draws anew."""
    if capture_for() is None:  # defensive: CAPTURING is pushed with a tg.compile capture
        with host_draws():
            return call(*args, **kwargs)
    if what.rsplit(".", 1)[-1] in _IN_PLACE:
        raise TracedRandomError(
            f"{what}(x) shuffles a NumPy array in place inside a tg.compile step: the replays "
            "run no Python, so the array would keep the order drawn at capture. Use the "
            "shuffled copy as a tensor: idx = np.random.permutation(n) (or rng.permutation(x))",
            src=user_src_with_text(3))
    if any(isinstance(x, Tensor) for x in tree_flatten((args, kwargs))[0]):
        raise TracedRandomError(
            f"{what} with tensor parameters inside a tg.compile step: the replay draws on the "
            "host, before the program computes them. Draw standard noise and transform it: "
            "loc + scale * np.random.standard_normal(shape) (or tg.randn), "
            "low + (high - low) * np.random.random(shape)", src=user_src_with_text(3))

    def make():
        arr = np.asarray(call(*args, **kwargs))
        if arr.dtype.kind not in "biuf":  # bytes(), a choice among strings: not program data
            raise TracedRandomError(
                f"{what} inside a tg.compile step returns {arr.dtype} data, which a compiled "
                "program cannot take: draw it outside the step", src=user_src_with_text(4))
        if arr.dtype not in dtypes.SHORT_NAMES:
            arr = arr.astype(dtypes.canonical(arr.dtype, what=what))
        return arr
    return drawn_leaf(make, what, gen=gen)


on_captured_draw(captured_draw)  # np.random's wrappers (random_numpy.py) call it
