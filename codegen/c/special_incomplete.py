"""C lowerings of the regularised incomplete gamma and beta functions (gammainc, gammaincc,
betainc; tracegrad/prims/special_incomplete.py), in double, called at float32 through a cast.

Written here from the textbook methods (no code copied):
- The prefactor x^a e^-x / Gamma(a): for a >= 10 as exp(a (log1p(t) - t)) sqrt(a / 2 pi) /
  Gamma*(a), t = x/a - 1 (log1p(t) - t by its series for |t| < 1/2, a log(x/a) + a - x else), Gamma*(a) the Stirling correction factor from its asymptotic series
  (the direct exp(a log x - x - lgamma(a)) cancels ~a log a to a small number, losing digits
  in proportion; DiDonato & Morris, ACM TOMS 12 (1986), use the same split). Below 10, direct.
- P by its power series x^a e^-x / Gamma(a+1) sum x^n / ((a+1)...(a+n)) (positive terms);
  Q by the Legendre continued fraction (modified Lentz, Numerical Recipes 6.2) for x > 1.1,
  and for small x and small a by Q = -expm1(a log x - lgamma(1+a)) - x^a/Gamma(a) sum
  (-x)^n / (n! (a+n)) (n >= 1), where 1 - P would cancel. Region choice as in Cephes/SciPy:
  each function is computed directly where it is the smaller one, else as 1 - the other.
- I_x(a, b): the continued fraction of Numerical Recipes 6.4 (even/odd terms, modified Lentz)
  on the side of x < (a+1)/(a+b+2), with I_x(a, b) = 1 - I_(1-x)(b, a) on the other; prefactor
  x^a (1-x)^b / (a B(a, b)) from lgamma and log1p below 10, through Stirling's Gamma* above
  (tg_ib_lfac: the lgamma difference cancels). a, b >= 1e7: Temme's uniform expansion; one
  parameter >= 1e8 times the other: the gamma limit P(a, (b + (a-1)/2)(-log(1-x))).
- P, Q for a >= 1e7: Temme's uniform expansion (erfc term + first correction).
Edge values follow SciPy (NaN outside the domain, P(0, x > 0) = 1, I_x(0, b) = 1 for x > 0).
Accuracy against SciPy over wide ranges: tests/test_special_incomplete.py.
"""
from __future__ import annotations

from tracegrad.prims.special_incomplete import betainc_p, gammainc_p, gammaincc_p

from .lowerings import register_lowering

SOURCE = r"""
/* incomplete gamma and beta in double precision (codegen/c/special_incomplete.py) */
double lgamma_r(double, int *);
static double tg_ig_lgam(double x) { int tg_lgamma_sign; return lgamma_r(x, &tg_lgamma_sign); }
static double tg_ig_log1pmx(double t) {  /* log(1 + t) - t for |t| < 1/2, by its series */
    double term = t, sum = 0;
    int k;
    for (k = 2; k < 500; k++) {
        term *= -t;
        sum += term / k;
        if (fabs(term / k) <= 1e-17 * fabs(sum)) break;
    }
    return sum; }
static double tg_ig_lstar(double a) {
    /* log Gamma*(a) = lgamma(a) - (a - 1/2) log a + a - log sqrt(2 pi): Stirling's series (a >= 10) */
    double z = 1 / (a * a);
    return (1.0 / 12 - z * (1.0 / 360 - z * (1.0 / 1260 - z * (1.0 / 1680
            - z * (1.0 / 1188))))) / a; }
static double tg_ig_fac(double a, double x) {  /* x^a e^-x / Gamma(a) */
    if (a < 10) return exp(a * log(x) - x - tg_ig_lgam(a));
    {
        double lstar = tg_ig_lstar(a);
        double t = x / a - 1;
        /* a (log(x/a) - (x/a - 1)); near x = a through log1p(t) - t (no cancellation), far
           from it log(x/a) itself, since 1 + t rounded would lose digits of a small x/a */
        double e = fabs(t) < 0.5 ? a * tg_ig_log1pmx(t) : a * log(x / a) + (a - x);
        return exp(e - lstar) * sqrt(a / 6.283185307179586);
    } }
static double tg_ig_pseries(double a, double x) {  /* P by its series */
    double sum = 1, term = 1, f;
    int n;
    for (n = 1; n < 2000000; n++) {
        term *= x / (a + n);
        sum += term;
        if (term <= 1e-17 * sum) break;
    }
    f = tg_ig_fac(a, x);
    return f == 0 ? 0 : f * sum / a; }
static double tg_ig_qcf(double a, double x) {  /* Q by its continued fraction (x > 1) */
    double b = x + 1 - a, c = 1 / 1e-300, d = 1 / b, h = d, an, del;
    int i;
    for (i = 1; i < 2000000; i++) {
        an = -i * (i - a);
        b += 2;
        d = an * d + b; if (fabs(d) < 1e-300) d = 1e-300;
        c = b + an / c; if (fabs(c) < 1e-300) c = 1e-300;
        d = 1 / d;
        del = d * c;
        h *= del;
        if (fabs(del - 1) <= 1e-16) break;
    }
    return tg_ig_fac(a, x) * h; }
static double tg_ig_qseries(double a, double x) {  /* Q for small x, small a */
    double fac = 1, sum = 0, term, lx = log(x);
    int n;
    for (n = 1; n < 2000; n++) {
        fac *= -x / n;
        term = fac / (a + n);
        sum += term;
        if (fabs(term) <= 1e-17 * fabs(sum)) break;
    }
    return -expm1(a * lx - tg_ig_lgam(1 + a)) - exp(a * lx - tg_ig_lgam(a)) * sum; }
/* Temme's uniform expansion for huge a (the series and the fraction take ~sqrt(a) steps):
   Q = erfc(eta sqrt(a/2)) / 2 + R, P = erfc(-eta sqrt(a/2)) / 2 - R, eta^2 / 2 = lam - 1 -
   log lam (lam = x/a, sign of lam - 1), R = e^(-a eta^2/2) / sqrt(2 pi a) C0(eta) with
   C0 = 1/(lam - 1) - 1/eta (its series -1/3 + eta/12 - ... near eta = 0, where the two cancel);
   the next term, C1 / a ~ 2e-3 / a relative to R, is below 3e-14 absolute from a = 1e7 on
   (measured against the series/fraction, which drift above: 1e-13 at a = 1e8, 1e-12 at 1e10,
   6e-3 at 1e12 where they hit their step cap; SciPy's own series is off in the tails there:
   P(1e8, 1e8 - 8e4) = 6.1157e-16 (mpmath and this), SciPy 4.94e-16) */
static double tg_ig_temme(int which, double a, double x) {
    /* t = (x - a) / a: x - a is exact near a, where x/a - 1 would lose digits of eta */
    double lam = x / a, t = (x - a) / a, h, eta, c0, r, s;
    h = fabs(t) < 0.5 ? -tg_ig_log1pmx(t) : t - log(lam);
    eta = (t < 0 ? -1 : 1) * sqrt(2 * h);
    c0 = fabs(t) < 1e-3 ? -1.0 / 3 + eta * (1.0 / 12 + eta * (-2.0 / 135 + eta / 864))
                        : 1 / t - 1 / eta;
    s = sqrt(0.5 * a);  /* a eta^2 / 2 as (eta s)^2: no overflow at a = max */
    r = exp(-(eta * s) * (eta * s)) / (sqrt(a) * 2.5066282746310002) * c0;
    return which ? 0.5 * erfc(eta * s) + r : 0.5 * erfc(-eta * s) - r; }
/* which = 0: P, 1: Q */
static double tg_ig_gamma(int which, double a, double x) {
    int direct_q;
    if (a != a || x != x || a < 0 || x < 0) return NAN;
    if (a == 0) { if (x > 0) return which ? 0 : 1; return NAN; }
    if (x == 0) return which ? 1 : 0;
    if (x == INFINITY) return a == INFINITY ? NAN : (which ? 0 : 1);
    if (a == INFINITY) return which ? 1 : 0;
    if (a >= 1e7) return tg_ig_temme(which, a, x);
    if (x > 1.1) direct_q = !(x < a);
    else if (x <= 0.5) direct_q = !(-0.4 / log(x) < a);
    else direct_q = !(x * 1.1 < a);
    if (direct_q) {
        double q = x > 1.1 ? tg_ig_qcf(a, x) : tg_ig_qseries(a, x);
        return which ? q : 1 - q;
    } else {
        double p = tg_ig_pseries(a, x);
        return which ? 1 - p : p;
    } }
static double tg_ib_cf(double a, double b, double x) {  /* NR's betacf */
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap, h, aa, del;
    int m;
    if (fabs(d) < 1e-300) d = 1e-300;
    d = 1 / d; h = d;
    for (m = 1; m < 2000000; m++) {
        int m2 = 2 * m;
        aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d; if (fabs(d) < 1e-300) d = 1e-300;
        c = 1 + aa / c; if (fabs(c) < 1e-300) c = 1e-300;
        d = 1 / d; h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d; if (fabs(d) < 1e-300) d = 1e-300;
        c = 1 + aa / c; if (fabs(c) < 1e-300) c = 1e-300;
        d = 1 / d; del = d * c; h *= del;
        if (fabs(del - 1) <= 1e-16) break;
    }
    return h; }
/* I_x(a, b) for a, b >= 1e7 (the continued fraction needs ~sqrt(max(a, b)) steps and the
   prefactor's lgamma(a + b) - lgamma(a) - lgamma(b) loses ~1e-16 r log r): Temme's uniform
   expansion, as for the gamma function above, r = a + b, p = a/r, q = b/r,
   I = erfc(-eta sqrt(r/2)) / 2 - e^(-r eta^2/2) / sqrt(2 pi r) c0(eta), with
   eta^2/2 = -(p L(u) + q L(v)), L(t) = log(1 + t) - t, u = (x - p)/p, v = (p - x)/q (the
   linear terms p u + q v cancel exactly, so they are left out), and
   c0 = sqrt(pq)/(x - p) - 1/eta (its expansion sqrt(pq) (al/2 + (be/2 - 3al^2/8) d) near
   d = x - p = 0, al = -2(q - p)/(3pq), be = (1 - 3pq)/(2 p^2 q^2)). Returns I or 1 - I. */
static double tg_ib_temme(int upper, double a, double b, double x) {
    double r = a + b, p = a / r, q = b / r, d = x - p, u = d / p, v = -d / q, h, eta, c0, s, e;
    h = -((fabs(u) < 0.5 ? p * tg_ig_log1pmx(u) : p * log1p(u) - d)
          + (fabs(v) < 0.5 ? q * tg_ig_log1pmx(v) : q * log1p(v) + d));
    eta = (d < 0 ? -1 : 1) * sqrt(2 * (h > 0 ? h : 0));
    if (fabs(d) < 1e-5 * (p < q ? p : q)) {
        double pq = p * q, al = -2 * (q - p) / (3 * pq), be = (1 - 3 * pq) / (2 * pq * pq);
        c0 = sqrt(pq) * (al / 2 + (be / 2 - 3 * al * al / 8) * d);
    } else c0 = sqrt(p * q) / d - 1 / eta;
    s = sqrt(0.5 * r);
    e = exp(-(eta * s) * (eta * s)) / (sqrt(r) * 2.5066282746310002) * c0;
    return upper ? 0.5 * erfc(eta * s) + e : 0.5 * erfc(-eta * s) - e; }
/* log(x^a (1-x)^b / B(a, b)). lgamma(a + b) - lgamma(a) - lgamma(b) loses ~1e-16 (a + b)
   log(a + b) to cancellation (2e-7 relative in I at b = 1e8, garbage at 1e15), so once a
   parameter is >= 10 its lgamma goes through Stirling with Gamma* (tg_ig_lstar):
   both >= 10: 1/B = sqrt(ab / (2 pi r)) r^r / (a^a b^b) Gamma*(r) / (Gamma*(a) Gamma*(b)),
   r = a + b, with x^a (1-x)^b r^r / (a^a b^b) = exp(a L(u) + b L(v)), L(t) = log(1+t) - t,
   u = (x - p)/p, v = (p - x)/q, p = a/r, q = 1 - p (p u + q v = 0: the linear terms cancel
   exactly; the smaller of p, q is formed directly, the other as 1 - it);
   one < 10 (s) and the other >= 10 (l): lgamma(l + s) - lgamma(l) = (l - 1/2) log1p(s/l)
   + s log(l + s) - s + log Gamma*(l + s) - log Gamma*(l) (DiDonato & Morris' algdiv). */
static double tg_ib_lfac(double a, double b, double x) {
    double lx = a * log(x) + b * log1p(-x);
    if (a < 10 && b < 10) return tg_ig_lgam(a + b) - tg_ig_lgam(a) - tg_ig_lgam(b) + lx;
    if (a >= 10 && b >= 10) {
        double r = a + b, p = a / r, q = b / r, d, u, v, e;
        if (p < q) q = 1 - p; else p = 1 - q;
        d = x - p; u = d / p; v = -d / q;
        e = (fabs(u) < 0.5 ? a * tg_ig_log1pmx(u) : a * log1p(u) - r * d)
            + (fabs(v) < 0.5 ? b * tg_ig_log1pmx(v) : b * log1p(v) + r * d);
        return e + 0.5 * log(p * b / 6.283185307179586) + tg_ig_lstar(r) - tg_ig_lstar(a)
               - tg_ig_lstar(b);
    }
    {
        double l = a > b ? a : b, sm = a > b ? b : a;
        return (l - 0.5) * log1p(sm / l) + sm * log(l + sm) - sm + tg_ig_lstar(l + sm)
               - tg_ig_lstar(l) - tg_ig_lgam(sm) + lx;
    } }
static double tg_sp_betainc(double a, double b, double x) {
    double lbt;
    if (a != a || b != b || x != x || a < 0 || b < 0 || x < 0 || x > 1) return NAN;
    if (a == INFINITY && b == INFINITY) return NAN;  /* as SciPy, at every x */
    if (a == 0 || b == 0) {
        if (a == 0 && b == 0) return NAN;
        if (a == 0) return x > 0 ? 1 : 0;  /* all mass at 0 */
        return x < 1 ? 0 : 1;             /* all mass at 1 */
    }
    if (x == 0) return 0;
    if (x == 1) return 1;
    if (a == INFINITY) return 0;  /* all mass at 1 */
    if (b == INFINITY) return 1;  /* all mass at 0 */
    if (a >= 1e7 && b >= 1e7) return tg_ib_temme(0, a, b, x);
    /* one parameter 1e15 times the other (and >= 1e15): the gamma limit
       I_x(a, b) -> P(a, N y), N = b + (a - 1)/2, y = -log(1 - x) (relative error ~ (a/b)^2),
       mirrored through I_x(a, b) = Q(b, N' (-log x)) when a is the large one */
    if (b >= 1e8 * (a > 1 ? a : 1)) return tg_ig_gamma(0, a, (b + (a - 1) / 2) * -log1p(-x));
    if (a >= 1e8 * (b > 1 ? b : 1)) return tg_ig_gamma(1, b, (a + (b - 1) / 2) * -log(x));
    lbt = tg_ib_lfac(a, b, x);
    if (x < (a + 1) / (a + b + 2)) return exp(lbt) * tg_ib_cf(a, b, x) / a;
    return 1 - exp(lbt) * tg_ib_cf(b, a, 1 - x) / b; }
"""


def _lower(call: str):
    def lower(a, dt, el):
        if dt == "float32":
            return "((float)" + call.format(*(f"(double)({x})" for x in a)) + ")"
        return call.format(*a)
    return lower


register_lowering(gammainc_p, _lower("tg_ig_gamma(0, {0}, {1})"))
register_lowering(gammaincc_p, _lower("tg_ig_gamma(1, {0}, {1})"))
register_lowering(betainc_p, _lower("tg_sp_betainc({0}, {1}, {2})"))
