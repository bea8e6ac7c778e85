"""The ``tracegrad`` command line (also ``python -m tracegrad``): ``dump``, ``rules``, ``cache``.

Imports stay lazy: ``tracegrad --version`` loads nothing beyond ``import tracegrad``; each
command imports what it needs (the passes, networkx, codegen) when it runs. Errors a user can
cause end in exit status 2 and one line on stderr; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import sys

from .errors import EXIT_USAGE, CLIError, one_line

USAGE = """\
usage: tracegrad [--version] [--debug] COMMAND ...

commands:
  dump FILE.py:FUNC [TYPES...]   print the IR at each stage, pass-by-pass changes, the
                                 generated source, statistics, or a picture of the graph
  rules                          every primitive's derivative rule and the conventions
  cache info|clear               show or clear the on-disk kernel cache

Run `tracegrad COMMAND --help` for a command's options. --debug shows Python tracebacks.
"""
COMMANDS = ("dump", "rules", "cache")


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        stream = sys.stdout if argv else sys.stderr
        stream.write(USAGE)
        return 0 if argv else EXIT_USAGE
    if argv[0] in ("--version", "-V"):
        from tracegrad import __version__
        print(f"tracegrad {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command == "dump":
        from .dump import run
        return run(rest)
    if command == "rules":
        from .rules import run
        return run(rest)
    if command == "cache":
        from .cache import run
        return run(rest)
    raise CLIError(f"unknown command {command!r}; commands: {', '.join(COMMANDS)} "
                   "(see tracegrad --help)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        return _dispatch(argv)
    except CLIError as exc:
        if debug:
            raise
        sys.stderr.write(f"tracegrad: error: {one_line(exc)}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("tracegrad: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0  # `tracegrad dump ... | head`
    except Exception as exc:  # a bug in tracegrad, not in the user's input
        if debug:
            raise
        from tracegrad.errors import TracegradError
        if isinstance(exc, TracegradError):
            sys.stderr.write(f"tracegrad: error: {type(exc).__name__}: {one_line(exc)}\n")
            return EXIT_USAGE
        sys.stderr.write(f"tracegrad: internal error: {type(exc).__name__}: {one_line(exc)} "
                         "(run with --debug for the traceback, and please report it)\n")
        return 1
