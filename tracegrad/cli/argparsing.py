"""An ``argparse`` parser that keeps the CLI's error contract: one line, exit status 2."""
from __future__ import annotations

import argparse

from .errors import CLIError


class ArgParser(argparse.ArgumentParser):
    """Usage errors become ``CLIError`` (one line on stderr, exit status 2), not argparse's
    usage block."""

    def error(self, message):
        raise CLIError(f"{message} (see {self.prog} --help)")
