"""The ``tracegrad`` command line, run for real as a subprocess on files in examples/.

Golden files live in tests/golden/. When a change to tracegrad changes a dump on purpose,
regenerate them with ``TRACEGRAD_UPDATE_GOLDEN=1 python -m pytest tests/test_cli.py`` and
review the diff like any other change.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests", "golden")
DEMO = "examples/dump_demo.py"
UPDATE = os.environ.get("TRACEGRAD_UPDATE_GOLDEN", "") not in ("", "0")


def cli(*args, env=None, cwd=ROOT, check=True):
    """Run ``python -m tracegrad ARGS`` with a clean tracegrad environment."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("TRACEGRAD_")}
    full["TRACEGRAD_CACHE_DIR"] = os.environ.get("TRACEGRAD_CACHE_DIR", "")
    full.pop("NO_COLOR", None)
    # most of a run is start-up: let the children share compiled bytecode (Python's default)
    full.pop("PYTHONDONTWRITEBYTECODE", None)
    full.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "tracegrad", *args], capture_output=True,
                          text=True, cwd=cwd, env=full, timeout=300, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"tracegrad {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stderr}")
    return proc


def golden(name: str, text: str) -> None:
    path = os.path.join(GOLDEN, name)
    if UPDATE or not os.path.exists(path):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        if not UPDATE:
            pytest.fail(f"golden file {name} did not exist; it has been written: review it")
        return
    with open(path, encoding="utf-8") as f:
        expected = f.read()
    if text != expected:
        import difflib
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            f"golden/{name}", "now", n=2))
        pytest.fail(f"output differs from tests/golden/{name}; if the change is intended, "
                    f"regenerate with TRACEGRAD_UPDATE_GOLDEN=1 python -m pytest "
                    f"tests/test_cli.py\n{diff[:4000]}")


def cli_many(commands: dict, **kw) -> dict:
    """Run several commands at once (each is a separate process; most of their time is
    Python's start-up and imports, which overlap well)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {k: pool.submit(cli, *args, **kw) for k, args in commands.items()}
        return {k: f.result() for k, f in futures.items()}


GRAD_ALL = ["dump", f"{DEMO}:loss", "--example", "--grad", "--stage", "all", "-O2"]


@pytest.fixture(scope="module")
def outputs():
    return cli_many({
        "text": GRAD_ALL + ["--emit", "numpy", "--stats", "--no-timings"],
        "json": GRAD_ALL + ["--format", "json"],
        "dot": ["dump", f"{DEMO}:loss", "--example", "--grad", "--format", "dot", "-O2"],
        "dot2": ["dump", f"{DEMO}:loss", "--example", "--grad", "--format", "dot", "-O2"],
    })


@pytest.fixture(scope="module")
def text_all(outputs):
    return outputs["text"].stdout


@pytest.fixture(scope="module")
def json_all(outputs):
    return outputs["json"].stdout


@pytest.fixture(scope="module")
def dot_fused(outputs):
    return outputs["dot"].stdout


# --- golden files -------------------------------------------------------------------------------
def test_text_golden(text_all):
    golden("dump_loss_grad_all.txt", text_all)


def test_json_golden(json_all):
    golden("dump_loss_grad_all.json", json_all)


def test_dot_golden(dot_fused):
    golden("dump_loss_grad_fused.dot", dot_fused)


def test_output_is_deterministic(outputs):
    assert outputs["dot"].stdout == outputs["dot2"].stdout


# --- text and JSON agree --------------------------------------------------------------------------
def _text_stages(text: str) -> dict[str, str]:
    """Stage name -> IR text of each ``// ===== NAME: ... =====`` section of a text dump."""
    out, name, lines = {}, None, []
    for line in text.splitlines() + ["// ===== end"]:
        if line.startswith("// ====="):
            if name is not None:
                out[name] = "\n".join(lines)
            name, lines = line.split()[2].rstrip(":"), []
        elif line.startswith("// -----"):
            if name is not None:
                out[name] = "\n".join(lines)
            name = None
        elif name is not None:
            lines.append(line)
    return {k: v for k, v in out.items() if k not in ("source", "stats", "end")}


def test_json_parses_and_has_the_text_stages(text_all, json_all):
    doc = json.loads(json_all)
    stages = _text_stages(text_all)
    assert [s["name"] for s in doc["stages"]] == list(stages) == \
        ["traced", "grad", "optimized", "fused"]
    for s in doc["stages"]:
        assert s["ir"] == stages[s["name"]]
        assert s["eqns"] == len(s["graph"]["eqns"])
    assert doc["function"] == "dump_demo.py:loss"
    assert doc["transform"] == {"name": "grad", "argnums": [0]}
    assert [a["name"] for a in doc["arguments"]] == ["w", "x"]
    passes = {p["name"]: p for p in doc["passes"]}
    assert passes["simplify"]["changed"] and passes["simplify"]["diff"].startswith("---")
    # the derivative flags: forward equations first, gradient equations after
    grad = doc["stages"][1]["graph"]["eqns"]
    flags = [(e["primitive"], e["derivative"]) for e in grad]
    assert ("tanh", False) in flags and ("transpose", True) in flags
    fused = doc["stages"][3]["graph"]["eqns"]
    kernel = next(e for e in fused if e["primitive"] == "fused")
    assert {e["derivative"] for e in kernel["body"]["eqns"]} == {True, False}


def test_text_sections(text_all):
    assert text_all.startswith("// tracegrad dump dump_demo.py:loss: loss(w: f32[784,128], "
                               "x: f32[64,784]), grad, pipeline O2\n")
    assert "// ----- stabilize: no change" in text_all
    assert re.search(r"// ----- fuse: \d+ -> \d+ equations -----", text_all)
    assert "// ===== source: numpy backend =====" in text_all
    assert "def grad_loss(a, b):" in text_all
    assert "memory plan:" in text_all and "planned peak" in text_all
    assert "time (ms)" not in text_all  # --no-timings


# --- DOT ------------------------------------------------------------------------------------------
def test_dot_parses_with_networkx(dot_fused, tmp_path):
    pytest.importorskip("pydot")  # networkx reads DOT through pydot (the test extra has it)
    import networkx as nx
    import pydot
    warnings.simplefilter("ignore", DeprecationWarning)  # pydot's use of old pyparsing names

    path = tmp_path / "g.dot"
    path.write_text(dot_fused)
    g = nx.nx_pydot.read_dot(str(path))
    labels = {n: d.get("label", "").strip('"') for n, d in g.nodes(data=True)}
    assert {"in0", "in1", "out0"} <= set(labels)
    assert any(lbl.startswith("b = tanh a") for lbl in labels.values())
    assert nx.is_directed_acyclic_graph(g)
    assert g.number_of_edges() > len(labels) - 3
    classes = {d.get("class", "").strip('"') for _, d in g.nodes(data=True)}
    assert {"forward", "derivative"} <= classes
    (parsed,) = pydot.graph_from_dot_data(dot_fused)
    clusters = [s.get_name().strip('"') for s in parsed.get_subgraph_list()]
    assert clusters == ["cluster_kernel1"]
    members = {n.get_name().strip('"') for n in parsed.get_subgraph_list()[0].get_nodes()}
    assert all(labels[m] for m in members) and len(members) >= 2


def test_dot_of_several_stages_clusters_each_stage():
    pytest.importorskip("pydot")
    import pydot
    warnings.simplefilter("ignore", DeprecationWarning)

    out = cli("dump", DEMO + ":poly", "f64[3]", "--grad", "--stage", "traced,grad",
              "--format", "dot").stdout
    (parsed,) = pydot.graph_from_dot_data(out)
    names = [s.get_name().strip('"') for s in parsed.get_subgraph_list()]
    assert names == ["cluster_s0_stage", "cluster_s1_stage"]
    assert 'class="derivative"' in out


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_svg_rendered_with_dot(tmp_path):
    svg = tmp_path / "loss.svg"
    proc = cli("dump", f"{DEMO}:loss", "--example", "--grad", "--svg", str(svg))
    assert proc.stdout.strip() == f"wrote {svg}"
    assert "<svg" in svg.read_text()


def test_svg_without_dot_says_how_to_install(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = cli("dump", f"{DEMO}:poly", "f64[3]", "--png", str(tmp_path / "p.png"),
               env={"PATH": str(empty)}, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "'dot' program is not installed" in proc.stderr
    assert "apt-get install graphviz" in proc.stderr


# --- stages, passes, transforms -------------------------------------------------------------------
def test_emit_numpy_is_what_jit_runs():
    import tracegrad as tg
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import dump_demo
    finally:
        sys.path.pop(0)
    out = cli("dump", f"{DEMO}:loss", "--example", "--emit", "numpy", "-O2").stdout
    source = out.split("// ===== source: numpy backend =====\n", 1)[1]
    lowered = tg.jit(dump_demo.loss, backend="numpy", opt_level="O2").lower(
        *dump_demo.example())
    assert source == lowered.source


def test_emit_c_prints_c_source_or_one_line_error():
    proc = cli("dump", f"{DEMO}:poly", "f64[3]", "--emit", "c", check=False)
    if proc.returncode == 0:
        assert "// ===== source: c backend =====" in proc.stdout
        assert "#include" in proc.stdout
    else:
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1
        assert proc.stderr.startswith("tracegrad: error: --emit c:")


def test_print_after_all_diff_disable_and_stop_after():
    out = cli("dump", f"{DEMO}:poly", "f64[3]", "--print-after-all", "--disable", "cse",
              "--stop-after", "dce", "--stage", "optimized").stdout
    assert "// ----- cse: disabled -----" in out
    assert "// ----- fuse: not run -----" in out and "// ----- memplan: not run -----" in out
    assert re.search(r"// ----- simplify: (no change|\d+ -> \d+ equations)", out)
    out = cli("dump", f"{DEMO}:poly", "f64[3]", "--diff", "-O1", "--stage", "traced").stdout
    assert "// ===== traced" in out and "+++ after" in out
    assert "no change" not in out  # --diff shows only passes that changed something


def test_o0_keeps_the_traced_program():
    out = cli("dump", f"{DEMO}:poly", "f64[3]", "-O0", "--stage", "traced,optimized,fused",
              "--format", "json").stdout
    stages = {s["name"]: s for s in json.loads(out)["stages"]}
    assert stages["optimized"]["ir"] == stages["fused"]["ir"]
    assert "pipeline O0" in stages["optimized"]["summary"]


def test_positional_pytree_and_named_arguments():
    out = cli("dump", f"{DEMO}:mlp_loss", "--arg",
              "params={w1: f32[4,3], b1: f32[3], 'w2': f32[3,2], b2: f32[2]}",
              "f32[5,4]", "--arg", "y=f32[5,2]", "--grad", "params", "--stage", "grad",
              "--format", "json").stdout
    doc = json.loads(out)
    assert [a["name"] for a in doc["arguments"]] == [
        "params['b1']", "params['b2']", "params['w1']", "params['w2']", "x", "y"]
    assert doc["stages"][0]["graph"]["outputs"] and len(doc["stages"][0]["graph"]["outputs"]) == 4


def test_tuple_argument_and_scalar(tmp_path):
    path = tmp_path / "pair.py"
    path.write_text("import numpy as np\n"
                    "def f(pair, s):\n"
                    "    a, b = pair\n"
                    "    return np.sum(a * b) * s\n")
    out = cli("dump", f"{path}:f", "(f32[3], f32[3])", "f32[]", "--value-and-grad", "0,1",
              "--stage", "grad").stdout
    assert "{ lambda a:f32[3] b:f32[3] c:f32[] ." in out
    assert "value_and_grad w.r.t. arguments 0,1" in out


def test_jit_static_arguments_stay_python_values(tmp_path):
    path = tmp_path / "static.py"
    path.write_text("import numpy as np\nimport tracegrad as tg\n\n"
                    "@tg.jit(static_argnums=(1,))\n"
                    "def power_sum(x, n):\n"
                    "    y = x\n"
                    "    for _ in range(n - 1):\n"
                    "        y = y * x\n"
                    "    return np.sum(y)\n")
    out = cli("dump", f"{path}:power_sum", "f32[3]", "3", "--grad", "--stage", "traced").stdout
    assert "power_sum(x: f32[3], n=3 (static))" in out
    assert out.count(" = mul ") == 2  # x * x * x, unrolled at trace time


def test_jvp_and_hessian_mark_derivatives():
    for flag in ("--jvp", "--hessian"):
        doc = json.loads(cli("dump", f"{DEMO}:poly", "f64[3]", flag, "--stage", "grad",
                             "--format", "json").stdout)
        flags = {e["derivative"] for e in doc["stages"][0]["graph"]["eqns"]}
        assert flags == {True, False}, flag


def test_stage_grad_implies_grad_and_colour_only_when_asked():
    plain = cli("dump", f"{DEMO}:poly", "f64[3]", "--stage", "grad").stdout
    assert "// ===== grad:" in plain and "\x1b[" not in plain
    coloured = cli("dump", f"{DEMO}:poly", "f64[3]", "--stage", "grad", "--color",
                   "always").stdout
    assert "\x1b[1;36m// ===== grad:" in coloured


def test_output_file(tmp_path):
    path = tmp_path / "out.txt"
    proc = cli("dump", f"{DEMO}:poly", "f64[3]", "-o", str(path))
    assert proc.stdout == "" and path.read_text().startswith("// tracegrad dump")


# --- errors: exit status 2, one line, a traceback only with --debug ------------------------------
ERRORS = [
    (["dump", "examples/missing.py:f"], "no such file: examples/missing.py"),
    (["dump", f"{DEMO}:nothere", "f32[3]"], "dump_demo.py has no function 'nothere'"),
    (["dump", f"{DEMO}:poly", "f33[3]"], "bad type string 'f33[3]'"),
    (["dump", f"{DEMO}:poly", "f32[3,x]"], "bad type string 'f32[3,x]'"),
    (["dump", f"{DEMO}:poly", "(f32[3]"], "bad argument description '(f32[3]'"),
    (["dump", f"{DEMO}:poly"], "needs a description of x"),
    (["dump", f"{DEMO}:poly", "--arg", "y=f32[3]"], "poly has no parameter 'y'"),
    (["dump", f"{DEMO}:branchy", "f32[3]"], "tracing branchy failed: TracerBoolError"),
    (["dump", f"{DEMO}:loss", "f32[3]", "f32[4]"], "tracing loss failed: ShapeError"),
    (["dump", f"{DEMO}:poly", "i32[3]", "--grad"], "GradientDTypeError"),  # a GradientError
    (["dump", f"{DEMO}:poly", "f32[3]", "--stage", "bogus"], "--stage bogus"),
    (["dump", f"{DEMO}:poly", "f32[3]", "--disable", "bogus"], "--disable bogus: no such pass"),
    (["dump", f"{DEMO}:poly", "f32[3]", "--bogus"], "unrecognized arguments: --bogus"),
    (["dump", "examples"], "expected FILE.py:FUNC"),
    (["dump", f"{DEMO}:poly", "--example", "nope"], "no example function 'nope'"),
    (["bogus"], "unknown command 'bogus'"),
]


@pytest.fixture(scope="module")
def error_runs():
    return cli_many({i: args for i, (args, _) in enumerate(ERRORS)}, check=False)


@pytest.mark.parametrize("case", range(len(ERRORS)),
                         ids=[" ".join(a[1:3]) or a[0] for a, _ in ERRORS])
def test_error_paths(case, error_runs):
    message = ERRORS[case][1]
    proc = error_runs[case]
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("tracegrad: error: ") and proc.stderr.count("\n") == 1, \
        proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_trace_errors_name_the_users_line(tmp_path):
    proc = cli("dump", f"{DEMO}:branchy", "f32[3]", check=False)
    with open(os.path.join(ROOT, DEMO)) as f:
        line = 1 + [t.strip() for t in f].index("if np.sum(x) > 0:")
    assert f"dump_demo.py:{line}: if np.sum(x) > 0:" in proc.stderr
    path = tmp_path / "broken.py"
    path.write_text("def f(x):\n    return undefined_name + x\n")
    proc = cli("dump", f"{path}:f", "f32[3]", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "NameError" in proc.stderr and "(at broken.py:2)" in proc.stderr


def test_debug_shows_the_traceback():
    proc = cli("dump", f"{DEMO}:branchy", "f32[3]", "--debug", check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_readme_shows_this_dump():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    m = re.search(r"^\$ tracegrad (dump examples/dump_demo.py:loss [^\n]*)\n(.*?)^```$", readme,
                  re.MULTILINE | re.DOTALL)
    assert m, "README.md lost its tracegrad dump example"
    args = [a.strip("'") for a in m.group(1).split()]
    assert cli(*args).stdout == m.group(2)


# --- rules, cache, version ------------------------------------------------------------------------
def test_rules_lists_every_primitive_and_the_conventions():
    from tracegrad.cli.rules import describe_all
    from tracegrad.primitive import PRIMITIVES

    out = cli("rules").stdout
    assert re.search(r"tanh\s+d/dx = 1 - out\*\*2", out)
    assert re.search(r"div\s+d/dx = 1/y   d/dy = -out/y", out)
    assert re.search(r"broadcast_in_dim\s+transpose: reduce_sum", out)
    for name in PRIMITIVES:
        assert re.search(rf"\b{name}\b", out), name
    assert all(kind != "hand-written" for _, kind, _ in describe_all()), \
        "a primitive has no description in tracegrad/cli/rules.py"
    assert "conventions (docs/gradients.md)" in out
    assert "ties split evenly" in out and "PyTorch's convention" in out


def test_cache_info_and_clear(tmp_path):
    kernels = tmp_path / "c"
    kernels.mkdir()
    # names as the C runtime writes them (<sha256 key>.so/.c); clear removes nothing else
    (kernels / f"{'ab' * 32}.so").write_bytes(b"\0" * 100)
    (kernels / f"{'ab' * 32}.c").write_text("int x;")
    (tmp_path / "not_ours.txt").write_text("keep me")
    env = {"TRACEGRAD_CACHE_DIR": str(tmp_path)}
    out = cli("cache", "info", env=env).stdout
    assert f"kernel cache: {tmp_path}" in out and "from: TRACEGRAD_CACHE_DIR" in out
    assert "C kernels: 1 compiled, 2 files" in out and "not_ours.txt" in out
    out = cli("cache", "clear", env=env).stdout
    assert "removed 2 files" in out
    assert [p.name for p in kernels.iterdir()] == [".tracegrad-kernel-cache"]  # its marker
    assert (tmp_path / "not_ours.txt").exists()


def test_cache_dir_is_the_c_runtimes():
    from tracegrad import options
    env = {"TRACEGRAD_CACHE_DIR": "", "XDG_CACHE_HOME": "/tmp/xdg-for-test"}
    out = cli("cache", "info", env=env).stdout
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        expected = options.cache_dir()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert f"kernel cache: {expected}\n" in out and expected == "/tmp/xdg-for-test/tracegrad"


def test_version_is_light():
    import tracegrad
    proc = subprocess.run(
        [sys.executable, "-c",
         ("import sys; from tracegrad.cli import main; code = main(['--version']); "
          "print(sorted(m for m in ('networkx', 'sympy', 'tracegrad.passes', "
          "'tracegrad.codegen', 'argparse') if m in sys.modules)); raise SystemExit(code)")],
        capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [f"tracegrad {tracegrad.__version__}", "[]"]


def test_console_script_and_module_agree():
    exe = shutil.which("tracegrad")
    if exe is None:
        pytest.skip("the tracegrad console script is not on PATH")
    a = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert a == cli("--version").stdout


# --- provenance of derivative equations (in-process) --------------------------------------------
def test_derivative_notes_survive_the_pipeline():
    from tracegrad.passes.autodiff import record_derivatives
    from tracegrad.passes.graphviz import derivative_eqns
    from tracegrad.passes.registry import run_pipeline

    import tracegrad as tg
    from tracegrad.staging import trace

    def f(x):
        return np.sum(np.exp(x) * x)

    x = np.zeros(20000)  # large enough to be fused
    with record_derivatives() as rec:
        g = rec.mark(trace(tg.grad(f).fn, (x,), {}).graph)
    d = derivative_eqns(g)
    prims = [(e.prim.name, id(e) in d) for e in g.eqns]
    assert ("exp", False) in prims and ("mul", True) in prims
    final, _ = run_pipeline(g, "O2")
    kernel = next(e for e in final.eqns if e.prim.name == "fused")
    body = kernel.params["body"].eqns
    d = derivative_eqns(final)
    assert [e.prim.name for e in body if id(e) not in d] == ["exp"]
    # without a recorder nothing is noted and nothing is marked
    plain = trace(tg.grad(f).fn, (x,), {}).graph
    assert derivative_eqns(plain) == set()
