"""``tg.save`` / ``tg.load``: state dicts (and any tree of arrays) in a NumPy ``.npz`` file.

No pickle, in either direction: every array is one ``.npz`` entry, and the tree around them
(dicts with str/int keys, lists, tuples, numbers, strings, booleans, None) is a JSON document
stored as one more entry, a unicode array. ``load`` reads with ``allow_pickle=False``, so a
file can never run code, and anything that is not such a tree is a typed ``SerializationError``
at ``save`` time (naming where in the tree it is), not a silently pickled object.
Tensors come back as tensors and NumPy arrays as arrays, so
``model.load_state_dict(tg.load(path))`` and the optimizer's ``load_state_dict`` work.
"""
from __future__ import annotations

import json
import os
import zipfile
from collections import OrderedDict

import numpy as np

from ..errors import TracegradError
from .core import Tensor, _to_array
from .lazy import _value_of

_TREE = "__tracegrad_tree__"
_FORMAT = 1


class SerializationError(TracegradError, TypeError):
    """``tg.save`` got something that is not a tree of arrays, or ``tg.load`` a file that was
    not written by ``tg.save``."""


def _encode(obj, arrays, where):
    if isinstance(obj, Tensor):
        arrays.append(np.asarray(_value_of(obj)))
        return {"t": "tensor", "i": len(arrays) - 1, "rg": bool(obj.requires_grad)}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            raise SerializationError(f"tg.save: the array at {where} has dtype {obj.dtype}; "
                                     "only numeric and boolean arrays can be saved (no pickle)")
        arrays.append(obj)
        return {"t": "array", "i": len(arrays) - 1}
    if isinstance(obj, np.generic):
        return _encode(obj.item(), arrays, where)
    if obj is None or isinstance(obj, (bool, str)):
        return {"t": "py", "v": obj}
    if isinstance(obj, (int, float)):
        if isinstance(obj, float) and not np.isfinite(obj):
            return {"t": "float", "v": repr(obj)}  # JSON has no inf/nan
        return {"t": "py", "v": obj}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise SerializationError(f"tg.save: the dict at {where} has key {k!r} of type "
                                         f"{type(k).__name__}; keys must be str or int")
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"t": "odict" if isinstance(obj, OrderedDict) else "dict", "v": items}
    if isinstance(obj, (list, tuple)):
        return {"t": "list" if isinstance(obj, list) else "tuple",
                "v": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise SerializationError(
        f"tg.save: {type(obj).__name__} at {where} is not an array, tensor, number, string or "
        "a dict/list/tuple of those; tg.save stores state dicts without pickle, so save "
        "model.state_dict() / optimizer.state_dict() rather than the objects themselves")


def _decode(node, arrays):
    t = node["t"]
    if t == "py":
        return node["v"]
    if t == "float":
        return float(node["v"])
    if t == "array":
        return arrays[node["i"]]
    if t == "tensor":
        return Tensor(_to_array(arrays[node["i"]], copy=False), requires_grad=node["rg"])
    if t in ("dict", "odict"):
        d = OrderedDict() if t == "odict" else {}
        for k, v in node["v"]:
            d[k] = _decode(v, arrays)
        return d
    if t in ("list", "tuple"):
        xs = [_decode(v, arrays) for v in node["v"]]
        return xs if t == "list" else tuple(xs)
    raise SerializationError(f"tg.load: unknown node type {t!r} in the file's tree")


def save(obj, f) -> None:
    """Write ``obj`` (a state dict, or any tree of arrays/tensors/numbers) to ``f`` (a path or
    a binary file object) as ``.npz``. A path is used as given (no ``.npz`` is appended)."""
    arrays: list = []
    tree = _encode(obj, arrays, "the top")
    doc = json.dumps({"format": _FORMAT, "tree": tree})
    entries = {f"a{i}": a for i, a in enumerate(arrays)}
    entries[_TREE] = np.array(doc)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            np.savez(fh, **entries)
    else:
        np.savez(f, **entries)


def load(f, map_location=None, weights_only=True):
    """Read what ``tg.save`` wrote (``allow_pickle=False``: a file never runs code).
    ``map_location`` may only name the CPU."""
    if map_location not in (None, "cpu") and str(map_location) not in ("cpu", "device('cpu')"):
        raise TracegradError(f"tg.load: tracegrad runs on the CPU; map_location="
                             f"{map_location!r} is not available")
    try:
        with np.load(f, allow_pickle=False) as z:
            if _TREE not in z.files:
                raise SerializationError("tg.load: this .npz file was not written by tg.save "
                                         f"(it has no {_TREE!r} entry); read it with np.load")
            doc = json.loads(str(z[_TREE]))
            n = sum(1 for k in z.files if k != _TREE)
            arrays = [z[f"a{i}"] for i in range(n)]
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise SerializationError(f"tg.load: not a file written by tg.save ({e})") from None
    if doc.get("format") != _FORMAT:
        raise SerializationError(f"tg.load: unknown format {doc.get('format')!r}")
    return _decode(doc["tree"], arrays)
