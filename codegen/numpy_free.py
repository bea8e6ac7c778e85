"""Frees in generated NumPy code: a ``del`` after the last use of every name that holds an
intermediate's memory, and the peak bytes that code holds, counted from the same statements.

Both NumPy emitters describe each line they write (names read, names bound, what storage a
bound name refers to); ``Frees.finish`` places the ``del``s and returns the peak, so
``stats["peak_bytes"]`` is the plan of the code that runs, not an estimate beside it.

Storage model. A *key* is one block of memory NumPy allocates during a call. A fresh result
(``b = np.exp(a)``) owns a new key; a view (reshape, transpose, slice, broadcast, rev,
stop_gradient) and an alias (``d = kernel1_g``) refer to their operand's keys; planned
buffers (the arena), constants and arguments have none. A key is live from the line that
allocates it to the last line that reads any name referring to it. Keys a returned name
refers to are the outputs' memory: never freed, and left out of the peak, which counts
intermediates only (inputs and outputs excluded, as the memory plan and the C arena do).
"""
from __future__ import annotations

import numpy as np

from tracegrad.prims import iota_p

from .numpy_lowerings import lowering

# Views: primitives whose NumPy lowering returns a view of (or the same object as) their operand
# say so with ``Traits.view`` (memory planning reads it too).


def _scratch_bytes(e, expr: str) -> int:
    """Bytes a lowering allocates and drops within its own statement (NumPy temporaries)."""
    scratch = lowering(e.prim).scratch
    return scratch(e, expr) if scratch is not None else 0


def _fresh_bytes(e, i: int) -> int:
    out = e.outputs[i].aval
    if e.prim.traits.view:  # a view of a literal: one element, broadcast
        return out.dtype.itemsize
    if e.prim is iota_p:  # a broadcast view of one arange along the counted dimension
        return out.shape[e.params["dimension"]] * out.dtype.itemsize if out.size else 0
    return out.nbytes


def _contiguous_result(e, operands_contig: list[bool]) -> bool:
    """Whether NumPy's result is C-contiguous (decides if a later reshape is a view): the
    lowering's ``layout``."""
    return lowering(e.prim).layout(e, operands_contig)


class Frees:
    """What each line of a generated function reads and binds, keyed by line index."""

    def __init__(self, inputs, consts: dict | None = None):
        self.locals = set(inputs)                  # names bound in the function so far
        self.inputs = set(inputs)
        self.owners: dict[str, frozenset] = {}     # name -> the storage keys it refers to
        # name -> the keys it surely refers to: a reshape that may copy refers to its
        # operand's keys for liveness, but returning it makes only its own key an output
        self.sure: dict[str, frozenset] = {}
        self.contig = {n: True for n in inputs}    # arguments are taken as C-contiguous
        self.key_bytes: dict[str, int] = {}
        self.key_line: dict[str, int] = {}         # key -> the line that allocates it
        self.reads: dict[int, list[str]] = {}
        self.binds: dict[int, list[str]] = {}
        self.scratch: dict[int, int] = {}
        self.consts = consts or {}
        self.base_bytes = 0                        # held for the whole call (the arena)

    def _read(self, at: int, operands) -> list[str]:
        names = [str(x) for x in operands if str(x) in self.locals]
        self.reads.setdefault(at, []).extend(names)
        return names

    def _bind(self, at: int, name: str, owners: frozenset, contig: bool,
              sure: frozenset | None = None) -> None:
        self.locals.add(name)
        self.owners[name] = owners
        self.sure[name] = owners if sure is None else sure
        self.contig[name] = contig
        self.binds.setdefault(at, []).append(name)

    def eqn(self, at: int, e, outs: list[str], ins: list[str], expr: str,
            planned: bool) -> None:
        """Line ``at`` evaluates ``e`` into ``outs`` (``planned``: into an arena/donated buffer,
        or a constant: no new memory)."""
        read = self._read(at, [x for x, a in zip(ins, e.inputs) if not _is_lit(a)])
        contig = [self.contig.get(str(x), True) for x in ins]
        if planned or e.prim.name == "constant":
            c = e.prim.name != "constant" or \
                np.asarray(e.params["value"]).flags.c_contiguous
            self._bind(at, outs[0], frozenset(), c)
            return
        self.scratch[at] = self.scratch.get(at, 0) + _scratch_bytes(e, expr)
        if e.prim.traits.view and len(outs) == 1 and read:
            owners = self.owners.get(read[0], frozenset())
            sure = self.sure.get(read[0], frozenset())
            if e.prim.name == "reshape" and not self.contig.get(read[0], True):
                sure = self._new_key(at, outs[0], e.outputs[0].aval.nbytes)
                owners = owners | sure
            elif not e.inputs[0].aval.shape:
                # a 0-d value may be a Python number or a NumPy scalar (what ufuncs return
                # for 0-d results): viewing it makes a new one-element array
                sure = self._new_key(at, outs[0], e.outputs[0].aval.dtype.itemsize)
                owners = owners | sure
            self._bind(at, outs[0], owners, _contiguous_result(e, contig), sure)
            return
        for i, n in enumerate(outs):
            self._bind(at, n, self._new_key(at, n, _fresh_bytes(e, i)),
                       _contiguous_result(e, contig))

    def alias(self, at: int, name: str, src: str) -> None:
        """Line ``at`` is ``name = src`` (a fused kernel's output)."""
        read = self._read(at, [src])
        if read:
            self._bind(at, name, self.owners.get(src, frozenset()), self.contig.get(src, True),
                       self.sure.get(src, frozenset()))
        else:
            self._bind(at, name, frozenset(), True)

    def _new_key(self, at: int, name: str, nbytes: int) -> frozenset:
        self.key_bytes[name] = nbytes
        self.key_line[name] = at
        return frozenset({name})

    def finish(self, lines: list[str], returned, indent: str = "    ") -> tuple[list, int]:
        """``lines`` with a ``del`` after each freeable name's last use, and the peak bytes."""
        returned = [r for r in returned if r in self.locals]
        out_keys = set().union(*(self.sure.get(r, frozenset()) for r in returned))
        last: dict[str, int] = {}
        for at in sorted(set(self.binds) | set(self.reads)):
            for n in self.binds.get(at, ()):
                last.setdefault(n, at)
            for n in self.reads.get(at, ()):
                last[n] = at
        for r in returned:
            last[r] = len(lines)  # the return line
        key_end: dict[str, int] = {}
        dels: dict[int, list[str]] = {}
        for n, owners in self.owners.items():
            for k in owners:
                key_end[k] = max(key_end.get(k, -1), last[n])
            if owners - out_keys and n not in returned:
                dels.setdefault(last[n], []).append(n)
        peak = self._peak(len(lines), key_end, out_keys)
        result = []
        for at, text in enumerate(lines):
            result.append(text)
            if at in dels:
                result.append(f"{indent}del {', '.join(dels[at])}  # last use above")
        return result, self.base_bytes + peak

    def _peak(self, n_lines: int, key_end: dict, out_keys: set) -> int:
        delta = [0] * (n_lines + 2)
        for k, nbytes in self.key_bytes.items():
            if k in out_keys or not nbytes:
                continue
            delta[self.key_line[k]] += nbytes
            delta[key_end.get(k, self.key_line[k]) + 1] -= nbytes
        live = peak = 0
        for at in range(n_lines + 1):
            live += delta[at]
            peak = max(peak, live + self.scratch.get(at, 0))
        return peak


def _is_lit(a) -> bool:
    from tracegrad.ir import Lit
    return isinstance(a, Lit)
