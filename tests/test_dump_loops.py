"""Loops in dumps (issue 14): nested bodies print indented under their equation and parse
back, the DOT picture draws a loop as a cluster of its bodies, ``tracegrad dump --stage all``
shows the passes working inside bodies, and cost estimates count every step of a loop."""
from __future__ import annotations

import os

import numpy as np

import tracegrad as tg
from tracegrad import numpy as tnp

RNG = np.random.default_rng(0)


def _ir(fn, *args):
    return tg.make_ir(fn, stage="traced")(*args)


def _loops(graph, name=None):
    return [e for e in graph.eqns if e.prim.kind == "control" and
            (name is None or e.prim.name == name)]


def _body(graph):
    (e,) = _loops(graph, "scan")
    return e.params["body"]


def _rnn_w(W, h0, xs):
    def step(h, x):
        h = tnp.tanh(h @ (W * tnp.ones_like(h)[:, None]).T + x)
        return h, h * h
    return tg.scan(step, h0, xs)


def test_flops_count_every_step_of_a_loop():
    from tracegrad.passes.cost import eqn_flops, flops
    args = [RNG.normal(size=(3, 3)), RNG.normal(size=3), RNG.normal(size=(5, 3))]
    g = _ir(_rnn_w, *args)
    (e,) = _loops(g)
    assert eqn_flops(e) == 5 * flops(_body(g)) > 0
    w = _ir(lambda x: tg.while_loop(lambda c: c[1] < 3, lambda c: (tnp.sin(c[0]), c[1] + 1),
                                    (x, 0), max_iter=7)[0], args[1])
    (e,) = _loops(w)
    one = flops(e.params["cond"]) + flops(e.params["body"])
    assert eqn_flops(e) == 7 * one + flops(e.params["cond"])


def test_second_order_through_an_optimised_scan():
    def loss(W, h0, xs):
        return tnp.sum(_rnn_w(W, h0, xs)[0] ** 2)
    args = [RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=3), RNG.normal(size=(4, 3))]
    v = RNG.normal(size=(3, 3))
    hvp = tg.jit(lambda W: tg.jvp(tg.grad(lambda W: loss(W, *args[1:])), (W,), (v,))[1],
                 backend="numpy")
    h = 1e-5
    g = tg.grad(lambda W: loss(W, *args[1:]))
    fd = (np.asarray(g(args[0] + h * v)) - np.asarray(g(args[0] - h * v))) / (2 * h)
    np.testing.assert_allclose(hvp(args[0]), fd, rtol=1e-6, atol=1e-8)


# --- dumps --------------------------------------------------------------------------------------
def _nested_text():
    def f(W, h0, xs):
        def outer(h, x):
            def inner(g, _):
                return tnp.tanh(g @ W.T) + x, None
            return tg.scan(inner, h, None, length=2)[0], None
        return tg.scan(outer, h0, xs)[0]
    return str(_ir(f, np.ones((3, 3)), np.ones(3), np.ones((4, 3))))


def test_nested_bodies_print_indented_under_their_equation():
    lines = _nested_text().splitlines()
    lets = [ln for ln in lines if ln.lstrip().startswith("let ")]
    cols = [len(ln) - len(ln.lstrip()) for ln in lets]
    assert cols == [2, 10, 18], cols           # each body 4 columns right of its equation
    for ln in lines:
        if " = scan[" in ln and not ln.lstrip().startswith("let "):
            col = len(ln) - len(ln.lstrip())
            nxt = lines[lines.index(ln) + 1]
            assert len(nxt) - len(nxt.lstrip()) == col + 4
    from tracegrad.printing import parse_graph
    assert str(parse_graph(_nested_text())) == _nested_text()


def test_dot_draws_a_loop_body_as_a_cluster():
    from tracegrad.passes.graphviz import to_networkx, write_dot
    args = [RNG.normal(size=(3, 3)), RNG.normal(size=3), RNG.normal(size=(5, 3))]
    g = _ir(_rnn_w, *args)
    dot = write_dot(to_networkx([("traced", g, ["W", "h0", "xs"])]))
    G = to_networkx([("traced", g, ["W", "h0", "xs"])])
    (loop,) = [c for c in G.graph["clusters"] if c["attrs"]["label"].startswith("scan")]
    assert loop["attrs"]["label"] == "scan: 5 steps, 1 carries"
    (body,) = loop["children"]
    assert len(body["nodes"]) == len(_body(g).eqns)
    labels = [G.nodes[n]["label"] for n in body["nodes"]]
    assert any(" = tanh " in lab for lab in labels), labels
    assert f'subgraph "{loop["id"]}"' in dot and f'subgraph "{body["id"]}"' in dot
    import networkx as nx
    assert nx.is_directed_acyclic_graph(G.subgraph(body["nodes"]))


def test_cli_stage_all_shows_loop_bodies(tmp_path):
    import subprocess
    import sys
    src = tmp_path / "prog.py"
    src.write_text("import tracegrad as tg\nfrom tracegrad import numpy as tnp\n"
                   "def f(W, h0, xs):\n"
                   "    def step(h, x):\n"
                   "        h = tnp.tanh(h @ W.T + x * 1.0)\n"
                   "        return h, h\n"
                   "    return tnp.sum(tg.scan(step, h0, xs)[1])\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEGRAD_")}
    out = subprocess.run([sys.executable, "-m", "tracegrad", "dump", f"{src}:f", "f64[3,3]",
                          "f64[3]", "f64[5,3]", "--grad", "--stage", "all"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "scan[body={ lambda" in text
    import re
    # simplify's diff removes `x * 1.0` inside the forward body (deeper than top-level lines)
    assert re.search(r"^- {10,}\w+:f64\[3\] = mul \w+ 1\.0:f64$", text, re.M), text
    stats = subprocess.run([sys.executable, "-m", "tracegrad", "dump", f"{src}:f", "f64[3,3]",
                            "f64[3]", "f64[5,3]", "--grad", "--stats", "--no-timings"],
                           capture_output=True, text=True, env=env, timeout=300).stdout
    m = re.search(r"^in loop bodies and branches: traced (\d+), grad (\d+), .* final (\d+)$",
                  stats, re.M)
    assert m and int(m.group(3)) < int(m.group(2)), stats   # the passes shrank the bodies
    optimized = text.split("===== optimized")[1].split("// =====")[0]
    assert optimized.count("scan[body={ lambda") == 2
    assert not re.search(r"= mul \w+ 1\.0:f64$", optimized, re.M)
