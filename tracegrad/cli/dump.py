"""``tracegrad dump FILE.py:FUNC [TYPES...] [options]``: the IR at every stage, pass by pass,
the generated code, statistics, and pictures of the graph."""
from __future__ import annotations

import argparse
import os
import sys

from .argparsing import ArgParser
from .errors import CLIError

DESCRIPTION = """\
Import FILE, trace FUNC on abstract arguments (no data is needed) and print what the compiler
makes of it: the traced IR, the derived gradient, the IR after the pass pipeline and after
fusion, pass-by-pass changes, the generated source and statistics.

Arguments are described by type strings, positionally in parameter order or by name:
  f32[128,784]  f64[] (a scalar)  i32[8]  i64[2,3]  bool[4]
and pytrees of them in a JSON-ish form, quoted for the shell:
  "(f32[3], {w: f32[2,2], b: [f32[2], 0.5]})"
or taken from a function in FILE that returns example arguments (--example NAME).
"""

EPILOG = """\
examples:
  tracegrad dump examples/dump_demo.py:loss --example --grad
  tracegrad dump model.py:loss 'f32[784,128]' 'f32[64,784]' --stage all
  tracegrad dump model.py:loss --arg w=f32[784,128] --arg x=f32[64,784] --emit numpy --stats
  tracegrad dump model.py:loss --example --grad --format dot --svg loss.svg
"""
_STAGES = ("traced", "grad", "optimized", "fused", "all")


def make_parser() -> argparse.ArgumentParser:
    p = ArgParser(prog="tracegrad dump", description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="FILE.py:FUNC", help="the function to trace")
    p.add_argument("types", nargs="*", metavar="TYPE",
                   help="abstract arguments in parameter order (type strings or pytrees)")
    a = p.add_argument_group("arguments")
    a.add_argument("--arg", action="append", default=[], metavar="NAME=TYPE",
                   help="describe parameter NAME (repeatable)")
    a.add_argument("--example", nargs="?", const="", metavar="NAME",
                   help="call NAME() in FILE for the arguments (default: FUNC_example if FILE "
                        "defines it, else example): it returns a tuple or list of positional "
                        "arguments, or a dict by parameter name; leaves are arrays, numbers or "
                        "type strings")
    t = p.add_argument_group("transforms").add_mutually_exclusive_group()
    t.add_argument("--grad", nargs="?", const="0", metavar="ARGNUMS",
                   help="the gradient w.r.t. ARGNUMS (default 0; '0,1' or parameter names)")
    t.add_argument("--value-and-grad", nargs="?", const="0", metavar="ARGNUMS",
                   help="the value and the gradient in one program")
    t.add_argument("--jvp", action="store_true",
                   help="forward mode: inputs are the primals then one tangent per argument")
    t.add_argument("--hessian", nargs="?", const="0", metavar="ARGNUMS",
                   help="second derivatives (forward over reverse)")
    s = p.add_argument_group("what to print")
    s.add_argument("--stage", action="append", default=[], metavar="STAGE",
                   help="traced, grad, optimized (after the pipeline, before fusion), fused "
                        "(what runs) or all (every stage and each pass's changes); repeatable "
                        "or comma-separated; default fused")
    s.add_argument("--print-after-all", action="store_true",
                   help="the whole graph after every pass")
    s.add_argument("--diff", action="store_true",
                   help="a unified diff for each pass that changed something")
    s.add_argument("--src", action="store_true",
                   help="end each equation with the user's file:line")
    s.add_argument("--emit", choices=("numpy", "c"), help="print the generated source")
    s.add_argument("--stats", action="store_true",
                   help="equation counts per stage, kernels, the memory plan and phase times")
    s.add_argument("--no-timings", action="store_true",
                   help="leave phase times out of --stats (for golden files)")
    pl = p.add_argument_group("pipeline")
    pl.add_argument("-O", dest="opt", choices=("0", "1", "2"), metavar="LEVEL",
                    help="-O0, -O1 or -O2 (default: $TRACEGRAD_OPT_LEVEL, else O2)")
    pl.add_argument("--disable", action="append", default=[], metavar="PASS",
                    help="skip PASS (repeatable or comma-separated)")
    pl.add_argument("--stop-after", metavar="PASS", help="stop the pipeline after PASS")
    pl.add_argument("--verify", action="store_true", help="check the IR after every pass")
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=("text", "json", "dot"), help="default: text")
    o.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    o.add_argument("--svg", metavar="FILE", help="render the graph to FILE with Graphviz dot")
    o.add_argument("--png", metavar="FILE", help="render the graph to FILE with Graphviz dot")
    o.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour text output (auto: only on a terminal)")
    return p


def _looks_like_type(text: str | None) -> bool:
    return text is not None and any(c in text for c in "[({")


def parse_args(argv) -> argparse.Namespace:
    ns = make_parser().parse_intermixed_args(argv)
    # `--grad f32[3]`: an optional ARGNUMS swallowed a type string; give it back
    for attr, const in (("grad", "0"), ("value_and_grad", "0"), ("hessian", "0"),
                        ("example", "")):
        value = getattr(ns, attr)
        if _looks_like_type(value):
            ns.types.append(value)
            setattr(ns, attr, const)
    ns.stage = [s.strip() for item in ns.stage for s in item.split(",") if s.strip()]
    for s in ns.stage:
        if s not in _STAGES:
            raise CLIError(f"--stage {s}: choose from {', '.join(_STAGES)}")
    # the pipeline variables jit honours are the defaults here too (see tracegrad/options.py)
    from tracegrad import options
    if not ns.disable:
        ns.disable = [options.get("TRACEGRAD_DISABLE_PASSES")]
    ns.disable = [s.strip() for item in ns.disable for s in item.split(",") if s.strip()]
    if ns.stop_after is None:
        ns.stop_after = options.get("TRACEGRAD_STOP_AFTER") or None
    return ns


def _transform(ns) -> tuple[str | None, str | None]:
    for name in ("grad", "value_and_grad", "hessian"):
        if getattr(ns, name) is not None:
            return name, getattr(ns, name)
    if ns.jvp:
        return "jvp", None
    return None, None


def _arguments(ns):
    """``(target, bound arguments)`` from the command line's descriptions."""
    from . import loading
    from .specs import parse_spec

    if ns.example is not None and (ns.types or ns.arg):
        raise CLIError("describe the arguments either with --example or with types and --arg, "
                       "not both")
    # parse the descriptions before importing the file: a typo costs no import
    positional = [parse_spec(t) for t in ns.types]
    named = {}
    for item in ns.arg:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip():
            raise CLIError(f"--arg {item!r}: expected NAME=TYPE, e.g. --arg x=f32[3]")
        named[name.strip()] = parse_spec(spec)
    target = loading.load_target(ns.target)
    if ns.example is None:
        return target, loading.bind(target.fn, target.func_name, positional, named)
    name = ns.example
    if not name:
        own = f"{target.func_name.rsplit('.', 1)[-1]}_example"
        name = own if callable(getattr(target.module, own, None)) else "example"
    return target, loading.example_args(target.module, target.path, name, target.fn,
                                        target.func_name)


def _pictures(ns, result, view) -> bool:
    """Render --svg/--png; True when that is all the user asked for."""
    pictures = [(path, kind) for path, kind in ((ns.svg, "svg"), (ns.png, "png")) if path]
    if not pictures:
        return False
    from .pictures import render_file
    dot_text = _dot(result, view)
    for path, kind in pictures:
        render_file(dot_text, kind, path)
    if ns.format is None and not ns.emit and not ns.stats and not ns.output:
        for path, _ in pictures:
            print(f"wrote {path}")
        return True
    return False


def run(argv) -> int:
    from tracegrad import options

    from .engine import codegen, resolve_argnums, run_dump
    from .render import STAGES, View, render_json, render_text

    ns = parse_args(argv)
    for flag, path in (("-o", ns.output), ("--svg", ns.svg), ("--png", ns.png)):
        if path:
            check_output(flag, path)  # before tracing: a typo costs no work
    fmt = ns.format or "text"
    if fmt == "dot" and (ns.emit or ns.stats):
        raise CLIError("--format dot writes only the graph; use --format text or json for "
                       "--emit and --stats")
    target, bound = _arguments(ns)
    transform, argnums_spec = _transform(ns)
    stages = ns.stage or ["fused"]
    if "grad" in stages and transform is None:
        transform = "grad"  # showing the gradient stage means taking a gradient
    if "all" in stages:
        stages = list(STAGES)
    argnums = resolve_argnums(argnums_spec, bound) if transform not in (None, "jvp") else ()
    pipeline = f"O{ns.opt}" if ns.opt is not None else options.get("TRACEGRAD_OPT_LEVEL")
    result = run_dump(target, bound, transform=transform, argnums=argnums, pipeline=pipeline,
                      disable=ns.disable, stop_after=ns.stop_after, emit=ns.emit,
                      verify=ns.verify or options.flag("TRACEGRAD_VERIFY"))
    stats = None
    if ns.stats:
        from .stats import collect
        if ns.emit is None:  # codegen and compile are phases too: time them even unprinted
            codegen(result.final, "numpy", target.func_name, result.seconds, result.plan)
        stats = collect(result, timings=not ns.no_timings)
    view = View(stages=tuple(s for s in STAGES if s in stages),
                pass_diffs=ns.diff or "all" in ns.stage, pass_unchanged="all" in ns.stage,
                after_all=ns.print_after_all, show_src=ns.src, stats=stats)
    if _pictures(ns, result, view):
        return 0
    if fmt == "json":
        text = render_json(result, view)
    elif fmt == "dot":
        text = _dot(result, view)
    else:
        text = render_text(result, view)
    _write(text, ns.output, ns.color, fmt)
    return 0


def _dot(result, view) -> str:
    from tracegrad.passes.graphviz import to_networkx, write_dot

    from .render import signature, stage_graphs
    names = {"traced": result.bound.leaf_names()}
    stages = [(f"{name}: {len(g.eqns)} equations", g,
               names.get(name, result.input_names))
              for name, g in stage_graphs(result, view)]
    title = signature(result) + (f" [{result.transform}]" if result.transform else "")
    if len(stages) == 1:
        title += f" - {stages[0][0]}"
    return write_dot(to_networkx(stages, name=title))


def check_output(flag: str, path: str) -> None:
    """``CLIError`` unless ``path`` can name an output file (checked before any work)."""
    if os.path.isdir(path):
        raise CLIError(f"{flag} {path}: is a directory; give a file name, e.g. "
                       f"{os.path.join(path, 'graph.dot')}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CLIError(f"{flag} {path}: no such directory {directory}")


def _write(text: str, path: str | None, color: str, fmt: str) -> None:
    if path:
        check_output("-o", path)
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise CLIError(f"-o {path}: cannot write it: {e.strerror or e}") from None
        return
    from .style import paint_line, wants_color
    on = fmt == "text" and wants_color(sys.stdout, color)
    if on:
        text = "\n".join(paint_line(line, on) for line in text.split("\n"))
    sys.stdout.write(text)
