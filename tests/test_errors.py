"""Errors raised while tracing: each has its documented type, names the user's ``file:line``
(the line marked ``# <id>`` below), and says how to fix the problem.
"""
from __future__ import annotations

import collections
import os

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad.errors import DTypeError, TracerArrayConversionError

X = np.ones((3, 4))
HERE = os.path.basename(__file__)

Err = collections.namedtuple("Err", "id fn args type fragments")


def line_of(marker: str) -> int:
    with open(__file__) as fh:
        for n, text in enumerate(fh, 1):
            if text.rstrip().endswith(f"# {marker}"):
                return n
    raise AssertionError(f"no line marked {marker!r}")


# --- the functions that fail, one per marked line --------------------------------------------
def f_if(x):
    if x.sum() > 0:  # if
        return x
    return -x


def f_while(x):
    while x.max() > 0:  # while
        x = x - 1
    return x


def f_bool(x):
    return x * bool(x[0, 0])  # bool


def f_int(x):
    return x * int(x.sum())  # int


def f_float(x):
    return x * float(x.mean())  # float


def f_and(x):
    return (x > 0) and (x < 1)  # and


def f_chained(x):
    return 0 < x < 1  # chained-comparison


def f_item(x):
    return x * x.sum().item()  # item


def f_range(x):
    return [x[i] for i in range(x.sum())]  # range


def f_index_by_value(x):
    return x[int(x[0, 0])]  # index-by-value


def f_zeros_traced(x):
    return tnp.zeros(x.shape[0] * x.sum())  # zeros-traced-shape


def f_broadcast(x, y):
    return x + y  # broadcast


def f_np_broadcast(x, y):
    return np.maximum(x, y)  # np-broadcast


def f_reshape(x):
    return x.reshape(5, 2)  # reshape


def f_reshape_minus1(x):
    return np.reshape(x, (-1, 5))  # reshape-minus1


def f_matmul(x):
    return x @ x  # matmul


def f_np_matmul(x, y):
    return np.matmul(x, y)  # np-matmul


def f_dot(x):
    return np.dot(x, x)  # dot


def f_einsum(x):
    return np.einsum("ij,jk->ik", x, x)  # einsum


def f_concat(x):
    return np.concatenate([x, np.ones((3, 5))], axis=0)  # concatenate


def f_axis(x):
    return np.sum(x, axis=2)  # axis


def f_index_oob(x):
    return x[3]  # index-out-of-bounds


def f_too_many(x):
    return x[0, 1, 2]  # too-many-indices


def f_inv(x):
    return np.linalg.inv(x)  # linalg-inv


def f_roots(x):
    # (np.linalg.eig, this row's function before, is supported since the eig primitive)
    return np.roots(x[0])  # roots


def f_unique(x):
    return np.unique(x)  # unique


def f_nonzero(x):
    return np.nonzero(x)  # nonzero


def f_where1(x):
    return np.where(x > 0)  # where-one-arg


def f_mask(x):
    return x[x > 0]  # traced-mask


def f_repeat(x):
    return np.repeat(x, x.astype(np.int64).ravel())  # traced-repeat


def f_out(x):
    return np.add(x, 1, out=np.empty_like(X))  # ufunc-out


def f_sum_out(x):
    return np.sum(x, axis=0, out=np.empty(4))  # sum-out


def f_where_kw(x):
    return np.sin(x, where=x > 0)  # ufunc-where


def f_reduceat(x):
    return np.add.reduceat(x, [0, 2])  # reduceat


def f_setitem(x):
    x[0] = 1  # setitem
    return x


def f_asarray(x):
    # np.asarray/np.array of traced values trace now (issue 17); a NumPy scalar type still needs
    # a number the trace does not have
    return np.int64(x) + 1  # asarray


def f_array(x):
    return np.float32(x * 2)  # np-array


def f_complex_const(x):
    return np.maximum(x * np.ones(4, dtype=np.complex128), 0)  # complex-constant


def f_f16_astype(x):
    return x.astype(np.float16)  # float16-astype


def f_complex_literal(x):
    return np.floor(x * 1j)  # complex-literal


def f_neg_bool(x):
    return -(x > 0)  # negative-bool


def f_bitwise_int(x):
    return x.astype(np.int64) & 3  # bitwise-int


def f_histogram(x):
    return np.histogram(x)  # histogram


def f_arange_traced(x):
    return np.arange(x.shape[0]) * tnp.arange(x.sum())  # arange-traced


def f_pad_mode(x):
    return np.pad(x, 1, mode="reflect")  # pad-reflect


def f_compress(x):
    return np.compress(x[:, 0] > 0, x, axis=0)  # compress-traced


def f_format(x):
    return x, f"{x.sum():.3f}"  # format


def f_escape(x):
    _leaked.append(x)
    return x


_leaked: list = []


ERRORS = [
    Err("if", f_if, (X,), tg.TracerBoolError, ["np.where", "static_argnums", "`if`"]),
    Err("while", f_while, (X,), tg.TracerBoolError, ["np.where", "static_argnums"]),
    Err("bool", f_bool, (X,), tg.TracerBoolError, ["bool()", "np.where"]),
    Err("int", f_int, (X,), tg.TracerBoolError, ["int()", "static_argnums"]),
    Err("float", f_float, (X,), tg.TracerBoolError, ["float()", "static_argnums"]),
    Err("and", f_and, (X,), tg.TracerBoolError, ["np.where"]),
    Err("chained-comparison", f_chained, (X,), tg.TracerBoolError, ["np.where"]),
    Err("item", f_item, (X,), tg.TracerBoolError, [".item()"]),
    Err("range", f_range, (X,), tg.TracerBoolError, ["index or size", "static_argnums"]),
    Err("index-by-value", f_index_by_value, (X,), tg.TracerBoolError, ["int()"]),
    Err("zeros-traced-shape", f_zeros_traced, (X,), tg.TracerBoolError, ["x.shape",
                                                                         "static_argnums"]),
    Err("broadcast", f_broadcast, (X, np.ones(3)), tg.ShapeError, ["(3, 4)", "(3,)",
                                                                   "broadcast"]),
    Err("np-broadcast", f_np_broadcast, (X, np.ones((2, 4))), tg.ShapeError, ["(3, 4)", "(2, 4)"]),
    Err("reshape", f_reshape, (X,), tg.ShapeError, ["(3, 4)", "(5, 2)", "reshape"]),
    Err("reshape-minus1", f_reshape_minus1, (X,), tg.ShapeError, ["(3, 4)", "(-1, 5)"]),
    Err("matmul", f_matmul, (X,), tg.ShapeError, ["(3, 4) @ (3, 4)", "4 != 3"]),
    Err("np-matmul", f_np_matmul, (X, np.ones((5, 2))), tg.ShapeError, ["(3, 4)", "(5, 2)"]),
    Err("dot", f_dot, (X,), tg.ShapeError, ["(3, 4)", "not aligned"]),
    Err("einsum", f_einsum, (X,), tg.ShapeError, ["'j'", "(3, 4)"]),
    Err("concatenate", f_concat, (X,), tg.ShapeError, ["(3, 4)", "(3, 5)"]),
    Err("axis", f_axis, (X,), tg.ShapeError, ["axis 2", "dimension 2"]),
    Err("index-out-of-bounds", f_index_oob, (X,), IndexError, ["index 3", "size 3"]),
    Err("too-many-indices", f_too_many, (X,), IndexError, ["too many indices"]),
    Err("linalg-inv", f_inv, (X,), tg.ShapeError, ["np.linalg.inv", "square", "(3, 4)"]),
    Err("roots", f_roots, (X,), tg.UnsupportedOperationError, ["np.roots"]),
    Err("unique", f_unique, (X,), tg.ShapeError, ["np.unique", "size="]),
    Err("nonzero", f_nonzero, (X,), tg.UnsupportedOperationError, ["np.nonzero"]),
    Err("where-one-arg", f_where1, (X,), tg.UnsupportedOperationError,
        ["np.where", "data-dependent", "np.where(cond, a, b)"]),
    Err("traced-mask", f_mask, (X,), tg.UnsupportedOperationError,
        ["data-dependent", "np.where(mask, x, 0)"]),
    Err("traced-repeat", f_repeat, (X,), tg.UnsupportedOperationError,
        ["np.repeat", "depend on data"]),
    Err("ufunc-out", f_out, (X,), tg.UnsupportedOperationError, ["np.add", "out=",
                                                                 "return the result"]),
    Err("sum-out", f_sum_out, (X,), tg.UnsupportedOperationError, ["np.sum", "out="]),
    Err("ufunc-where", f_where_kw, (X,), tg.UnsupportedOperationError, ["np.sin", "where="]),
    Err("reduceat", f_reduceat, (X,), tg.UnsupportedOperationError, ["np.add.reduceat"]),
    Err("setitem", f_setitem, (X,), tg.UnsupportedOperationError, ["in-place", "np.where"]),
    Err("asarray", f_asarray, (X,), TracerArrayConversionError, ["np.asarray", "traced"]),
    Err("np-array", f_array, (X,), TracerArrayConversionError, ["np.asarray/np.array"]),
    Err("complex-constant", f_complex_const, (X,), DTypeError, ["complex128", "np.real"]),
    Err("float16-astype", f_f16_astype, (X,), DTypeError, ["float16", "float32"]),
    Err("complex-literal", f_complex_literal, (X,), DTypeError, ["complex128", "np.abs"]),
    Err("negative-bool", f_neg_bool, (X,), DTypeError, ["bool", "~x"]),
    Err("bitwise-int", f_bitwise_int, (X,), tg.UnsupportedOperationError,
        ["np.bitwise_and", "bool"]),
    Err("histogram", f_histogram, (X,), tg.UnsupportedOperationError, ["np.histogram"]),
    Err("arange-traced", f_arange_traced, (X,), tg.TracerBoolError, ["np.arange", "static"]),
    Err("format", f_format, (X,), tg.TracerBoolError, ["formatting", "'.3f'"]),
    Err("compress-traced", f_compress, (X,), tg.UnsupportedOperationError,
        ["np.compress", "depend on data", "np.where"]),
    Err("pad-reflect", f_pad_mode, (X,), tg.UnsupportedOperationError, ["np.pad", "'reflect'"]),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in ERRORS])
def test_error_type_line_and_fix(case):
    f = tg.jit(case.fn, backend="numpy")
    with pytest.raises(case.type) as info:
        f(*case.args)
    assert isinstance(info.value, tg.TracegradError), type(info.value)
    msg = str(info.value)
    assert f"{HERE}:{line_of(case.id)}" in msg, msg
    for fragment in case.fragments:
        assert fragment in msg, f"{fragment!r} not in: {msg}"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in ERRORS
                                  if c.id in ("broadcast", "reshape", "matmul", "linalg-inv",
                                              "setitem", "asarray", "if")])
def test_error_names_the_line_under_make_ir_too(case):
    with pytest.raises(case.type) as info:
        tg.make_ir(case.fn, stage="traced")(*case.args)
    assert f"{HERE}:{line_of(case.id)}" in str(info.value)


def test_errors_carry_src_attribute():
    with pytest.raises(tg.ShapeError) as info:
        tg.jit(f_reshape, backend="numpy")(X)
    assert info.value.src and f"{HERE}:{line_of('reshape')}" in info.value.src


# --- bad arguments never crash ----------------------------------------------------------------
@pytest.mark.parametrize("arg,fragment", [
    ("hello", "str"),
    (object(), "object"),
    (b"bytes", "bytes"),
    (2 ** 70, "int64"),
    (np.ones(3, dtype=np.float16), "float16"),
    (np.ones(3, dtype=np.int8), "int8"),
    (np.ones(3, dtype=np.uint32), "uint32"),
    (np.array(["a", "b"]), "<U1"),
    ({"ok": X, "bad": "text"}, "'bad'"),
], ids=["str", "object", "bytes", "huge-int", "float16",
        "int8", "uint32", "str-array", "dict-leaf"])
def test_bad_argument_is_a_tracegrad_error(arg, fragment):
    f = tg.jit(lambda x, a: x, backend="numpy")
    with pytest.raises(tg.TracegradError) as info:
        f(X, arg)
    msg = str(info.value)
    assert fragment in msg
    assert "static_argnums" in msg or ".astype" in msg or "supported" in msg or "float" in msg


def test_bad_argument_names_the_parameter_and_the_call():
    f = tg.jit(lambda x, params: x, backend="numpy")
    with pytest.raises(tg.TracegradError, match=r"params\['w'\]\[1\]") as info:
        f(X, {"w": [X, "oops"]})  # bad-call
    assert f"{HERE}:{line_of('bad-call')}" in str(info.value)
    g = tg.jit(lambda x, s: x, backend="numpy", static_argnums=1)
    with pytest.raises(tg.TracegradError, match="unhashable") as info:
        g(X, [1])  # bad-static-call
    assert f"{HERE}:{line_of('bad-static-call')}" in str(info.value)


def test_bad_return_value():
    f = tg.jit(lambda x: (x, "done"), backend="numpy")
    with pytest.raises(tg.TracegradError, match="returned a str"):
        f(X)


def test_leaked_tracer_is_reported():
    _leaked.clear()
    tg.jit(f_escape, backend="numpy")(X)
    g = tg.jit(lambda x: x + _leaked[0], backend="numpy")
    with pytest.raises(tg.TracegradError, match="escaped"):
        g(X)


def test_jit_of_non_callable():
    with pytest.raises(tg.TracegradError, match="function"):
        tg.jit(3)


def test_bad_backend():
    with pytest.raises(tg.TracegradError, match="backend"):
        tg.jit(lambda x: x, backend="cuda")


def test_all_errors_derive_from_tracegrad_error():
    for cls in (tg.ShapeError, tg.DTypeError, tg.TracerBoolError, tg.UnsupportedOperationError,
                tg.GradientError, tg.CompileError, tg.TracerArrayConversionError, tg.IRError):
        assert issubclass(cls, tg.TracegradError)
    # and from the builtin a NumPy user would catch
    assert issubclass(tg.ShapeError, ValueError) and issubclass(tg.TracerBoolError, TypeError)
    assert issubclass(tg.UnsupportedOperationError, NotImplementedError)


def test_eager_tnp_errors_name_the_line():
    with pytest.raises(tg.ShapeError) as info:
        tnp.reshape(X, (7,))  # eager-reshape
    assert f"{HERE}:{line_of('eager-reshape')}" in str(info.value)
