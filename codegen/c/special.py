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
- erfcx: exp(x^2) erfc(x) with x^2 split exactly by fma below 12, Laplace's continued
  fraction above (A&S 7.1.14), 2 exp(x^2) - erfcx(-x) for negative x.
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
static double tg_sp_gammaln(double x) {
    int tg_lgamma_sign;
    return x == -INFINITY ? x : lgamma_r(x, &tg_lgamma_sign); }  /* SciPy: -inf at -inf (libm: +inf) */
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
        if (fabs(x - -0.5040830082644554) < 0.1) {
            /* the root near -0.504 (the reflection cancels there too): Taylor series */
            static const double c[25] = {8.939798558792134, -0.8093454625306507, 32.258572064915505, -2.761011648790828, 128.27342343090902, -14.70672173553036, 513.2704629562862, -75.37700066344631, 2055.5357119463315, -368.5783503832191, 8234.667099203069, -1743.364608867363, 32997.785655255044, -8051.818155363498, 132262.95480834588, -36529.94596948565, 530280.3912420176, -163451.79342700253, 2126602.3725968753, -723318.8861804305, 8530604.878543982, -3172131.3155744765, 34228316.69580112, -13807481.997263888, 137373435.87411496};
            double d = (x - -0.5040830082644554) - -8.15428206243813e-18, p = 0;
            int k;
            for (k = 24; k >= 0; k--) p = (p + c[k]) * d;
            return p;
        }
        {
            /* r = x - nearest integer is exact (Sterbenz), where x - floor(x) = 1 + x rounds
               for tiny |x| (to 1: tan(pi) ~ -1.2e-16 gave 2.57e16 at x = -5e-309, not -1/x);
               pi cot(pi r) = 1/r - pi^2 r / 3 - ... below 1e-5 (pi r loses digits once r is
               subnormal; 1/r overflows exactly where -1/x does) */
            double r = x - nearbyint(x);
            double cot = fabs(r) < 1e-5 ? 1 / r - 3.289868133696453 * r
                                        : 3.141592653589793 / tan(3.141592653589793 * r);
            return tg_sp_digamma(1 - x) - cot;
        }
    }
    if (fabs(x - 1.4616321449683622) < 0.2) {
        /* near the positive root x0 the recurrence's terms cancel to an absolute 1e-15:
           Taylor series at x0 instead (coefficients psi^(k)(x0)/k!, computed with mpmath) */
        static const double c[25] = {0.9676722454476212, -0.4427631689835921, 0.258499760955651, -0.16394270544240652, 0.10782405069126237, -0.07219956125645471, 0.04880428816414311, -0.03316112647484736, 0.022597648232218104, -0.01542476590494896, 0.010538791616612175, -0.007204534386356869, 0.004926781395729853, -0.003369801655439328, 0.002305126326734928, -0.0015769367714301972, 0.0010788252019162967, -0.0007380709389960052, 0.000504953265834602, -0.0003454680251063077, 0.00023635601564027053, -0.00016170622091974803, 0.0001106337276874741, -7.569179582195066e-05, 5.178575795222081e-05};
        double d = (x - 1.4616321449683622) - 9.549995429965697e-17, p = 0;
        int k;
        for (k = 24; k >= 0; k--) p = (p + c[k]) * d;
        return p;
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
    if (q == INFINITY) return 0;  /* the tail q q^-s / (s - 1) would be inf * 0 */
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
    for (i = 0; i < 40; i++) {  /* 1-2 steps; up to ~8 where Giles' start is poor (1 - |y| ~ 1e-16) */
        double f = ay <= 0.5 ? erf(x) - ay : (1 - ay) - erfc(x);
        double d = 1.1283791670955126 * exp(-x * x), r;
        if (d == 0) break;
        r = f / d;
        x -= r / (1 + x * r);  /* Halley: f'' = -2x f' */
        /* cubic convergence: a step of relative size <= 1e-6 leaves an error ~1e-18, and
           rounding keeps later steps at ~1e-16, so waiting for smaller ones would spin */
        if (fabs(r) <= 1e-6 * x) break;
    }
    return y < 0 ? -x : x; }
static double tg_sp_erfcx(double x) {
    double xx, err, r;
    int k;
    if (x != x) return x;
    if (x < 0) {  /* 2 exp(x^2) - erfcx(-x); inf once exp(x^2) overflows, as SciPy */
        if (x < -26.7) return INFINITY;
        xx = x * x; err = fma(x, x, -xx);
        return 2 * exp(xx) * (1 + err) - tg_sp_erfcx(-x);
    }
    if (x < 12) {  /* exp(x^2) erfc(x), x^2 split exactly (fma) so exp's argument is exact */
        xx = x * x; err = fma(x, x, -xx);
        return exp(xx) * (1 + err) * erfc(x);
    }
    if (x == INFINITY) return 0;
    /* Laplace's continued fraction 1/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
       bottom-up: 8 levels are exact to rounding from x = 12 on (mpmath); 10 for margin */
    r = x;
    for (k = 10; k >= 1; k--) r = x + 0.5 * k / r;
    return 0.5641895835477563 / r; }
static double tg_sp_besseli(int nu, double x) {
    double ax = fabs(x), sum, t;
    int k;
    if (ax != ax) return x;
    if (ax == INFINITY) return NAN;  /* as SciPy (inf * i0e(inf) = inf * 0) */
    /* SciPy computes exp(x) i0e(x): infinite once exp(x) overflows, kept so backends agree */
    if (ax > 709.782712893384) return (nu == 1 && x < 0) ? -INFINITY : INFINITY;
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
                     (E["i0"], "tg_sp_besseli(0, {0})"), (E["i1"], "tg_sp_besseli(1, {0})"),
                     (E["erfcx"], "tg_sp_erfcx({0})")):
    register_lowering(_prim, _lower(_call))
from . import special_incomplete  # noqa: E402,F401  (registers gammainc, gammaincc, betainc)


def helpers_source(dtypes_used: set[str]) -> str:
    """The double helpers, when a float dtype is in use (static: unused ones cost only parsing)."""
    from .special_incomplete import SOURCE  # incomplete gamma/beta (their own file)
    if not dtypes_used & {"float32", "float64"}:
        return ""
    # marked as library code: scalar functions that index no array (tests/test_faults.py checks
    # the program's own code for 32-bit array indices and skips these blocks)
    return "/* tg-library begin */" + _CORE + SOURCE + "/* tg-library end */\n"
