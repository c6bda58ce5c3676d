#!/usr/bin/env python3
"""Regenerate ab-decisions-golden.json: golden vectors for the decision layer of `promptops ab`
(issue 15), each from an implementation independent of promptops' formulas.

Needs: scipy, statsmodels, numpy, gbstats  (python3 -m venv v && v/bin/pip install scipy statsmodels gbstats)
Run:   v/bin/python ab-decisions-golden.py > ab-decisions-golden.json

- tango_interval: Tango's score interval with the constrained maximum-likelihood estimate found
  as the root of the score equation (scipy brentq), not from the closed-form quadratic; checked
  against the published Bentur example, [-0.517, -0.026] (Fagerland, Lydersen & Laake 2014).
- mcnemar_power: exact power of the asymptotic McNemar test as a double sum over the trinomial
  (b, c) table (promptops sums over m, then b given m); sizes found by the same search rule.
- bca_fixed_replicates: SciPy's own BCa code (scipy.stats._resampling._bca_interval) on fixed
  replicates and data, so the jackknife and the percentile step are SciPy's.
- confidence_sequence_gbstats: GrowthBook's gbstats SequentialTwoSidedTTest half-widths.
- mcnemar_statsmodels: statsmodels' mcnemar (exact, and chi-square without correction).
"""
import json, math
import numpy as np
import scipy
from scipy import stats
from scipy.optimize import brentq
from scipy.special import ndtri
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

V = {"generator": "scipy %s / statsmodels / gbstats" % scipy.__version__, "vectors": []}
def add(name, inputs, expected, tol=1e-9, note=""):
    V["vectors"].append({"name": name, "inputs": inputs, "expected": expected, "abs_tol": tol, "note": note})

# --- Tango -------------------------------------------------------------------------------
def constrained_p21(n12, n21, n, d):
    """MLE of p21 given p12 = p21 + d, as the root of the score equation (or a boundary)."""
    nc = n - n12 - n21
    lo, hi = max(0.0, -d), (1.0 - d) / 2.0
    if hi - lo <= 0:
        return lo
    def loglik(p):
        p12 = p + d; pc = 1 - 2 * p - d
        terms = [(n12, p12), (n21, p), (nc, pc)]
        return sum(k * math.log(q) if k > 0 else 0.0 for k, q in terms if k > 0 and q > 0) - \
               (float('inf') if any(k > 0 and q <= 0 for k, q in terms) else 0.0)
    def score(p):
        return (n12 / (p + d) if n12 else 0.0) + (n21 / p if n21 else 0.0) - (2 * nc / (1 - 2 * p - d) if nc else 0.0)
    eps = 1e-15
    a, b = lo + eps, hi - eps
    fa, fb = score(a), score(b)
    if fa > 0 and fb < 0:
        return brentq(score, a, b, xtol=1e-16, rtol=4 * np.finfo(float).eps, maxiter=500)
    return lo if loglik(lo + eps) >= loglik(hi - eps) else hi

def tango_T(n12, n21, n, d):
    excess = n12 - n21 - n * d
    if excess == 0:
        return 0.0
    v = n * (2 * constrained_p21(n12, n21, n, d) + d * (1 - d))
    return excess / math.sqrt(v) if v > 0 else math.copysign(math.inf, excess)

def tango(n12, n21, n, alpha):
    z = float(stats.norm.ppf(1 - alpha / 2)); est = (n12 - n21) / n
    f_lo = lambda d: tango_T(n12, n21, n, d) - z
    f_hi = lambda d: tango_T(n12, n21, n, d) + z
    lower = -1.0 if f_lo(-1 + 1e-14) <= 0 else brentq(f_lo, -1 + 1e-14, est, xtol=1e-15)
    upper = 1.0 if f_hi(1 - 1e-14) >= 0 else brentq(f_hi, est, 1 - 1e-14, xtol=1e-15)
    return lower, upper

lo, hi = tango(1, 7, 21, 0.05)
more = []
for (b, c, n, a) in [(0, 0, 3, 0.1), (5, 0, 9, 0.05), (0, 5, 9, 0.1), (12, 3, 50, 0.05), (0, 7, 21, 0.05),
                     (3, 3, 40, 0.1), (20, 0, 20, 0.05), (40, 25, 300, 0.05), (1, 0, 200, 0.1)]:
    l, h = tango(b, c, n, a)
    more.append([b, c, n, a, l, h])
add("tango_interval", {"n11": 1, "n12": 1, "n21": 7, "n22": 12, "n": 21, "alpha": 0.05},
    {"lower": lo, "upper": hi, "published": [-0.517, -0.026], "more": more},
    tol=1e-7, note="Bentur et al. (2009) airway data, Fagerland, Lydersen & Laake (2014); more = [b, c, n, alpha, lower, upper]")

# --- exact power of the asymptotic McNemar test -------------------------------------------
def power_trinomial(n, delta, psi, alpha, test="asymptotic"):
    z = float(stats.norm.ppf(1 - alpha / 2))
    p12, p21 = (psi + delta) / 2, (psi - delta) / 2; pc = 1 - psi
    b = np.arange(n + 1)[:, None]; c = np.arange(n + 1)[None, :]
    valid = (b + c) <= n
    bb, cc = np.broadcast_arrays(b, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        logpmf = (stats.multinomial.logpmf(np.stack([bb, cc, n - bb - cc], -1), n, [p12, p21, pc])
                  if pc > 0 else np.where(bb + cc == n, stats.binom.logpmf(bb, n, p12 / psi), -np.inf))
        m = bb + cc
        if test == "asymptotic":
            reject = (m > 0) & ((bb - cc) ** 2 > z * z * m)
        else:  # exact conditional
            pval = np.minimum(1, 2 * stats.binom.cdf(np.minimum(bb, cc), m, 0.5))
            reject = (m > 0) & (pval < alpha)
    return float(np.sum(np.exp(logpmf[valid & reject])))

Z975 = float(stats.norm.ppf(0.975)); Z80 = float(stats.norm.ppf(0.8))
def connor(delta, psi):
    return math.ceil((Z975 * math.sqrt(psi) + Z80 * math.sqrt(psi - delta ** 2)) ** 2 / delta ** 2 - 1e-9)
def size(delta, psi, test="asymptotic"):
    n = max(connor(delta, psi), 2)
    ok = lambda k: power_trinomial(k, delta, psi, 0.05, test) >= 0.8
    if ok(n):
        while n > 2 and ok(n - 1):
            n -= 1
    else:
        while not ok(n):
            n += 1
    return n

rows = [[n, d, p, power_trinomial(n, d, p, 0.05)] for (n, d, p) in
        [(173, 0.15, 0.5), (175, 0.15, 0.5), (359, 0.1, 0.46), (234, 0.1, 0.3), (50, 0.2, 0.3), (9, 0.5, 0.6)]]
sizes = [[d, p, size(d, p)] for (d, p) in [(0.15, 0.5), (0.1, 0.46), (0.1, 0.3)]]
reference = {"exact_conditional_power_173_0.15_0.5": power_trinomial(173, 0.15, 0.5, 0.05, "exact"),
             "exact_conditional_size_0.15_0.5": size(0.15, 0.5, "exact"),
             "exact_conditional_power_359_0.1_0.46": power_trinomial(359, 0.1, 0.46, 0.05, "exact"),
             "exact_conditional_size_0.1_0.46": size(0.1, 0.46, "exact")}
add("mcnemar_power", {"alpha": 0.05, "power": 0.8},
    {"rows": rows, "sizes": sizes, "reference": reference}, tol=1e-9,
    note="rows = [pairs, delta, discordance, power]; sizes = [delta, discordance, smallest n near Connor's with power >= 0.8]")

# --- BCa on fixed replicates (SciPy's code) ----------------------------------------------
from scipy.stats._resampling import _bca_interval
from scipy._lib._array_api import array_namespace
rng = np.random.default_rng(20261207)
d = np.round(rng.lognormal(0.0, 1.0, 25) - 1.2, 6)
idx = rng.integers(0, len(d), size=(400, len(d)))
reps = d[idx].mean(axis=1)
stat = lambda x, axis=-1: np.mean(x, axis=axis)
a1, a2 = _bca_interval((d,), stat, axis=-1, alpha=0.025, theta_hat_b=reps, batch=None, xp=array_namespace(d))[:2]
a1, a2 = float(np.asarray(a1)), float(np.asarray(a2))
add("bca_fixed_replicates", {"differences": d.tolist(), "replicates": reps.tolist(), "alpha": 0.05},
    {"alpha_1": a1, "alpha_2": a2,
     "lower": float(np.percentile(reps, a1 * 100)), "upper": float(np.percentile(reps, a2 * 100)),
     "jackknife": [float(np.mean(np.delete(d, i))) for i in range(len(d))]},
    tol=1e-9, note="statistic = mean of the differences; interval ends are numpy's linear percentiles")

# --- confidence sequence: GrowthBook's engine --------------------------------------------
from gbstats.frequentist.tests import SequentialTwoSidedTTest, SequentialConfig
from gbstats.models.statistics import SampleMeanStatistic
def gb_halfwidth(sd, n, planned, alpha):
    # n observations of sd `sd` as two halves of n/2 with variance sd²/4: variance of the
    # difference = 2·(sd²/4)/(n/2) = sd²/n, N = n, as for the paired mean.
    half = n / 2; var = sd * sd / 4
    s = SampleMeanStatistic(n=half, sum=0.0, sum_squares=var * (half - 1))
    t = SequentialTwoSidedTTest(s, s, SequentialConfig(alpha=alpha, sequential_tuning_parameter=planned, difference_type="absolute"))
    ci = t.confidence_interval
    return (ci[1] - ci[0]) / 2
cs = {f"N{p}_n{n}": gb_halfwidth(0.3, n, p, 0.05) for p in (200.0, 5000.0) for n in (50, 200, 1000)}
add("confidence_sequence_gbstats", {"sd": 0.3, "alpha": 0.05}, cs, tol=1e-9,
    note="gbstats SequentialTwoSidedTTest (Waudby-Smith et al. eq. 9), N = n, variance = sd^2/n")

# --- McNemar: statsmodels ----------------------------------------------------------------
tables = []
for (b, c, n) in [(12, 3, 50), (0, 5, 9), (7, 1, 30), (40, 25, 300), (0, 0, 10)]:
    t = [[n - b - c, b], [c, 0]]
    ex = float(sm_mcnemar(t, exact=True).pvalue)
    ch = float(sm_mcnemar(t, exact=False, correction=False).pvalue) if b + c > 0 else 1.0
    tables.append([b, c, n, ex, ch])
add("mcnemar_statsmodels", {}, {"rows": tables}, tol=1e-12,
    note="rows = [b, c, n, exact p, chi-square p without correction]; statsmodels.stats.contingency_tables.mcnemar")

print(json.dumps(V, indent=1))
