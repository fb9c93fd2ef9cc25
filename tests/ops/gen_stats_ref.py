#!/usr/bin/python3
"""Reference constants for tests/ops/test_stats.c (NumPy 1.24, PyTorch 1.13).

Run:  /usr/bin/python3 tests/ops/gen_stats_ref.py > /tmp/stats_ref.h
and paste the output into the "Constants" section of test_stats.c. The
inputs below are the same literals the C file builds its arrays from.
"""
import warnings

import numpy as np
import torch

warnings.simplefilter("ignore")
nan, inf = float("nan"), float("inf")


def c(v):
    v = float(v)
    if np.isnan(v):
        return "NAN"
    if np.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return repr(v)


def flat(a):
    if isinstance(a, (list, tuple)):
        return np.concatenate([flat(x) for x in a]) if a else np.zeros(0)
    return np.asarray(a, dtype=np.float64).ravel()


def arr(name, a):
    a = flat(a)
    body = ", ".join(c(v) for v in a)
    print(f"static const double {name}[{max(a.size, 1)}] = {{{body}}};")


METHODS = ["linear", "lower", "higher", "nearest", "midpoint"]

# ---- quantile: ties, the t >= 0.5 lerp branch, exact halves (NEAREST) ----
QX = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3], [5, 8, 9, 7, 9], [-0.5, 2.25, 0.001, -7, 3.5]])
QQ = [0, 0.1, 0.375, 0.5, 0.625, 0.9, 1]
for axname, ax in (("AX1", 1), ("AX0", 0), ("ALL", None)):
    out = [[np.quantile(QX, q, axis=ax, method=m) for q in QQ] for m in METHODS]
    arr(f"QX_{axname}", out)
# axes (0, 1) of QX reshaped (2, 2, 5): over the first two axes
QX3 = QX.reshape(2, 2, 5)
arr("QX3_AX01", [[np.quantile(QX3, q, axis=(0, 1), method=m) for q in QQ] for m in METHODS])

# ---- NaN rows ----
QN = np.array([[1, nan, 3, 2], [nan, nan, nan, nan], [4, 0.5, nan, 2], [7, 6, 5, 4]])
QNQ = [0.25, 0.5, 0.8]
arr("QN_Q_AX1", [[np.quantile(QN, q, axis=1, method=m) for q in QNQ] for m in METHODS])
arr("QN_NQ_AX1", [[np.nanquantile(QN, q, axis=1, method=m) for q in QNQ] for m in METHODS])
arr("QN_NQ_AX0", [[np.nanquantile(QN, q, axis=0, method=m) for q in QNQ] for m in METHODS])
arr("QN_NQ_ALL", [[np.nanquantile(QN, q, method=m) for q in QNQ] for m in METHODS])

# ---- median / nanmedian ----
arr("MED_QX", [np.median(QX, axis=1), np.median(QX, axis=0)] + [[np.median(QX)]])
arr("NANMED_QN", [np.nanmedian(QN, axis=1), np.nanmedian(QN, axis=0)] + [[np.nanmedian(QN)]])

# ---- nansum / nanmean ----
arr("NANSUM_QN", [np.nansum(QN, axis=1), np.nansum(QN, axis=0), [np.nansum(QN)]])
arr("NANMEAN_QN", [np.nanmean(QN, axis=1), np.nanmean(QN, axis=0), [np.nanmean(QN)]])

# ---- topk (torch.topk: NaN is the largest) ----
TX = torch.tensor([[0.5, -1, 3, nan, 2, 0], [4, 8, -2, 1, 7, 6.5], [nan, 1.5, 5, -3, 9, 2]], dtype=torch.float64)
for name, k, dim, largest in (("T1L", 3, 1, True), ("T1S", 3, 1, False), ("T0L", 2, 0, True), ("T0S", 2, 0, False),
                              ("T1LN", 6, 1, True), ("T1SN", 6, 1, False)):
    v, i = torch.topk(TX, k, dim=dim, largest=largest, sorted=True)
    arr(f"TOPK_{name}_V", v.numpy())
    arr(f"TOPK_{name}_I", i.numpy())

# ---- isclose ----
IA = [1.0, 0.75, 1.0, inf, inf, -inf, inf, 1.0, 1e30, nan, nan, 1.0, 0.0, 1e-9, 100.0]
IB = [1.0, 1.0, 0.75, inf, -inf, -inf, 1e30, inf, inf, nan, 1.0, nan, 1e-9, 0.0, 100.0001]
for name, rtol, atol, en in (("D", 1e-5, 1e-8, False), ("DN", 1e-5, 1e-8, True), ("R", 0.25, 0.0, False),
                             ("BIG", 1.0, 1e-8, True)):
    arr(f"ISC_{name}", np.isclose(IA, IB, rtol=rtol, atol=atol, equal_nan=en))
IBA = np.array([[0.0], [1.0], [2.5]])
IBB = np.array([0.0, 1.05, 2.5, -1.0])
arr("ISC_BCAST", np.isclose(IBA, IBB, rtol=0.0, atol=0.1))
arr("ISC_INT", np.isclose(np.array([1, 2, 100], np.int32), np.array([1, 3, 101], np.int64), rtol=0.01, atol=0))
arr("ISC_U8", np.isclose(np.array([0, 10, 200], np.uint8), np.array([255, 9, 201], np.uint8), rtol=0, atol=1.5))

# ---- cov / corrcoef ----
rng = np.random.default_rng(7)
CX = np.round(rng.normal(size=(3, 7)) * 2, 2)
arr("CX", CX)
for d in (0, 1, 2):
    arr(f"COV_D{d}", np.cov(CX, ddof=d))
arr("COV_1D", [np.cov(CX[0], ddof=1)])
arr("CORR", np.corrcoef(CX))
CC = np.array([[1, 2, 3, 4], [5, 5, 5, 5], [2, 4, 6, 8.5], [-3, -6, -9, -12]])
arr("CORR_CC", np.corrcoef(CC))
arr("COV_CC", np.cov(CC))

# ---- bincount ----
BX = np.array([0, 1, 1, 3, 2, 1, 7])
BW = np.array([0.5, 1, 2, -1, 0.25, 3, 1.5])
for ml in (0, 5, 10):
    arr(f"BIN_M{ml}", np.bincount(BX, minlength=ml))
    arr(f"BINW_M{ml}", np.bincount(BX, weights=BW, minlength=ml))

# ---- histogram ----
HX = np.array([0, 0.25, 0.5, 0.75, 1.0, -0.1, 1.1, nan, 0.3, 0.6, 0.999, 0.1, 0.7, 0.2, 0.5, 0.4, 0.9, 0.8])
HW = np.linspace(0.5, 2.2, HX.size)
arr("HW", HW)
for name, bins, lo, hi in (("B4", 4, 0, 1), ("B10", 10, 0, 1), ("B3", 3, -1, 2), ("B1", 1, 0, 1), ("B7", 7, 0.1, 0.8)):
    arr(f"HIST_{name}", np.histogram(HX, bins=bins, range=(lo, hi))[0])
    arr(f"HISTW_{name}", np.histogram(HX, bins=bins, range=(lo, hi), weights=HW)[0])
HXI = np.array([0, 1, 2, 3, 4, 5, 5, 6, -1, 7], dtype=np.int32)
arr("HIST_INT", np.histogram(HXI, bins=3, range=(0, 6))[0])

# ---- histogram: values on NumPy's own (linspace) edges and on the decimal
# edges lo + k (hi - lo) / bins, where the truncated index is one off and
# NumPy's correction moves it (up or down) ----
HE = ((7, 0.0, 1.0), (18, 0.0, 1.0), (20, 0.0, 1.0), (13, 0.1, 0.8), (9, -1.0, 2.0))
for bins, lo, hi in HE:
    xs = np.concatenate([np.linspace(lo, hi, bins + 1), [lo + k * (hi - lo) / bins for k in range(bins + 1)]])
    name = f"{bins}_{str(lo).replace('.', 'p').replace('-', 'm')}_{str(hi).replace('.', 'p').replace('-', 'm')}"
    arr(f"HE_X_{name}", xs)
    arr(f"HE_{name}", np.histogram(xs, bins=bins, range=(lo, hi))[0])
