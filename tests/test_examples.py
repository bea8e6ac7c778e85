"""Run every tensor-front example script as a user would (each asserts its known values), and
the digits MLP training run in a short configuration that must reach 95% test accuracy."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCENARIOS = ["tensor_polynomial", "custom_function", "detach_requires_grad", "retain_graph",
             "higher_order", "linear_regression", "straight_through", "gumbel_softmax",
             "bbvi",  # bbvi: np.random draws inside the differentiated function (issue 15)
             "gaussian_process"]  # np.linalg / scipy.linalg inside value_and_grad (issue 15)


def run(script, *args, cwd=None):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")  # tiny matrices: threads only add noise
    proc = subprocess.run([sys.executable, str(EXAMPLES / f"{script}.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.parametrize("script", SCENARIOS)
def test_scenario_example(script):
    assert run(script).strip()


def test_digits_training_reaches_95_percent(tmp_path):
    pytest.importorskip("sklearn")
    png = tmp_path / "loss.png"
    out = run("train_digits", "--epochs", "10", "--hidden", "64", "--lr", "3e-3",
              "--plot", str(png), cwd=tmp_path)
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy >= 0.95, out
    assert "epoch 10/10" in out and "[" + "#" * 30 + "]" in out  # the progress bar
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in out
    else:
        assert png.exists() and png.stat().st_size > 0


def test_digits_cnn_reaches_97_percent(tmp_path):
    """examples/train_digits_cnn.py (Conv2d + BatchNorm2d + MaxPool2d, tg.compile step) in a
    short configuration: 5 of its 15 epochs already reach 97% (about 1 s of training)."""
    pytest.importorskip("sklearn")
    png = tmp_path / "loss.png"
    out = run("train_digits_cnn", "--epochs", "5", "--plot", str(png), cwd=tmp_path)
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy >= 0.97, out
    assert "epoch 5/5" in out and "[" + "#" * 30 + "]" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in out
    else:
        assert png.exists() and png.stat().st_size > 0
