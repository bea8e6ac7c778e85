"""Load ``FILE.py:FUNC`` and bind the described arguments to FUNC's parameters.

The file is imported as a module (not as ``__main__``, so its script part does not run) with
its directory on ``sys.path``, as if it were run from there.
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, field

from .errors import CLIError, one_line


@dataclass
class Target:
    path: str           # as given on the command line
    func_name: str
    module: object
    fn: object          # the function to trace (a tg.jit wrapper is unwrapped)
    static_argnums: tuple = ()  # a tg.jit wrapper's: those arguments are Python values

    @property
    def label(self) -> str:
        """``file.py:func`` without directories, so dumps do not depend on where they ran."""
        return f"{os.path.basename(self.path)}:{self.func_name}"


@dataclass
class BoundArgs:
    args: tuple
    kwargs: dict
    names: list[str] = field(default_factory=list)    # parameter name of each positional arg

    def leaf_names(self) -> list[str]:
        """A readable name per leaf, in flattening order: ``w``, ``params['b']``, ``batch[0]``."""
        from tracegrad.pytree import keystr, tree_flatten, tree_paths

        _, tree = tree_flatten((self.args, self.kwargs))
        out = []
        for path in tree_paths(tree):
            if path[0] == 0:
                i = path[1]
                base = self.names[i] if i < len(self.names) else f"args[{i}]"
            else:
                base = str(path[1])
            out.append(base + keystr(path[2:]))
        return out


def split_target(text: str) -> tuple[str, str]:
    path, sep, func = text.rpartition(":")
    if not sep or not path or not func:
        raise CLIError(f"expected FILE.py:FUNC, got {text!r}")
    return path, func


def import_file(path: str):
    if not os.path.isfile(path):
        raise CLIError(f"no such file: {path}")
    directory = os.path.dirname(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    name = f"_tracegrad_dump_{''.join(c if c.isalnum() else '_' for c in stem)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CLIError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    if directory not in sys.path:
        sys.path.insert(0, directory)  # sibling imports work as when running the file
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise CLIError(f"cannot import {path}: SyntaxError: {exc.msg} "
                       f"({os.path.basename(path)}:{exc.lineno})") from exc
    except SystemExit as exc:  # sys.exit() at import: a script without a __main__ guard
        raise CLIError(f"cannot import {path}: it called sys.exit({exc.code!r}) while being "
                       "imported; put the script part under `if __name__ == \"__main__\":`"
                       ) from None
    except Exception as exc:
        from .errors import user_line
        where = user_line(exc, path)
        raise CLIError(f"cannot import {path}: {type(exc).__name__}: {one_line(exc)}"
                       + (f" (at {where})" if where else "")) from exc
    return module


def find_callable(module, path: str, name: str, what: str = "function"):
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            defined = sorted(k for k, v in vars(module).items()
                             if callable(v) and not k.startswith("_") and
                             getattr(v, "__module__", None) == module.__name__)
            hint = f" (it defines: {', '.join(defined)})" if defined else ""
            raise CLIError(f"{os.path.basename(path)} has no {what} {name!r}{hint}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CLIError(f"{os.path.basename(path)}:{name} is a {type(obj).__name__}, "
                       f"not a {what}")
    return obj


def load_target(text: str) -> Target:
    path, func = split_target(text)
    module = import_file(path)
    obj = find_callable(module, path, func)
    from tracegrad.api import JitFunction
    if isinstance(obj, JitFunction):  # trace the Python function itself, statics as jit would
        return Target(path, func, module, obj.fn, tuple(obj.static_argnums))
    return Target(path, func, module, obj)


def close_statics(target: Target, bound: BoundArgs, argnums: tuple):
    """Bind a ``tg.jit(static_argnums=...)`` function's static arguments (Python values, given
    as numbers in the description) into the function, as jit does, so they are not traced.

    Returns ``(fn, dynamic BoundArgs, argnums among the dynamic arguments, {name: value})``.
    """
    import numpy as np
    n = len(bound.args)
    static = sorted({i % n for i in target.static_argnums if -n <= i < n and
                     not isinstance(bound.args[i % n], np.ndarray)})
    if not static:
        return target.fn, bound, argnums, {}
    for a in argnums:
        if a in static:
            raise CLIError(f"argument {bound.names[a]!r} of {target.func_name} is static "
                           "(static_argnums of its tg.jit); it has no gradient")
    values = {i: bound.args[i] for i in static}
    fn = target.fn

    def with_statics(*dyn, **kwargs):
        it = iter(dyn)
        return fn(*[values[i] if i in values else next(it) for i in range(n)], **kwargs)
    with_statics.__name__ = getattr(fn, "__name__", "fn")
    dyn = BoundArgs(tuple(a for i, a in enumerate(bound.args) if i not in values),
                    bound.kwargs, [x for i, x in enumerate(bound.names) if i not in values])
    new_nums = tuple(a - sum(1 for i in static if i < a) for a in argnums)
    return with_statics, dyn, new_nums, {bound.names[i]: values[i] for i in static}


def _params(fn) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []


def bind(fn, func_name: str, positional: list, named: dict) -> BoundArgs:
    """Match positional and ``NAME=`` argument descriptions to ``fn``'s parameters."""
    params = _params(fn)
    P = inspect.Parameter
    if not any(p.kind == P.VAR_KEYWORD for p in params) and params:
        for name in named:
            if name not in {p.name for p in params}:
                raise CLIError(f"{func_name} has no parameter {name!r} (its parameters: "
                               f"{', '.join(p.name for p in params)})")
    positional = list(positional)
    named = dict(named)
    args, names, kwargs = [], [], {}
    missing = []
    by_keyword = False  # once a parameter is left at its default, later ones go by keyword
    for p in params:
        if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD):
            # a parameter described by name takes that; the others take the positional
            # descriptions in order
            if p.name in named or (positional and not by_keyword):
                value = named.pop(p.name) if p.name in named else positional.pop(0)
                if not by_keyword:
                    args.append(value)
                    names.append(p.name)
                elif p.kind == P.POSITIONAL_OR_KEYWORD:
                    kwargs[p.name] = value
                else:
                    raise CLIError(f"{func_name}: positional-only parameter {p.name!r} follows "
                                   "one left at its default; describe the earlier one too")
            elif p.default is not P.empty:
                by_keyword = True
            else:
                missing.append(p.name)
        elif p.kind == P.VAR_POSITIONAL:
            for i, a in enumerate(positional):
                args.append(a)
                names.append(f"{p.name}[{i}]")
            positional = []
        elif p.kind == P.KEYWORD_ONLY:
            if p.name in named:
                kwargs[p.name] = named.pop(p.name)
            elif p.default is P.empty:
                missing.append(p.name)
        elif p.kind == P.VAR_KEYWORD:
            kwargs.update(named)
            named = {}
    if missing:
        sig = ", ".join(p.name for p in params)
        example = " ".join("f32[3]" for _ in missing)
        raise CLIError(f"{func_name}({sig}) needs a description of {', '.join(missing)}: give "
                       f"types positionally (tracegrad dump FILE.py:{func_name} {example}), as "
                       f"--arg {missing[0]}=f32[3], or use --example NAME")
    if positional:
        n = len(args)
        raise CLIError(f"{func_name} takes {n} positional argument{'s' if n != 1 else ''} but "
                       f"{n + len(positional)} were described")
    if named:
        raise CLIError(f"{func_name} has no parameter {min(named)!r}")
    return BoundArgs(tuple(args), kwargs, names)


def example_args(module, path: str, name: str, fn, func_name: str) -> BoundArgs:
    """Call FILE's ``name()``: a tuple or list gives the positional arguments, a dict the
    arguments by parameter name, anything else the single argument. Leaves may be arrays,
    Python numbers, or type strings."""
    from .specs import parse_type

    maker = find_callable(module, path, name, "example function")
    try:
        value = maker()
    except Exception as exc:
        from .errors import user_line
        where = user_line(exc, path)
        raise CLIError(f"example {name}() failed: {type(exc).__name__}: {one_line(exc)}"
                       + (f" (at {where})" if where else "")) from exc

    def leaves_as_arrays(v):
        if isinstance(v, str):
            return parse_type(v)
        if isinstance(v, tuple) and not hasattr(v, "_fields"):
            return tuple(leaves_as_arrays(x) for x in v)
        if isinstance(v, list):
            return [leaves_as_arrays(x) for x in v]
        if isinstance(v, dict):
            return {k: leaves_as_arrays(x) for k, x in v.items()}
        return v

    value = leaves_as_arrays(value)
    if isinstance(value, dict):
        return bind(fn, func_name, [], value)
    if isinstance(value, (tuple, list)):
        return bind(fn, func_name, list(value), {})
    return bind(fn, func_name, [value], {})
