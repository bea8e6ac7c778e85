"""C lowerings of the special-function primitives (gammaln, digamma, polygamma, erfc, erfinv,
gamma, i0, i1): one double-precision helper each, called at float32 through a cast, as SciPy's
float32 loops compute in double too.

libm has lgamma, tgamma and erfc; the rest are written here from their textbook formulas:
- digamma: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series
  ln x - 1/(2x) - sum B_2k / (2k x^2k); reflection psi(1 - x) - pi cot(pi x) for x < 0.
- polygamma(n, x) = (-1)^(n+1) n! zeta(n + 1, x), the Hurwitz zeta by direct terms up to
  q >= 10 + s and the Euler-Maclaurin tail (Abramowitz & Stegun 23.1.30).
- erfinv: M. Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011), single
  precision polynomial as the start, then Halley steps on erf(x) = y (on erfc(x) = 1 - |y| for
  |y| > 1/2, where 1 - |y| is exact), which reach double precision in one or two steps.
- i0, i1: the power series sum (x^2/4)^k / (k! (k + nu)!) (positive terms: no cancellation)
  for |x| <= 30, the asymptotic expansion e^x / sqrt(2 pi x) sum (-1)^k a_k(nu) / x^k above
  (A&S 9.7.1), with e^x split in two halves so that it overflows where the result does.
Accuracy against SciPy over wide ranges is tested in tests/test_special.py.
"""
from __future__ import annotations

import math
from fractions import Fraction

from tracegrad.prims import ELEMENTWISE

from .lowerings import register_lowering

# B_2j / (2j)!, j = 1..12: the Euler-Maclaurin coefficients of the Hurwitz zeta tail
_BERNOULLI = [Fraction(1, 6), Fraction(-1, 30), Fraction(1, 42), Fraction(-1, 30), Fraction(5, 66),
              Fraction(-691, 2730), Fraction(7, 6), Fraction(-3617, 510), Fraction(43867, 798),
              Fraction(-174611, 330), Fraction(854513, 138), Fraction(-236364091, 2730)]
_EM = ", ".join(repr(float(b / math.factorial(2 * j + 2))) for j, b in enumerate(_BERNOULLI))

_CORE = r"""
/* special functions in double precision (codegen/c/special.py) */
double lgamma_r(double, int *);  /* POSIX; lgamma itself writes the global signgam */
static double tg_sp_gammaln(double x) { int s; return lgamma_r(x, &s); }
static double tg_sp_gamma(double x) {
    if (x < 0 && x == floor(x)) return NAN;  /* SciPy: NaN at the negative integers */
    return tgamma(x); }
static double tg_sp_digamma(double x) {
    double r = 0, z;
    if (x != x || x == INFINITY) return x;
    if (x == 0) return signbit(x) ? INFINITY : -INFINITY;  /* SciPy's signs at +-0 */
    if (x < 0) {
        if (x == floor(x) || x == -INFINITY) return NAN;
        /* pi cot(pi x) from the fractional part: pi x itself loses digits for large |x| */
        return tg_sp_digamma(1 - x) - 3.141592653589793 / tan(3.141592653589793 * (x - floor(x)));
    }
    while (x < 10) { r -= 1 / x; x += 1; }
    z = 1 / (x * x);
    return r + log(x) - 0.5 / x
        - z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 - z * (1.0 / 132
              - z * (691.0 / 32760 - z / 12.0)))))); }
static double tg_sp_hzeta(double s, double q) {
    static const double c[12] = {{EM}};
    double sum = 0, a, fac, q2;
    int j;
    if (s != s || q != q) return NAN;
    if (s == 1) return INFINITY;
    if (s < 1) return NAN;
    if (q <= 0) {
        if (q == floor(q)) return INFINITY;
        if (s != floor(s)) return NAN;  /* q^-s of a negative q needs an integer s */
    }
    while (q < 10 + s) { sum += pow(q, -s); q += 1; }
    a = pow(q, -s);
    sum += q * a / (s - 1) + 0.5 * a;
    fac = s * a / q;
    q2 = q * q;
    for (j = 0; j < 12; j++) {
        double t = c[j] * fac;
        sum += t;
        if (fabs(t) <= 1e-17 * fabs(sum)) break;
        fac *= (s + 2 * j + 1) * (s + 2 * j + 2) / q2;
    }
    return sum; }
static double tg_sp_polygamma(double n, double x) {
    if (n != n || x != x || n < 0 || n != floor(n)) return NAN;
    if (n == 0) return tg_sp_digamma(x);
    return (fmod(n, 2) == 0 ? -1 : 1) * tgamma(n + 1) * tg_sp_hzeta(n + 1, x); }
static double tg_sp_erfinv(double y) {
    double ay = fabs(y), w, p, x;
    int i;
    if (y != y || ay > 1) return NAN;
    if (ay == 1) return y * INFINITY;
    if (y == 0) return y;
    w = -log((1 - ay) * (1 + ay));
    if (w < 5) {
        w -= 2.5;
        p = 2.81022636e-08; p = 3.43273939e-07 + p * w; p = -3.5233877e-06 + p * w;
        p = -4.39150654e-06 + p * w; p = 0.00021858087 + p * w; p = -0.00125372503 + p * w;
        p = -0.00417768164 + p * w; p = 0.246640727 + p * w; p = 1.50140941 + p * w;
    } else {
        w = sqrt(w) - 3;
        p = -0.000200214257; p = 0.000100950558 + p * w; p = 0.00134934322 + p * w;
        p = -0.00367342844 + p * w; p = 0.00573950773 + p * w; p = -0.0076224613 + p * w;
        p = 0.00943887047 + p * w; p = 1.00167406 + p * w; p = 2.83297682 + p * w;
    }
    x = p * ay;
    for (i = 0; i < 6; i++) {
        double f = ay <= 0.5 ? erf(x) - ay : (1 - ay) - erfc(x);
        double d = 1.1283791670955126 * exp(-x * x), r;
        if (d == 0) break;
        r = f / d;
        x -= r / (1 + x * r);  /* Halley: f'' = -2x f' */
        if (fabs(r) <= 1e-17 * x) break;
    }
    return y < 0 ? -x : x; }
static double tg_sp_besseli(int nu, double x) {
    double ax = fabs(x), sum, t;
    int k;
    if (ax != ax) return x;
    if (ax <= 30) {
        double q = 0.25 * ax * ax;
        t = nu ? 0.5 * ax : 1;
        sum = t;
        for (k = 1; k < 500 && t > 1e-17 * sum; k++) { t *= q / ((double)k * (k + nu)); sum += t; }
    } else {
        double mu = 4.0 * nu * nu, h = exp(0.5 * ax);
        t = 1; sum = 1;
        for (k = 1; k < 60; k++) {
            t *= -(mu - (2.0 * k - 1) * (2.0 * k - 1)) / (8.0 * k * ax);
            sum += t;
            if (fabs(t) <= 1e-17 * sum) break;
        }
        sum = h * (h * sum / sqrt(6.283185307179586 * ax));
    }
    return (nu == 1 && x < 0) ? -sum : sum; }
""".replace("{{EM}}", "{" + _EM + "}")

E = ELEMENTWISE


def _lower(call: str):
    """The C call ``call`` (operands as {0}, {1}), through double at float32."""
    def lower(a, dt, el):
        if dt == "float32":
            return "((float)" + call.format(*(f"(double)({x})" for x in a)) + ")"
        return call.format(*a)
    return lower


for _prim, _call in ((E["gammaln"], "tg_sp_gammaln({0})"), (E["digamma"], "tg_sp_digamma({0})"),
                     (E["polygamma"], "tg_sp_polygamma({0}, {1})"), (E["erfc"], "erfc({0})"),
                     (E["erfinv"], "tg_sp_erfinv({0})"), (E["gamma"], "tg_sp_gamma({0})"),
                     (E["i0"], "tg_sp_besseli(0, {0})"), (E["i1"], "tg_sp_besseli(1, {0})")):
    register_lowering(_prim, _lower(_call))


def helpers_source(dtypes_used: set[str]) -> str:
    """The double helpers, when a float dtype is in use (static: unused ones cost only parsing)."""
    return _CORE if dtypes_used & {"float32", "float64"} else ""
