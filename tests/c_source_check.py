"""A static check of generated C: no call in ``tg_program`` passes one pointer both to a
``restrict`` parameter and to another parameter through which that memory is written.

``restrict`` promises the compiler that memory reached through the pointer is reached through
no other pointer while the function runs, if it is modified at all; a call breaking that is
undefined behaviour, and GCC did miscompile it (issue 11 item 7: two gradients of one
function, whose identical kernels GCC merged, wrote in place through an operand declared
``const double* restrict``). Whether a given compiler exploits it is luck; this check is not.
"""
from __future__ import annotations

import re


def split_top(text: str) -> list[str]:
    """``text`` split at commas outside (), [] and {}."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def _signatures(source: str) -> dict[str, list[str]]:
    sigs = {}
    # kernels are declared TG_KERNEL (static, noinline): matching only "static" found none,
    # and the check passed every source vacuously
    for m in re.finditer(r"^(?:static|TG_KERNEL) \w+ (\w+)\(([^)]*)\) \{", source, re.M):
        sigs[m.group(1)] = split_top(m.group(2))
    return sigs


def _pointer(arg: str) -> str:
    """The address an argument expression denotes (casts and outer parentheses dropped)."""
    a = arg.replace(" ", "")
    while True:
        b = re.sub(r"^\((?:const)?\w+\*\)", "", a)
        if b.startswith("(") and b.endswith(")") and split_top(b[1:-1]) == [b[1:-1]]:
            b = b[1:-1]
        if b == a:
            return a
        a = b


def restrict_violations(source: str) -> list[str]:
    """Calls of the program's kernels that alias a ``restrict`` parameter with a written one."""
    sigs = _signatures(source)
    m = re.search(r"^static \w+ tg_program\(", source, re.M)
    if m is None:
        raise AssertionError("no tg_program in the generated source")
    body = source[m.start():source.find("\n}\n", m.start())]
    bad = []
    for m in re.finditer(r"^\s+(\w+)\((.*)\);\s*$", body, re.M):
        name, args = m.group(1), split_top(m.group(2))
        params = sigs.get(name)
        if params is None or len(params) != len(args):
            continue
        ptrs = [_pointer(a) for a in args]
        for i, (pi, ai) in enumerate(zip(params, ptrs)):
            if "restrict" not in pi:
                continue
            for j, (pj, aj) in enumerate(zip(params, ptrs)):
                written = not pi.lstrip().startswith("const") or \
                    not pj.lstrip().startswith("const")
                if i != j and ai == aj and written:
                    bad.append(f"{name}: {pi.strip()} and {pj.strip()} both get {ai}")
    return bad
