"""Render DOT text to SVG or PNG with the Graphviz ``dot`` program (``--svg`` / ``--png``)."""
from __future__ import annotations

import os
import shutil
import subprocess

from .errors import CLIError

INSTALL_HINT = ("install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
                "graphviz; conda: conda install graphviz), or write DOT with --format dot -o "
                "FILE.dot and render it elsewhere")


def render_file(dot_text: str, kind: str, path: str) -> None:
    exe = shutil.which("dot")
    if exe is None:
        raise CLIError(f"--{kind} {path}: the Graphviz 'dot' program is not installed; "
                       + INSTALL_HINT)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CLIError(f"--{kind} {path}: no such directory {directory}")
    try:
        proc = subprocess.run([exe, f"-T{kind}", "-o", path], input=dot_text.encode(),
                              capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CLIError(f"--{kind} {path}: dot took more than 120 s; the graph may be too big "
                       "to lay out (try --stage optimized or fused)") from exc
    if proc.returncode != 0:
        detail = " ".join(proc.stderr.decode(errors="replace").split())
        raise CLIError(f"--{kind} {path}: dot failed (exit status {proc.returncode}): "
                       f"{detail}")
