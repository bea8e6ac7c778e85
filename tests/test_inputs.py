"""Bad input to every public function: wrong types, shapes and dtypes, bad argnums, bad static
arguments, non-functions where functions belong. Each raises its documented TracegradError
subclass, whose message names the line of the bad call (where the case starts below) and
says how to fix it; none is a TypeError/ValueError/AttributeError from inside the library.
"""
from __future__ import annotations

import collections
import os

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import testing
from tracegrad.errors import ArgumentError, DTypeError, GradientError, ShapeError

HERE = os.path.basename(__file__)
X, V = np.ones((3, 4)), np.ones(3)
Bad = collections.namedtuple("Bad", "id call type fragments")


def line_of(case_id: str) -> int:
    """The line where the case starts: its call is written on that line."""
    with open(__file__) as fh:
        for n, text in enumerate(fh, 1):
            if f'Bad("{case_id}",' in text:
                return n
    raise AssertionError(f"no case {case_id!r}")


def f_scalar(x):
    return np.sum(x * x)


def f2(x, y):
    return np.sum(x * y)


# --- custom rules that are wrong in one way each ------------------------------------------------
@tg.custom_vjp
def cv_no_rule(x):
    return x * 2


@tg.custom_vjp
def cv_bad_shape(x):
    return x * 2


cv_bad_shape.defvjp(lambda x: (x * 2, None), lambda res, g: (np.ones(5),))


@tg.custom_jvp
def cj_bad_shape(x):
    return np.sin(x)


cj_bad_shape.defjvp(lambda p, t: (np.sin(p[0]), np.ones(5)))


class NoBackward(tg.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2


class Double(tg.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


# --- the bad calls: each case's call is on the line where the case starts ---------------------------------------------------------
API = [
    # functions where functions belong
    Bad("grad-int", lambda: tg.grad(3), ArgumentError, ["must be a function", "int"]),
    Bad("jit-int", lambda: tg.jit(3), ArgumentError, ["must be a function"]),
    Bad("vjp-int", lambda: tg.vjp(3, V), ArgumentError, ["tg.vjp"]),
    Bad("jvp-int", lambda: tg.jvp(3, (V,), (V,)), ArgumentError, ["tg.jvp"]),
    Bad("jacobian-int", lambda: tg.jacobian(3), ArgumentError, ["tg.jacobian"]),
    Bad("hessian-int", lambda: tg.hessian(3), ArgumentError, ["must be a function"]),
    Bad("hvp-int", lambda: tg.hvp(3, (V,), (V,)), ArgumentError, ["tg.hvp"]),
    Bad("make_ir-int", lambda: tg.make_ir(3), ArgumentError, ["tg.make_ir"]),
    Bad("custom_vjp-int", lambda: tg.custom_vjp(3), ArgumentError, ["custom_vjp"]),
    Bad("custom_jvp-int", lambda: tg.custom_jvp(3), ArgumentError, ["custom_jvp"]),
    Bad("defvjp-int", lambda: cv_no_rule.defvjp(3, 4), ArgumentError, ["fwd rule"]),
    Bad("straight_through-array", lambda: tg.straight_through(V, V), ArgumentError,
        ["straight_through's fn"]),
    Bad("check_grads-int", lambda: testing.check_grads(3, (V,)), ArgumentError,
        ["check_grads' fn"]),
    Bad("backends-int", lambda: testing.assert_backends_agree(3, (V,)), ArgumentError,
        ["must be a function"]),
    # arguments of the wrong type or dtype
    Bad("jit-str", lambda: tg.jit(f_scalar)("abc"), tg.TracegradError,
        ["str", "static_argnums"]),
    Bad("grad-complex", lambda: tg.grad(f_scalar)(1j), DTypeError, ["complex"]),
    Bad("grad-int-array", lambda: tg.grad(f_scalar)(np.arange(3)), GradientError,
        ["float and complex inputs only", "astype"]),
    Bad("vjp-float16", lambda: tg.vjp(np.sin, np.ones(2, np.float16)), DTypeError,
        ["float16", ".astype"]),
    Bad("jvp-object", lambda: tg.jvp(np.sin, (object(),), (V,)), tg.TracegradError,
        ["object", "not an array"]),
    Bad("make_ir-uint8", lambda: tg.make_ir(f_scalar)(np.ones(2, np.uint8)), DTypeError,
        ["uint8"]),
    Bad("stop_gradient-str", lambda: tg.stop_gradient("abc"), tg.TracegradError,
        ["tg.stop_gradient", "str"]),
    Bad("byte-order", lambda: tg.jit(f_scalar)(V.astype(">f8")), DTypeError,
        [">f8", ".astype"]),
  
    Bad("vjp-cotangent-shape", lambda: tg.vjp(np.sin, V)[1](np.ones(4)), GradientError,
        ["cotangent shape (4,)", "(3,)"]),
    Bad("jvp-tangent-shape", lambda: tg.jvp(np.sin, (V,), (np.ones(4),)), GradientError,
        ["tangent 0 has shape (4,)"]),
    Bad("hvp-not-tuples", lambda: tg.hvp(f_scalar, V, V), ArgumentError,
        ["tuples", "(x,), (v,)"]),
    Bad("grad-non-scalar", lambda: tg.grad(np.sin)(V), GradientError,
        ["(3,)", ".sum()"]),
    Bad("jit-shapes", lambda: tg.jit(lambda x, y: x + y)(X, V), ShapeError,
        ["(3, 4)", "(3,)"]),
  
    Bad("grad-argnums-range", lambda: tg.grad(f2, argnums=2)(V, V), GradientError,
        ["argnums=2", "2 positional"]),
    Bad("grad-argnums-type", lambda: tg.grad(f2, argnums="x")(V, V), GradientError,
        ["int or a tuple of ints"]),
    Bad("jacobian-argnums", lambda: tg.jacobian(np.sin, argnums=(0, 3))(V), GradientError,
        ["argnums=(0, 3)"]),
    Bad("hessian-argnums", lambda: tg.hessian(f2, argnums=-3)(V, V), GradientError,
        ["argnums=-3"]),
    Bad("make_ir-argnums", lambda: tg.make_ir(f2, grad=True, argnums=1.5)(V, V), GradientError,
        ["argnums"]),
    # static arguments and jit options
    Bad("static-float", lambda: tg.jit(f2, static_argnums=1.5), ArgumentError,
        ["static_argnums", "1.5"]),
    Bad("static-range", lambda: tg.jit(f2, static_argnums=5)(V, V), tg.TracegradError,
        ["static_argnums", "out of range"]),
    Bad("static-unhashable", lambda: tg.jit(lambda x, n: x, static_argnums=1)(V, [1]),
        tg.TracegradError, ["unhashable", "tuple instead of a list"]),
    Bad("static-array", lambda: tg.jit(lambda x, n: x, static_argnums=1)(V, V),
        tg.TracegradError, ["is an array", "static_argnums"]),
    Bad("static-bad-value", lambda: tg.jit(lambda x, n: np.reshape(x, n), static_argnums=1)(
        V, "ab"), ArgumentError, ["reshape", "'ab'"]),
    Bad("static-donated", lambda: tg.jit(f2, static_argnums=1, donate_argnums=1)(V, 2.0),
        tg.TracegradError, ["static and donated"]),
    Bad("opt_level", lambda: tg.jit(f_scalar, opt_level=2), ArgumentError,
        ["opt_level", "'O2'"]),
    Bad("backend", lambda: tg.jit(f_scalar, backend="gpu"), ArgumentError,
        ["backend", "'gpu'"]),
    Bad("jit-too-few", lambda: tg.jit(f2)(V), ArgumentError,
        ["f2(x, y)", "missing a required argument: 'y'"]),
    Bad("jit-unknown-kwarg", lambda: tg.jit(f2)(V, V, z=1), ArgumentError,
        ["unexpected keyword argument 'z'"]),
    Bad("grad-too-many", lambda: tg.grad(f_scalar)(V, V), ArgumentError,
        ["f_scalar(x)", "too many positional arguments"]),
    Bad("jacobian-mode", lambda: tg.jacobian(np.sin, mode="sideways"), ArgumentError,
        ["'fwd' or 'rev'"]),
    Bad("make_ir-stage", lambda: tg.make_ir(f_scalar, stage="final"), ArgumentError,
        ["stage", "'final'"]),
    # custom rules
    Bad("custom_vjp-no-rule", lambda: tg.grad(lambda x: np.sum(cv_no_rule(x)))(V),
        tg.TracegradError, ["defvjp(fwd, bwd)"]),
    Bad("custom_vjp-shape", lambda: tg.grad(lambda x: np.sum(cv_bad_shape(x)))(V),
        GradientError, ["shape (5,)", "argument's shape"]),
    Bad("custom_jvp-shape", lambda: tg.jvp(cj_bad_shape, (V,), (V,)), GradientError,
        ["shape (5,)", "output's shape"]),
    Bad("function-no-backward", lambda: tg.grad(lambda x: np.sum(NoBackward.apply(x)))(V),
        tg.UnsupportedOperationError, ["defines no backward", "@staticmethod"]),
    Bad("function-apply-count", lambda: Double.apply(V, V), ArgumentError,
        ["Double.forward(ctx, x)", "too many"]),
    Bad("straight_through-shape", lambda: tg.grad(lambda x: np.sum(tg.straight_through(
        np.sign, lambda v: v[:2])(x)))(V), GradientError, ["shape (2,)"]),
    # testing helpers
    Bad("check_grads-args", lambda: testing.check_grads(f_scalar, V), ArgumentError,
        ["tuple", "(x,)"]),
    Bad("check_grads-modes", lambda: testing.check_grads(f_scalar, (V,), modes="rev"),
        ArgumentError, ["('rev', 'fwd')"]),
    Bad("check_grads-rtol", lambda: testing.check_grads(f_scalar, (V,), rtol="tight"),
        ArgumentError, ["rtol must be a number"]),
    # the tensor front
    Bad("tensor-ragged", lambda: tg.tensor([[1.0, 2.0], [3.0]]), ShapeError,
        ["rectangular"]),
    Bad("tensor-dtype", lambda: tg.tensor([1.0], dtype="banana"), DTypeError,
        ["'banana'", "tg.float32"]),
    Bad("tensor-requires_grad", lambda: tg.tensor([1.0], requires_grad="yes"), ArgumentError,
        ["True or False"]),
    Bad("tensor-int-grad", lambda: tg.tensor([1, 2], requires_grad=True), GradientError,
        ["floating point"]),
    Bad("tensor-item", lambda: tg.tensor(V).item(), ShapeError, ["one element"]),
]


def _tj(fn):
    """A function jitted on the NumPy backend and called on X: errors raised while tracing."""
    return lambda: tg.jit(fn, backend="numpy")(X)


# bad arguments to traced NumPy functions and to traced arrays (the line of the traced call)
TRACED = [
    Bad("axis-str", _tj(lambda x: np.sum(x, axis="a")), ArgumentError,
        ["axis must be an integer", "'a'"]),
    Bad("axis-tuple-argmax", _tj(lambda x: np.argmax(x, axis=(0, 1))), ArgumentError,
        ["axis must be an integer"]),
    Bad("transpose-str", _tj(lambda x: np.transpose(x, "ab")), ArgumentError,
        ["integer"]),
    Bad("reshape-float", _tj(lambda x: x.reshape(2.5, 4)), ArgumentError,
        ["reshape", "2.5"]),
    Bad("slice-float", _tj(lambda x: x[0.5:2]), ArgumentError,
        ["slice indices must be integers", "start=0.5"]),
    Bad("slice-step-0", _tj(lambda x: x[::0]), ArgumentError,
        ["step cannot be zero"]),
    Bad("slice-traced", _tj(lambda x: x[:x.argmax()]), tg.TracerBoolError,
        ["slice stop", "static_argnums"]),
    Bad("pad-str", _tj(lambda x: np.pad(x, "a")), ArgumentError,
        ["np.pad", "pad_width"]),
    Bad("pad-pairs", _tj(lambda x: np.pad(x, ((1, 1),) * 3)), ArgumentError,
        ["one pair per axis"]),
    Bad("astype-name", _tj(lambda x: x.astype("banana")), DTypeError,
        ["'banana' is not a dtype"]),
    Bad("sum-dtype", _tj(lambda x: np.sum(x, dtype="banana")), DTypeError,
        ["not a dtype"]),
    Bad("var-ddof", _tj(lambda x: np.var(x, ddof="a")), ArgumentError,
        ["ddof must be a number"]),
    Bad("ragged-list", _tj(lambda x: x * [[1, 2], [3]]), ShapeError,
        ["rectangular"]),
    Bad("len-0d", _tj(lambda x: len(x.sum())), ArgumentError, ["len()", "x.size"]),
    Bad("hash", _tj(lambda x: {x: 1}), ArgumentError, ["unhashable", "static"]),
    Bad("no-attribute", _tj(lambda x: x.frobnicate()), AttributeError,
        ["no attribute 'frobnicate'"]),
    Bad("shift", _tj(lambda x: x.astype(np.int64) << 2), tg.UnsupportedOperationError,
        ["<<", "multiply by 2**k"]),
    Bad("int-negative-power", _tj(lambda x: x.astype(np.int64) ** -1), ArgumentError,
        ["negative integer powers", "astype(np.float64)"]),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in API + TRACED])
def test_bad_input_is_a_typed_error_naming_the_line_and_the_fix(case):
    with pytest.raises(case.type) as info:
        case.call()
    err = info.value
    assert isinstance(err, tg.TracegradError), f"{type(err).__name__}: {err}"
    msg = str(err)
    assert f"{HERE}:{line_of(case.id)}" in msg, msg
    for fragment in case.fragments:
        assert fragment in msg, f"{fragment!r} not in: {msg}"


def test_argument_error_is_both_a_type_and_a_value_error():
    """NumPy raises TypeError for an argument of the wrong kind and ValueError for a wrong
    value; code catching either keeps working."""
    assert issubclass(ArgumentError, TypeError) and issubclass(ArgumentError, ValueError)
    with pytest.raises(TypeError):
        tg.jit(lambda x: np.sum(x, axis="a"), backend="numpy")(X)
    with pytest.raises(ValueError):
        tg.jit(lambda x: x[::0], backend="numpy")(X)


def test_a_type_error_inside_the_users_function_is_not_mistaken_for_a_bad_call():
    """call_user turns only a call that does not fit the signature into ArgumentError; a
    TypeError the function's body raises itself passes through unchanged."""
    def body_error(x):
        return len(5) + x  # the user's own bug

    with pytest.raises(TypeError, match="object of type 'int' has no len") as info:
        tg.jit(body_error, backend="numpy")(V)
    assert not isinstance(info.value, tg.TracegradError)


def test_stop_gradient_takes_pytrees_and_numbers():
    out = tg.stop_gradient({"a": V, "b": (1.0, 2)})
    np.testing.assert_array_equal(out["a"], V)
    assert tg.stop_gradient(None) is None
