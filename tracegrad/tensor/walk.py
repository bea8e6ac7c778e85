"""``_Walk``: the lazy DAG behind some tensors, as a program would run it: the nodes in
topological order, the inputs they read (leaves and computed values, cut from the DAG) and a
structural key. Invariant: the key depends on the DAG's structure and input shapes, never on
values, and equal keys mean programs that compute the same thing from the same inputs."""
from __future__ import annotations

import operator

from .. import numpy as tnp
from ..errors import GradientError
from ..ir import AVal

_by_serial = operator.attrgetter("serial")  # Node.serial: creation order, a topological order

# ids of operations whose outputs are never run by a program, only read as its inputs: the
# placeholders standing for loop and vmap values while a body is recorded (tensor/control.py);
# a gradient taken inside such a body (vmap(func.grad(f))) reads them as inputs too
CUT_OPS: set = set()


class _Walk:
    """The nodes behind some outputs in topological order, the inputs they read (leaves, and
    computed values cut from the DAG) and the structural key of it all."""

    __slots__ = ("codes", "in_pos", "inputs", "nodes", "pos", "probes", "specs")

    def __init__(self, roots, grad_mode: bool, probes=()):
        self.nodes: list = []
        self.pos: dict = {}
        self.inputs: list = []
        self.in_pos: dict = {}
        self.codes: list = []
        self.specs: list = []   # (shape, dtype) of each input, for the key
        self.probes = probes
        found: dict = {}
        stack = []
        for node in roots:
            if id(node) not in found:
                if grad_mode and node.requires_grad and node.freed:
                    _freed_error()
                found[id(node)] = node
                stack.append(node)
        # the nodes to run: reachable through values not computed yet (and, for a gradient,
        # through every node that requires grad); each node is created after its inputs, so
        # creation order is a topological order (one scan per node, no post-order bookkeeping)
        while stack:
            for ref in stack.pop().inputs:
                if type(ref) is tuple:
                    child = ref[0]
                    if id(child) not in found and child.op.id not in CUT_OPS and (
                            child.values[ref[1]] is None or (
                                grad_mode and child.requires_grad)):
                        if grad_mode and child.requires_grad and child.freed:
                            _freed_error()
                        found[id(child)] = child
                        stack.append(child)
        nodes = list(found.values())
        if len(nodes) > 1:
            nodes.sort(key=_by_serial)
        self._number(nodes)

    @classmethod
    def from_tape(cls, tape) -> _Walk:
        """The walk of every node on ``tape`` (tape.py), numbered as the tape numbered them:
        the program built from it reads the tape's inputs (nodes no output needs are dead
        code for the compiler)."""
        w = cls.__new__(cls)
        w.nodes, w.inputs, w.in_pos = tape.nodes, tape.inputs, tape.in_pos
        w.codes = [(c[0], c[1:]) for c in tape.codes]
        w.pos = {id(n): p for p, n in enumerate(tape.nodes)}
        w.specs, w.probes = [], ()  # (the key is the tape's codes: op ids fix input avals)
        return w

    def ref_code(self, ref) -> int:
        """Leaves and cut values are inputs (codes >= 0); node outputs are negative."""
        if type(ref) is tuple:
            node, j = ref
            p = self.pos.get(id(node))
            if p is not None:
                return -1 - (p * 1024 + j)
            return self.in_pos[(id(node), j)]
        return self.in_pos[id(ref)]

    def _number(self, nodes):
        """Codes of ``nodes`` (in topological order): a node input is ``-1 - (pos * 1024 + j)``;
        leaves and computed values are inputs numbered in order of first use."""
        pos, in_pos, inputs = self.pos, self.in_pos, self.inputs
        codes, specs = self.codes, self.specs
        self.nodes = nodes
        for p, node in enumerate(nodes):
            pos[id(node)] = p
        for node in nodes:
            code = []
            for ref in node.inputs:
                if type(ref) is tuple:
                    child, j = ref
                    p = pos.get(id(child))
                    if p is not None:
                        code.append(-1 - (p * 1024 + j))
                        continue
                    k = (id(child), j)  # already computed: read, not redone
                    c = in_pos.get(k)
                    if c is None:
                        c = in_pos[k] = len(inputs)
                        inputs.append(ref)
                        av = child.op.out_avals[j]
                        specs.append((av.shape, av.dtype))
                else:
                    k = id(ref)
                    c = in_pos.get(k)
                    if c is None:
                        c = in_pos[k] = len(inputs)
                        inputs.append(ref)
                        v = ref._value
                        specs.append((v.shape, v.dtype))
                code.append(c)
            codes.append((node.op.id, tuple(code)))

    def input_values(self):
        return values_of(self.inputs)

    def input_avals(self):
        out = []
        for r in self.inputs:
            if type(r) is tuple:
                out.append(r[0].op.out_avals[r[1]])
            else:
                out.append(AVal(r._value.shape, r._value.dtype))
        return out

    def key(self):
        return (tuple(self.codes), tuple(self.specs))

    def build(self, ins, probe_vals=None):
        """Re-emit the DAG into the active trace on input tracers ``ins``; returns a function
        mapping a ref code to its traced value. ``probe_vals[(pos, j)]`` is added to a node
        output (a zero input whose gradient is that output's gradient)."""
        from ..interpreter import eval_graph
        env = []

        def resolve(code):
            if code >= 0:
                return ins[code]
            p, j = divmod(-1 - code, 1024)
            return env[p][j]

        for p, (node, (_, codes)) in enumerate(zip(self.nodes, self.codes)):
            outs = eval_graph(node.op.graph, [resolve(c) for c in codes])
            if probe_vals:
                outs = [tnp.add(o, probe_vals[(p, j)]) if (p, j) in probe_vals else o
                        for j, o in enumerate(outs)]
            env.append(outs)
        return resolve


def _freed_error():
    raise GradientError(
        "Trying to backward through the graph a second time: the first backward() freed it. "
        "Call backward(retain_graph=True) the first time if you need to backward through the "
        "same graph again (or recompute the forward pass)")


def values_of(refs) -> list:
    """The arrays a program's input references name: a tensor's value, or a (program run,
    output number) pair's output (shared by the walk and the tape, tape.py)."""
    vals = []
    for r in refs:
        if type(r) is tuple:
            vals.append(r[0].values[r[1]])
        else:
            vals.append(r._value)
    return vals
