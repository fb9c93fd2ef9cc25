/*
 * test_stats.c — statistics and comparisons (src/common/ops_stats.c):
 * quantile / nanquantile (the five methods), median / nanmedian, nansum /
 * nanmean, topk, isclose / allclose, cov / corrcoef, bincount, histogram.
 *
 * Fixed cases against NumPy 1.24 and PyTorch 1.13 (topk): the constants
 * below are printed by tests/ops/gen_stats_ref.py (run it with
 * /usr/bin/python3; its inputs are the literals used here). Random inputs
 * (odd shapes, transposed / step-2 / reversed views, every dtype, axis sets,
 * keepdims, NaN, ties) against float64 host references that follow NumPy's
 * rules; gradients through npg_gradcheck and explicit values; the error
 * paths (status, a message naming the function, no leak, inputs unchanged).
 * Runs unchanged with NPG_DEVICE=cuda.
 */
#include "test_util.h"
#include "ops_shared.h"

#include <criterion/logging.h>
#include <stdio.h>

static void setup(void) { t_require_device(); }
TestSuite(stats, .init = setup);

/* ------------------------------------------------------------------------
 * Constants (tests/ops/gen_stats_ref.py)
 * ------------------------------------------------------------------------ */

/* Inputs, as in the script. */
static const double QX[20] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, -0.5, 2.25, 0.001, -7, 3.5}; /* (4, 5) */
static const double QQ[7] = {0, 0.1, 0.375, 0.5, 0.625, 0.9, 1};
static const double QN[16] = {1, NAN, 3, 2, NAN, NAN, NAN, NAN, 4, 0.5, NAN, 2, 7, 6, 5, 4}; /* (4, 4) */
static const double QNQ[3] = {0.25, 0.5, 0.8};
static const double TX[18] = {0.5, -1, 3, NAN, 2, 0, 4, 8, -2, 1, 7, 6.5, NAN, 1.5, 5, -3, 9, 2}; /* (3, 6) */
static const double IA[15] = {1.0, 0.75, 1.0, INFINITY, INFINITY, -INFINITY, INFINITY, 1.0, 1e30, NAN, NAN, 1.0, 0.0, 1e-9, 100.0};
static const double IB[15] = {1.0, 1.0, 0.75, INFINITY, -INFINITY, -INFINITY, 1e30, INFINITY, INFINITY, NAN, 1.0, NAN, 1e-9, 0.0, 100.0001};
static const double CC[16] = {1, 2, 3, 4, 5, 5, 5, 5, 2, 4, 6, 8.5, -3, -6, -9, -12}; /* (4, 4) */
static const double BX[7] = {0, 1, 1, 3, 2, 1, 7};
static const double BW[7] = {0.5, 1, 2, -1, 0.25, 3, 1.5};
static const double HX[18] = {0, 0.25, 0.5, 0.75, 1.0, -0.1, 1.1, NAN, 0.3, 0.6, 0.999, 0.1, 0.7, 0.2, 0.5, 0.4, 0.9, 0.8};
static const double HXI[10] = {0, 1, 2, 3, 4, 5, 5, 6, -1, 7};

/* Results. Quantile tables: [method (linear, lower, higher, nearest,
 * midpoint)][q][result element]. */
static const double QX_AX1[140] = {1.0, 2.0, 5.0, -7.0, 1.0, 2.4, 5.8, -4.4, 2.0, 4.0, 7.5, -0.2495, 3.0, 5.0, 8.0, 0.001, 3.5, 5.5, 8.5, 1.1255, 4.6, 7.800000000000001, 9.0, 3.0, 5.0, 9.0, 9.0, 3.5, 1.0, 2.0, 5.0, -7.0, 1.0, 2.0, 5.0, -7.0, 1.0, 3.0, 7.0, -0.5, 3.0, 5.0, 8.0, 0.001, 3.0, 5.0, 8.0, 0.001, 4.0, 6.0, 9.0, 2.25, 5.0, 9.0, 9.0, 3.5, 1.0, 2.0, 5.0, -7.0, 1.0, 3.0, 7.0, -0.5, 3.0, 5.0, 8.0, 0.001, 3.0, 5.0, 8.0, 0.001, 4.0, 6.0, 9.0, 2.25, 5.0, 9.0, 9.0, 3.5, 5.0, 9.0, 9.0, 3.5, 1.0, 2.0, 5.0, -7.0, 1.0, 2.0, 5.0, -7.0, 3.0, 5.0, 8.0, 0.001, 3.0, 5.0, 8.0, 0.001, 3.0, 5.0, 8.0, 0.001, 5.0, 9.0, 9.0, 3.5, 5.0, 9.0, 9.0, 3.5, 1.0, 2.0, 5.0, -7.0, 1.0, 2.5, 6.0, -3.75, 2.0, 4.0, 7.5, -0.2495, 3.0, 5.0, 8.0, 0.001, 3.5, 5.5, 8.5, 1.1255, 4.5, 7.5, 9.0, 2.875, 5.0, 9.0, 9.0, 3.5};
static const double QX_AX0[175] = {-0.5, 1.0, 0.001, -7.0, 3.0, 0.5500000000000003, 1.3, 1.2007, -4.6, 3.15, 3.25, 2.03125, 4.25, 1.5, 3.6875, 4.0, 2.125, 5.0, 3.0, 4.25, 4.75, 2.21875, 5.75, 4.5, 4.8125, 7.800000000000001, 6.275000000000001, 8.100000000000001, 6.4, 7.800000000000001, 9.0, 8.0, 9.0, 7.0, 9.0, -0.5, 1.0, 0.001, -7.0, 3.0, -0.5, 1.0, 0.001, -7.0, 3.0, 3.0, 2.0, 4.0, 1.0, 3.5, 3.0, 2.0, 4.0, 1.0, 3.5, 3.0, 2.0, 4.0, 1.0, 3.5, 5.0, 2.25, 6.0, 5.0, 5.0, 9.0, 8.0, 9.0, 7.0, 9.0, -0.5, 1.0, 0.001, -7.0, 3.0, 3.0, 2.0, 4.0, 1.0, 3.5, 5.0, 2.25, 6.0, 5.0, 5.0, 5.0, 2.25, 6.0, 5.0, 5.0, 5.0, 2.25, 6.0, 5.0, 5.0, 9.0, 8.0, 9.0, 7.0, 9.0, 9.0, 8.0, 9.0, 7.0, 9.0, -0.5, 1.0, 0.001, -7.0, 3.0, -0.5, 1.0, 0.001, -7.0, 3.0, 3.0, 2.0, 4.0, 1.0, 3.5, 5.0, 2.25, 6.0, 5.0, 5.0, 5.0, 2.25, 6.0, 5.0, 5.0, 9.0, 8.0, 9.0, 7.0, 9.0, 9.0, 8.0, 9.0, 7.0, 9.0, -0.5, 1.0, 0.001, -7.0, 3.0, 1.25, 1.5, 2.0004999999999997, -3.0, 3.25, 4.0, 2.125, 5.0, 3.0, 4.25, 4.0, 2.125, 5.0, 3.0, 4.25, 4.0, 2.125, 5.0, 3.0, 4.25, 7.0, 5.125, 7.5, 6.0, 7.0, 9.0, 8.0, 9.0, 7.0, 9.0};
static const double QX_ALL[35] = {-7.0, -0.049099999999999935, 3.0, 3.75, 5.0, 9.0, 9.0, -7.0, -0.5, 3.0, 3.5, 5.0, 9.0, 9.0, -7.0, 0.001, 3.0, 4.0, 5.0, 9.0, 9.0, -7.0, 0.001, 3.0, 4.0, 5.0, 9.0, 9.0, -7.0, -0.2495, 3.0, 3.75, 5.0, 9.0, 9.0};
static const double QX3_AX01[175] = {-0.5, 1.0, 0.001, -7.0, 3.0, 0.5500000000000003, 1.3, 1.2007, -4.6, 3.15, 3.25, 2.03125, 4.25, 1.5, 3.6875, 4.0, 2.125, 5.0, 3.0, 4.25, 4.75, 2.21875, 5.75, 4.5, 4.8125, 7.800000000000001, 6.275000000000001, 8.100000000000001, 6.4, 7.800000000000001, 9.0, 8.0, 9.0, 7.0, 9.0, -0.5, 1.0, 0.001, -7.0, 3.0, -0.5, 1.0, 0.001, -7.0, 3.0, 3.0, 2.0, 4.0, 1.0, 3.5, 3.0, 2.0, 4.0, 1.0, 3.5, 3.0, 2.0, 4.0, 1.0, 3.5, 5.0, 2.25, 6.0, 5.0, 5.0, 9.0, 8.0, 9.0, 7.0, 9.0, -0.5, 1.0, 0.001, -7.0, 3.0, 3.0, 2.0, 4.0, 1.0, 3.5, 5.0, 2.25, 6.0, 5.0, 5.0, 5.0, 2.25, 6.0, 5.0, 5.0, 5.0, 2.25, 6.0, 5.0, 5.0, 9.0, 8.0, 9.0, 7.0, 9.0, 9.0, 8.0, 9.0, 7.0, 9.0, -0.5, 1.0, 0.001, -7.0, 3.0, -0.5, 1.0, 0.001, -7.0, 3.0, 3.0, 2.0, 4.0, 1.0, 3.5, 5.0, 2.25, 6.0, 5.0, 5.0, 5.0, 2.25, 6.0, 5.0, 5.0, 9.0, 8.0, 9.0, 7.0, 9.0, 9.0, 8.0, 9.0, 7.0, 9.0, -0.5, 1.0, 0.001, -7.0, 3.0, 1.25, 1.5, 2.0004999999999997, -3.0, 3.25, 4.0, 2.125, 5.0, 3.0, 4.25, 4.0, 2.125, 5.0, 3.0, 4.25, 4.0, 2.125, 5.0, 3.0, 4.25, 7.0, 5.125, 7.5, 6.0, 7.0, 9.0, 8.0, 9.0, 7.0, 9.0};
static const double QN_Q_AX1[60] = {NAN, NAN, NAN, 4.75, NAN, NAN, NAN, 5.5, NAN, NAN, NAN, 6.4, NAN, NAN, NAN, 4.0, NAN, NAN, NAN, 5.0, NAN, NAN, NAN, 6.0, NAN, NAN, NAN, 5.0, NAN, NAN, NAN, 6.0, NAN, NAN, NAN, 7.0, NAN, NAN, NAN, 5.0, NAN, NAN, NAN, 6.0, NAN, NAN, NAN, 6.0, NAN, NAN, NAN, 4.5, NAN, NAN, NAN, 5.5, NAN, NAN, NAN, 6.5};
static const double QN_NQ_AX1[60] = {1.5, NAN, 1.25, 4.75, 2.0, NAN, 2.0, 5.5, 2.6, NAN, 3.2, 6.4, 1.0, NAN, 0.5, 4.0, 2.0, NAN, 2.0, 5.0, 2.0, NAN, 2.0, 6.0, 2.0, NAN, 2.0, 5.0, 2.0, NAN, 2.0, 6.0, 3.0, NAN, 4.0, 7.0, 1.0, NAN, 0.5, 5.0, 2.0, NAN, 2.0, 6.0, 3.0, NAN, 4.0, 6.0, 1.5, NAN, 1.25, 4.5, 2.0, NAN, 2.0, 5.5, 2.5, NAN, 3.0, 6.5};
static const double QN_NQ_AX0[60] = {2.5, 1.875, 3.5, 2.0, 4.0, 3.25, 4.0, 2.0, 5.800000000000001, 4.9, 4.6, 3.2, 1.0, 0.5, 3.0, 2.0, 4.0, 0.5, 3.0, 2.0, 4.0, 0.5, 3.0, 2.0, 4.0, 6.0, 5.0, 2.0, 4.0, 6.0, 5.0, 2.0, 7.0, 6.0, 5.0, 4.0, 1.0, 0.5, 3.0, 2.0, 4.0, 0.5, 3.0, 2.0, 7.0, 6.0, 5.0, 4.0, 2.5, 3.25, 4.0, 2.0, 4.0, 3.25, 4.0, 2.0, 5.5, 3.25, 4.0, 3.0};
static const double QN_NQ_ALL[15] = {2.0, 3.5, 5.2, 2.0, 3.0, 5.0, 2.0, 4.0, 6.0, 2.0, 3.0, 5.0, 2.0, 3.5, 5.5};
static const double MED_QX[10] = {3.0, 5.0, 8.0, 0.001, 4.0, 2.125, 5.0, 3.0, 4.25, 3.75};
static const double NANMED_QN[9] = {2.0, NAN, 2.0, 5.5, 4.0, 3.25, 4.0, 2.0, 3.5};
static const double NANSUM_QN[9] = {6.0, 0.0, 6.5, 22.0, 12.0, 6.5, 8.0, 8.0, 34.5};
static const double NANMEAN_QN[9] = {2.0, NAN, 2.1666666666666665, 5.5, 4.0, 3.25, 4.0, 2.6666666666666665, 3.45};
static const double TOPK_T1L_V[9] = {NAN, 3.0, 2.0, 8.0, 7.0, 6.5, NAN, 9.0, 5.0};
static const double TOPK_T1L_I[9] = {3.0, 2.0, 4.0, 1.0, 4.0, 5.0, 0.0, 4.0, 2.0};
static const double TOPK_T1S_V[9] = {-1.0, 0.0, 0.5, -2.0, 1.0, 4.0, -3.0, 1.5, 2.0};
static const double TOPK_T1S_I[9] = {1.0, 5.0, 0.0, 2.0, 3.0, 0.0, 3.0, 1.0, 5.0};
static const double TOPK_T0L_V[12] = {NAN, 8.0, 5.0, NAN, 9.0, 6.5, 4.0, 1.5, 3.0, 1.0, 7.0, 2.0};
static const double TOPK_T0L_I[12] = {2.0, 1.0, 2.0, 0.0, 2.0, 1.0, 1.0, 2.0, 0.0, 1.0, 1.0, 2.0};
static const double TOPK_T0S_V[12] = {0.5, -1.0, -2.0, -3.0, 2.0, 0.0, 4.0, 1.5, 3.0, 1.0, 7.0, 2.0};
static const double TOPK_T0S_I[12] = {0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 1.0, 2.0, 0.0, 1.0, 1.0, 2.0};
static const double TOPK_T1LN_V[18] = {NAN, 3.0, 2.0, 0.5, 0.0, -1.0, 8.0, 7.0, 6.5, 4.0, 1.0, -2.0, NAN, 9.0, 5.0, 2.0, 1.5, -3.0};
static const double TOPK_T1LN_I[18] = {3.0, 2.0, 4.0, 0.0, 5.0, 1.0, 1.0, 4.0, 5.0, 0.0, 3.0, 2.0, 0.0, 4.0, 2.0, 5.0, 1.0, 3.0};
static const double TOPK_T1SN_V[18] = {-1.0, 0.0, 0.5, 2.0, 3.0, NAN, -2.0, 1.0, 4.0, 6.5, 7.0, 8.0, -3.0, 1.5, 2.0, 5.0, 9.0, NAN};
static const double TOPK_T1SN_I[18] = {1.0, 5.0, 0.0, 4.0, 2.0, 3.0, 2.0, 3.0, 0.0, 5.0, 4.0, 1.0, 3.0, 1.0, 5.0, 2.0, 4.0, 0.0};
static const double ISC_D[15] = {1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0};
static const double ISC_DN[15] = {1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0};
static const double ISC_R[15] = {1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0};
static const double ISC_BIG[15] = {1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0};
static const double ISC_BCAST[12] = {1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0};
static const double ISC_INT[3] = {1.0, 0.0, 1.0};
static const double ISC_U8[3] = {0.0, 1.0, 1.0};
static const double CX[21] = {0.0, 0.6, -0.55, -1.78, -0.91, -1.98, 0.12, 2.68, -0.98, -1.24, 0.98, 0.71, 0.21, -1.86, -0.06, 1.39, -2.69, -0.92, -3.8, -2.58, -3.68};
static const double COV_D0[9] = {0.8144204081632652, -0.373438775510204, 0.5918632653061224, -0.373438775510204, 2.087555102040816, 0.7710612244897959, 0.5918632653061224, 0.7710612244897959, 3.27190612244898};
static const double COV_D1[9] = {0.9501571428571427, -0.43567857142857136, 0.6905071428571429, -0.43567857142857136, 2.435480952380952, 0.8995714285714286, 0.6905071428571429, 0.8995714285714286, 3.81722380952381};
static const double COV_D2[9] = {1.1401885714285713, -0.5228142857142857, 0.8286085714285716, -0.5228142857142857, 2.9225771428571425, 1.0794857142857144, 0.8286085714285716, 1.0794857142857144, 4.580668571428572};
static const double COV_1D[1] = {0.9501571428571427};
static const double CORR[9] = {1.0, -0.2864020435999041, 0.36257398899741755, -0.2864020435999041, 1.0, 0.29503223726755873, 0.3625739889974175, 0.29503223726755873, 1.0};
static const double CORR_CC[16] = {1.0, NAN, 0.9983814394570298, -1.0, NAN, NAN, NAN, NAN, 0.9983814394570298, NAN, 0.9999999999999999, -0.9983814394570298, -1.0, NAN, -0.9983814394570298, 0.9999999999999999};
static const double COV_CC[16] = {1.6666666666666665, 0.0, 3.583333333333333, -5.0, 0.0, 0.0, 0.0, 0.0, 3.583333333333333, 0.0, 7.729166666666666, -10.75, -5.0, 0.0, -10.75, 15.0};
static const double BIN_M0[8] = {1.0, 3.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0};
static const double BINW_M0[8] = {0.5, 6.0, 0.25, -1.0, 0.0, 0.0, 0.0, 1.5};
static const double BIN_M5[8] = {1.0, 3.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0};
static const double BINW_M5[8] = {0.5, 6.0, 0.25, -1.0, 0.0, 0.0, 0.0, 1.5};
static const double BIN_M10[10] = {1.0, 3.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0};
static const double BINW_M10[10] = {0.5, 6.0, 0.25, -1.0, 0.0, 0.0, 0.0, 1.5, 0.0, 0.0};
static const double HW[18] = {0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2000000000000002, 1.3, 1.4, 1.5, 1.6, 1.7000000000000002, 1.8, 1.9000000000000001, 2.0, 2.1, 2.2};
static const double HIST_B4[4] = {3.0, 3.0, 4.0, 5.0};
static const double HISTW_B4[4] = {3.9000000000000004, 3.9, 5.7, 7.500000000000001};
static const double HIST_B10[10] = {1.0, 1.0, 3.0, 0.0, 1.0, 3.0, 1.0, 1.0, 1.0, 3.0};
static const double HISTW_B10[10] = {0.5, 1.6, 3.7, 0.0, 2.0, 4.0, 1.7000000000000002, 0.8, 2.2, 4.5};
static const double HIST_B3[3] = {1.0, 14.0, 2.0};
static const double HISTW_B3[3] = {1.0, 20.1, 2.0};
static const double HIST_B1[1] = {15.0};
static const double HISTW_B1[1] = {21.000000000000004};
static const double HIST_B7[7] = {1.0, 3.0, 0.0, 1.0, 2.0, 2.0, 2.0};
static const double HISTW_B7[7] = {1.6, 3.7, 0.0, 2.0, 2.6, 3.1, 3.0};
static const double HIST_INT[3] = {2.0, 2.0, 4.0};
static const double HE_X_7_0p0_1p0[16] = {0.0, 0.14285714285714285, 0.2857142857142857, 0.42857142857142855, 0.5714285714285714, 0.7142857142857142, 0.8571428571428571, 1.0, 0.0, 0.14285714285714285, 0.2857142857142857, 0.42857142857142855, 0.5714285714285714, 0.7142857142857143, 0.8571428571428571, 1.0};
static const double HE_7_0p0_1p0[7] = {2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 4.0};
static const double HE_X_18_0p0_1p0[38] = {0.0, 0.05555555555555555, 0.1111111111111111, 0.16666666666666666, 0.2222222222222222, 0.2777777777777778, 0.3333333333333333, 0.38888888888888884, 0.4444444444444444, 0.5, 0.5555555555555556, 0.611111111111111, 0.6666666666666666, 0.7222222222222222, 0.7777777777777777, 0.8333333333333333, 0.8888888888888888, 0.9444444444444444, 1.0, 0.0, 0.05555555555555555, 0.1111111111111111, 0.16666666666666666, 0.2222222222222222, 0.2777777777777778, 0.3333333333333333, 0.3888888888888889, 0.4444444444444444, 0.5, 0.5555555555555556, 0.6111111111111112, 0.6666666666666666, 0.7222222222222222, 0.7777777777777778, 0.8333333333333334, 0.8888888888888888, 0.9444444444444444, 1.0};
static const double HE_18_0p0_1p0[18] = {2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 4.0};
static const double HE_X_20_0p0_1p0[42] = {0.0, 0.05, 0.1, 0.15000000000000002, 0.2, 0.25, 0.30000000000000004, 0.35000000000000003, 0.4, 0.45, 0.5, 0.55, 0.6000000000000001, 0.65, 0.7000000000000001, 0.75, 0.8, 0.8500000000000001, 0.9, 0.9500000000000001, 1.0, 0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0};
static const double HE_20_0p0_1p0[20] = {2.0, 2.0, 3.0, 1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 2.0, 2.0, 3.0, 1.0, 3.0, 1.0, 2.0, 3.0, 1.0, 3.0, 3.0};
static const double HE_X_13_0p1_0p8[28] = {0.1, 0.15384615384615385, 0.2076923076923077, 0.26153846153846155, 0.3153846153846154, 0.36923076923076925, 0.42307692307692313, 0.4769230769230769, 0.5307692307692308, 0.5846153846153846, 0.6384615384615385, 0.6923076923076923, 0.7461538461538462, 0.8, 0.1, 0.15384615384615385, 0.2076923076923077, 0.26153846153846155, 0.3153846153846154, 0.36923076923076925, 0.42307692307692313, 0.476923076923077, 0.5307692307692308, 0.5846153846153846, 0.6384615384615385, 0.6923076923076924, 0.7461538461538462, 0.8};
static const double HE_13_0p1_0p8[13] = {2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 4.0};
static const double HE_X_9_m1p0_2p0[20] = {-1.0, -0.6666666666666667, -0.33333333333333337, 0.0, 0.33333333333333326, 0.6666666666666665, 1.0, 1.333333333333333, 1.6666666666666665, 2.0, -1.0, -0.6666666666666667, -0.33333333333333337, 0.0, 0.33333333333333326, 0.6666666666666667, 1.0, 1.3333333333333335, 1.6666666666666665, 2.0};
static const double HE_9_m1p0_2p0[9] = {2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 4.0};

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)
#define ANY_FLOAT NPG_DTYPE_COUNT /* expect_arr: any floating dtype (the header does not pin it) */
#define NQ ((int)(sizeof QQ / sizeof QQ[0]))
#define NQN ((int)(sizeof QNQ / sizeof QNQ[0]))

static const npg_quantile_method METHODS[5] = {NPG_QUANTILE_LINEAR, NPG_QUANTILE_LOWER, NPG_QUANTILE_HIGHER,
                                               NPG_QUANTILE_NEAREST, NPG_QUANTILE_MIDPOINT};
static const char *const MNAME[5] = {"linear", "lower", "higher", "nearest", "midpoint"};
static bool isf(npg_dtype d) { return d == NPG_FLOAT32 || d == NPG_FLOAT64; }
static double tol(npg_dtype d) { return d == NPG_FLOAT64 ? 1e-12 : 1e-5; }
static long g_checks;

/* x is not NULL and has shape, dtype dt (ANY_FLOAT: float32 or float64) and
 * the values want (NaN matches NaN). Asserts: the test stops here. */
static void expect_arr(npg_array *x, npg_shape shape, npg_dtype dt, const double *want, double rtol, double atol,
                       const char *what) {
    char b1[96], b2[96];
    g_checks++;
    cr_assert(x, "%s: NULL (%s)", what, npg_last_error());
    cr_assert(same_shape(npg_shape_of(x), shape), "%s: shape %s, want %s", what, sstr(npg_shape_of(x), b1),
              sstr(shape, b2));
    npg_dtype got = npg_dtype_of(x);
    if (dt == ANY_FLOAT)
        cr_assert(isf(got), "%s: dtype %s, want a floating dtype", what, npg_dtype_name(got));
    else
        cr_assert_eq(got, dt, "%s: dtype %s, want %s", what, npg_dtype_name(got), npg_dtype_name(dt));
    if (numel(shape)) t_assert_close(x, want, numel(shape), rtol, atol, what);
}


/* The last call failed with status st and a message containing needle
 * (expect: the test goes on). */
static void expect_err(npg_status st, const char *needle, const char *label) {
    g_checks++;
    npg_status got = npg_last_status();
    cr_expect_eq(got, st, "%s: status %s, want %s (%s)", label, npg_status_string(got), npg_status_string(st),
                 npg_last_error());
    cr_expect(strstr(npg_last_error(), needle) != NULL, "%s: message '%s' does not name %s", label, npg_last_error(),
              needle);
    npg_clear_error();
}
#define EXPECT_NULL(call, st, needle)                                           \
    do {                                                                        \
        npg_clear_error();                                                      \
        npg_array *r_ = (call);                                                 \
        cr_expect(r_ == NULL, "%s must fail", #call);                           \
        expect_err(st, needle, #call);                                          \
    } while (0)

/* The logical (row-major) values v of shape s as a vk view of a larger base
 * whose other elements are `junk` (read by mistake, they show). */
static npg_array *as_view(const double *v, npg_dtype dt, npg_shape s, vkind vk, double junk) {
    npg_shape bs = base_shape(s, vk);
    int64_t nb = numel(bs), n = numel(s);
    double *b = malloc(sizeof(double) * (size_t)(nb + 1));
    for (int64_t k = 0; k < nb; k++) b[k] = junk;
    for (int64_t k = 0; k < n; k++) b[view_offset(k, s, vk, bs)] = v[k];
    npg_array *x = view_of(t_arr(b, dt, bs), vk);
    free(b);
    cr_assert(x, "as_view: %s", npg_last_error());
    cr_assert(vk == V_C || n <= 1 || !npg_is_contiguous(x), "the %s view is contiguous", VNAME[vk]);
    return x;
}
/* v as dtype dt, rounded to it (float32, integers: v must hold integers). */
static void cast_vals(const double *v, double *out, int64_t n, npg_dtype dt) {
    for (int64_t i = 0; i < n; i++) out[i] = dt == NPG_FLOAT32 ? (double)(float)v[i] : v[i];
}

static npg_array *leaf(const double *v, npg_shape s) {
    npg_array *x = t_arr(v, NPG_FLOAT64, s);
    cr_assert_eq(npg_set_requires_grad(x, true), NPG_OK, "%s", npg_last_error());
    return x;
}
/* n distinct values 0.1 apart (a permutation), shifted to about [-n/20, n/20]:
 * order statistics are unambiguous under central differences. */
static void distinct_vals(double *v, int n, int mul) {
    for (int i = 0; i < n; i++) v[i] = (double)((i * mul + 3) % n) * 0.1 - 0.05 * n + 0.013;
}

/* ------------------------------------------------------------------------
 * Host references (NumPy's rules, float64)
 * ------------------------------------------------------------------------ */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
/* numpy.quantile / nanquantile of v[0..n) (NaN: the whole result, or
 * skipped); virtual index (n - 1) q; NumPy 1.24's _lerp and method table. */
static double ref_quantile(const double *v, int64_t n, double q, int m, bool skipnan) {
    double *w = malloc(sizeof(double) * (size_t)(n + 1));
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isnan(v[i])) {
            w[k++] = v[i];
        } else if (!skipnan) {
            free(w);
            return NAN;
        }
    }
    if (k == 0) {
        free(w);
        return NAN;
    }
    qsort(w, (size_t)k, sizeof(double), cmp_d);
    double vi = (double)(k - 1) * q, fl = floor(vi), ce = ceil(vi), r;
    int64_t i = (int64_t)fl, j = i + 1 < k ? i + 1 : i;
    double a = w[i], b = w[j], d = b - a, t = vi - fl;
    switch (m) {
    case 0: r = t >= 0.5 ? b - d * (1 - t) : a + d * t; break;
    case 1: r = a; break;
    case 2: r = w[(int64_t)ce]; break;
    case 3: r = w[(int64_t)rint(vi)]; break; /* rint: ties to even */
    default: r = fl == ce ? a : b - d * 0.5; break;
    }
    free(w);
    return r;
}
static double ref_nansum(const double *v, int64_t n, int64_t *count) {
    double s = 0;
    *count = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(v[i])) s += v[i], ++*count;
    return s;
}

/* Reduced-axes mask of axes on shape s, the result shape (keepdims) and
 * the number of reduced elements per group. */
static uint32_t axes_mask(npg_axes axes, npg_shape s, bool keepdims, npg_shape *out, int64_t *nred) {
    uint32_t mask = 0;
    if (axes.n == 0) mask = (1u << s.ndim) - 1;
    for (int k = 0; k < axes.n; k++) mask |= 1u << (axes.axes[k] < 0 ? axes.axes[k] + s.ndim : axes.axes[k]);
    out->ndim = 0;
    *nred = 1;
    for (int i = 0; i < s.ndim; i++)
        if (!(mask & (1u << i)))
            out->dims[out->ndim++] = s.dims[i];
        else {
            *nred *= s.dims[i];
            if (keepdims) out->dims[out->ndim++] = 1;
        }
    return mask;
}
/* The groups of hv (shape s) over the mask: grp[g * gs + j], g row-major
 * over the kept axes. Returns grp (malloc'd); *ng groups of *gs. */
static double *groups(const double *hv, npg_shape s, uint32_t mask, int64_t *ng, int64_t *gs) {
    int64_t n = numel(s);
    *ng = 1, *gs = 1;
    for (int i = 0; i < s.ndim; i++) (mask & (1u << i)) ? (*gs *= s.dims[i]) : (*ng *= s.dims[i]);
    double *grp = malloc(sizeof(double) * (size_t)(n + 1));
    int64_t *fill = calloc((size_t)(*ng + 1), sizeof(int64_t));
    for (int64_t k = 0; k < n; k++) {
        int64_t rem = k, g = 0, mul = 1;
        for (int i = s.ndim - 1; i >= 0; i--) {
            int64_t ii = rem % s.dims[i];
            rem /= s.dims[i];
            if (!(mask & (1u << i))) g += ii * mul, mul *= s.dims[i];
        }
        grp[g * *gs + fill[g]++] = hv[k];
    }
    free(fill);
    return grp;
}
static char *axes_str(npg_axes axes, char *buf) {
    if (!axes.n) return strcpy(buf, "NPG_ALL_AXES");
    int k = sprintf(buf, "axes (");
    for (int i = 0; i < axes.n; i++) k += sprintf(buf + k, i ? ",%d" : "%d", axes.axes[i]);
    sprintf(buf + k, ")");
    return buf;
}

/* ------------------------------------------------------------------------
 * The reduction sweep: quantile, nanquantile, median, nanmedian, nansum,
 * nanmean on random inputs
 * ------------------------------------------------------------------------ */

enum { F_Q, F_NQ, F_MED, F_NMED, F_NSUM, F_NMEAN };
static const char *const FNAME[] = {"npg_quantile", "npg_nanquantile", "npg_median", "npg_nanmedian", "npg_nansum", "npg_nanmean"};
typedef struct sspec {
    int f;
    double q;
    int m;
    npg_axes axes;
    bool keepdims;
} sspec;
static npg_array *scall(const sspec *sp, npg_array *x) {
    switch (sp->f) {
    case F_Q: return npg_quantile(x, sp->q, sp->axes, sp->keepdims, METHODS[sp->m]);
    case F_NQ: return npg_nanquantile(x, sp->q, sp->axes, sp->keepdims, METHODS[sp->m]);
    case F_MED: return npg_median(x, sp->axes, sp->keepdims);
    case F_NMED: return npg_nanmedian(x, sp->axes, sp->keepdims);
    case F_NSUM: return npg_nansum(x, sp->axes, sp->keepdims);
    default: return npg_nanmean(x, sp->axes, sp->keepdims);
    }
}
static double sref(const sspec *sp, const double *v, int64_t n) {
    int64_t cnt;
    switch (sp->f) {
    case F_Q: return ref_quantile(v, n, sp->q, sp->m, false);
    case F_NQ: return ref_quantile(v, n, sp->q, sp->m, true);
    case F_MED: return ref_quantile(v, n, 0.5, 0, false);
    case F_NMED: return ref_quantile(v, n, 0.5, 0, true);
    case F_NSUM: return ref_nansum(v, n, &cnt);
    default: {
        double s = ref_nansum(v, n, &cnt);
        return cnt ? s / (double)cnt : NAN;
    }
    }
}

/* One call on x (shape s, values hv as the op sees them, dtype dt). */
static void check_red(const sspec *sp, npg_array *x, npg_shape s, const double *hv, npg_dtype dt, const char *xlabel) {
    npg_shape so;
    int64_t nred, ng, gs;
    uint32_t mask = axes_mask(sp->axes, s, sp->keepdims, &so, &nred);
    char label[400], ab[64];
    snprintf(label, sizeof label, "%s(%s, q %g, %s, keepdims %d, %s)", FNAME[sp->f], xlabel, sp->q, axes_str(sp->axes, ab),
             sp->keepdims, sp->f <= F_NQ ? MNAME[sp->m] : "-");
    npg_scope sc = npg_scope_begin();
    npg_clear_error();
    npg_array *y = scall(sp, x);
    g_checks++;
    if (sp->f <= F_NMED && nred == 0) { /* an empty selection */
        cr_expect(y == NULL, "%s: an empty selection must fail", label);
        expect_err(NPG_ERR_SHAPE, FNAME[sp->f], label);
        npg_scope_end(sc);
        return;
    }
    cr_expect(y != NULL, "%s: NULL (%s)", label, npg_last_error());
    if (!y) {
        npg_scope_end(sc);
        return;
    }
    npg_dtype odt = isf(dt) ? dt : sp->f == F_NSUM ? (dt == NPG_UINT64 ? NPG_UINT64 : NPG_INT64) : NPG_FLOAT32;
    char b1[96], b2[96];
    cr_expect_eq(npg_dtype_of(y), odt, "%s: dtype %s, want %s", label, npg_dtype_name(npg_dtype_of(y)), npg_dtype_name(odt));
    bool shape_ok = same_shape(npg_shape_of(y), so);
    cr_expect(shape_ok, "%s: shape %s, want %s", label, sstr(npg_shape_of(y), b1), sstr(so, b2));
    if (shape_ok) {
        double *grp = groups(hv, s, mask, &ng, &gs);
        double *want = malloc(sizeof(double) * (size_t)(ng + 1));
        for (int64_t g = 0; g < ng; g++) want[g] = sref(sp, grp + g * gs, gs);
        double rt = odt == NPG_FLOAT64 ? 1e-12 : odt == NPG_INT64 || odt == NPG_UINT64 ? 0 : sp->f >= F_NSUM ? 1e-4 : 1e-5;
        expect_vals(y, want, ng, rt, rt, label);
        free(grp), free(want);
    }
    npg_scope_end(sc);
}

typedef struct trng {
    uint64_t s;
} trng;
static double urand(trng *r) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(r->s >> 11) * (1.0 / 9007199254740992.0);
}
/* Random values for dt: floats in [-2, 2) (every third input on a 1/4 grid:
 * ties), a fraction pnan NaN; integers in [-9, 9] ([0, 20] unsigned). */
static double rand_val(npg_dtype dt, trng *r, double pnan, bool grid) {
    double u = urand(r);
    if (dt == NPG_BOOL) return u < 0.5;
    if (t_is_unsigned(dt)) return floor(u * 21);
    if (!isf(dt)) return floor(u * 19) - 9;
    if (urand(r) < pnan) return NAN;
    double v = -2 + 4 * u;
    if (grid) v = round(v * 4) / 4;
    return dt == NPG_FLOAT32 ? (double)(float)v : v;
}

typedef struct icase {
    npg_shape s;
    vkind v;
    int specs; /* 0: the 3-d axis list, 1: 1-d, 2: 0-d, 3: the empty 3-d list */
} icase;
static const icase ICASES[] = {
    {SH(5, 6, 3), V_C, 0}, {SH(5, 6, 3), V_T, 0}, {SH(5, 6, 3), V_S2, 0}, {SH(5, 6, 3), V_NEG, 0},
    {SH(13), V_C, 1},      {SH(13), V_NEG, 1},    {SH0, V_C, 2},          {SH(0), V_C, 1},
    {SH(3, 0, 2), V_C, 3},
};
static const npg_axes AXES3[] = {{0}, {1, {0}}, {1, {1}}, {1, {2}}, {1, {-1}}, {2, {0, 2}}, {2, {-3, -1}}, {2, {1, 2}}, {3, {2, 0, 1}}};
static const npg_axes AXES1[] = {{0}, {1, {0}}, {1, {-1}}};
static const npg_axes AXESE[] = {{0}, {1, {0}}, {1, {1}}, {2, {0, 2}}};
/* q: 0, 1, exact halves of (n - 1) q for NEAREST's ties on the group lengths
 * here (3, 15: 0.25; 5, 13: 0.375; 6: 0.3; 90: 0.5), t >= 0.5 (0.9 on 5);
 * even lengths (6, 18, 90) for the median's mean of the middle two. */
static const double SQ[] = {0, 0.25, 0.375, 0.5, 0.9, 1, 0.3};

static void sweep_dtype(npg_dtype dt) {
    t_live l0 = t_live_now();
    for (int ci = 0; ci < (int)(sizeof ICASES / sizeof ICASES[0]); ci++) {
        const icase *c = &ICASES[ci];
        int nax = c->specs == 0 ? 9 : c->specs == 1 ? 3 : c->specs == 2 ? 1 : 4;
        const npg_axes *axl = c->specs == 0 ? AXES3 : c->specs == 3 ? AXESE : AXES1;
        for (int withnan = 0; withnan < (isf(dt) ? 2 : 1); withnan++) {
            npg_scope sc = npg_scope_begin();
            int64_t n = numel(c->s);
            double *hv = malloc(sizeof(double) * (size_t)(n + 1));
            trng r = {(uint64_t)(dt * 1000 + ci * 10 + withnan) * 0x9E3779B97F4A7C15ull + 1};
            for (int64_t k = 0; k < n; k++) hv[k] = rand_val(dt, &r, withnan ? 0.08 : 0, ci % 3 == 1);
            npg_array *x = as_view(hv, dt, c->s, c->v, isf(dt) ? 1e6 : 99);
            char xl[160], b1[96];
            snprintf(xl, sizeof xl, "%s %s %s%s", npg_dtype_name(dt), sstr(c->s, b1), VNAME[c->v], withnan ? " with NaN" : "");
            for (int a = 0; a < nax; a++)
                for (int kd = 0; kd < 2; kd++) {
                    sspec sp = {0, 0, 0, axl[a], kd};
                    if (dt != NPG_BOOL) {
                        for (int f = F_Q; f <= F_NQ; f++) {
                            if (f == F_NQ && isf(dt) && !withnan) continue; /* the same as quantile */
                            sp.f = f;
                            for (int qi = 0; qi < (int)(sizeof SQ / sizeof SQ[0]); qi++)
                                for (int m = 0; m < 5; m++) {
                                    sp.q = SQ[qi], sp.m = m;
                                    check_red(&sp, x, c->s, hv, dt, xl);
                                }
                        }
                        sp.q = 0.5, sp.m = 0;
                        sp.f = F_MED;
                        check_red(&sp, x, c->s, hv, dt, xl);
                        sp.f = F_NMED;
                        check_red(&sp, x, c->s, hv, dt, xl);
                    }
                    sp.f = F_NSUM;
                    check_red(&sp, x, c->s, hv, dt, xl);
                    sp.f = F_NMEAN;
                    check_red(&sp, x, c->s, hv, dt, xl);
                }
            t_expect_unchanged(x, hv, n, xl);
            free(hv);
            npg_scope_end(sc);
        }
    }
    t_assert_no_leak(l0, "reduction sweep");
    cr_log_info("%s: %ld checks", npg_dtype_name(dt), g_checks);
}
Test(stats, sweep_float64) { sweep_dtype(NPG_FLOAT64); }
Test(stats, sweep_float32) { sweep_dtype(NPG_FLOAT32); }
Test(stats, sweep_integers_and_bool) {
    sweep_dtype(NPG_INT32);
    sweep_dtype(NPG_INT64);
    sweep_dtype(NPG_UINT8);
    sweep_dtype(NPG_BOOL); /* nansum / nanmean only (quantile of bool is an error) */
}
Test(stats, sweep_narrow_and_unsigned_integers) {
    sweep_dtype(NPG_INT8);
    sweep_dtype(NPG_INT16);
    sweep_dtype(NPG_UINT16);
    sweep_dtype(NPG_UINT32);
    sweep_dtype(NPG_UINT64);
}

/* ------------------------------------------------------------------------
 * quantile / nanquantile / median / nanmedian / nansum / nanmean: NumPy
 * ------------------------------------------------------------------------ */

/* table[m][q][0..nout) for x over axes (shape so). */
static void expect_qtable(npg_array *x, bool nan, const double *table, int nq, const double *qs, npg_axes axes, bool keepdims,
                          npg_shape so, npg_dtype odt, const char *what) {
    const bool exact = strstr(what, "exactly") != NULL;
    int64_t nout = numel(so);
    for (int m = 0; m < 5; m++)
        for (int qi = 0; qi < nq; qi++) {
            char l[200], ab[64];
            snprintf(l, sizeof l, "%s: %s q %g %s %s keepdims %d", what, nan ? "nanquantile" : "quantile", qs[qi], MNAME[m],
                     axes_str(axes, ab), keepdims);
            npg_array *y = nan ? npg_nanquantile(x, qs[qi], axes, keepdims, METHODS[m])
                               : npg_quantile(x, qs[qi], axes, keepdims, METHODS[m]);
            double rt = exact ? 0 : odt == NPG_FLOAT64 ? 1e-12 : 1e-5;
            expect_arr(y, so, odt, table + (m * nq + qi) * nout, rt, rt, l);
            npg_free(y);
        }
}

Test(stats, quantile_matches_numpy) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    static const npg_dtype dts[2] = {NPG_FLOAT64, NPG_FLOAT32};
    for (int di = 0; di < 2; di++)
        for (int vk = 0; vk < 4; vk++) { /* contiguous, transposed, step-2, reversed */
            npg_dtype dt = dts[di];
            char w[96];
            snprintf(w, sizeof w, "QX %s %s", npg_dtype_name(dt), VNAME[vk]);
            double qx[20];
            cast_vals(QX, qx, 20, dt);
            npg_array *x = as_view(QX, dt, (npg_shape)SH(4, 5), (vkind)vk, NAN);
            expect_qtable(x, false, QX_AX1, NQ, QQ, NPG_AXES(1), false, (npg_shape)SH(4), dt, w);
            expect_qtable(x, false, QX_AX1, NQ, QQ, NPG_AXES(-1), true, (npg_shape)SH(4, 1), dt, w);
            expect_qtable(x, false, QX_AX0, NQ, QQ, NPG_AXES(0), false, (npg_shape)SH(5), dt, w);
            expect_qtable(x, false, QX_ALL, NQ, QQ, NPG_ALL_AXES, false, (npg_shape)SH0, dt, w);
            expect_qtable(x, false, QX_ALL, NQ, QQ, NPG_AXES(1, 0), true, (npg_shape)SH(1, 1), dt, w);
            /* without NaN, nanquantile is quantile */
            expect_qtable(x, true, QX_AX1, NQ, QQ, NPG_AXES(1), false, (npg_shape)SH(4), dt, w);
            t_expect_unchanged(x, qx, 20, w);
        }
    /* (2, 2, 5) over the first two axes: the columns of QX */
    npg_array *x3 = t_arr(QX, NPG_FLOAT64, (npg_shape)SH(2, 2, 5));
    expect_qtable(x3, false, QX3_AX01, NQ, QQ, NPG_AXES(0, 1), false, (npg_shape)SH(5), NPG_FLOAT64, "QX (2,2,5)");
    expect_qtable(x3, false, QX3_AX01, NQ, QQ, NPG_AXES(1, -3), true, (npg_shape)SH(1, 1, 5), NPG_FLOAT64, "QX (2,2,5)");
    /* integers: the default float dtype; rows 0-2 of QX are integers */
    const npg_dtype *its = INT_DTS; /* every integer dtype */
    for (int ii = 0; ii < 8; ii++) {
        npg_array *xi = t_arr(QX, its[ii], (npg_shape)SH(3, 5));
        for (int m = 0; m < 5; m++)
            for (int qi = 0; qi < NQ; qi++) {
                char l[128];
                snprintf(l, sizeof l, "quantile %s rows 0-2 of QX, q %g %s", npg_dtype_name(its[ii]), QQ[qi], MNAME[m]);
                expect_arr(npg_quantile(xi, QQ[qi], NPG_AXES(1), false, METHODS[m]), (npg_shape)SH(3), NPG_FLOAT32,
                           QX_AX1 + (m * NQ + qi) * 4, 1e-6, 1e-6, l);
            }
        expect_arr(npg_median(xi, NPG_AXES(1), false), (npg_shape)SH(3), NPG_FLOAT32, MED_QX, 1e-6, 0, "median int rows");
    }
    npg_scope_end(sc);
    t_assert_no_leak(l0, "quantile numpy");
}

/* float64 results equal NumPy's to the last bit: the header's position
 * q (n - 1) (NumPy 1.24's (n - 1) * q for every method here) and NumPy's
 * lerp. A position computed another way (n q + (1 - q) - 1) is off by an ulp:
 * 1.2000000000000002 for q = 0.3 of [0, 1, 2, 3, 4]. */
Test(stats, quantile_float64_bits_match_numpy) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    npg_array *r5 = t_arr((double[]){0, 1, 2, 3, 4}, NPG_FLOAT64, (npg_shape)SH(5));
    static const double qs[3] = {0.3, 0.7, 0.9}, want[3] = {1.2, 2.8, 3.6}; /* np.quantile(np.arange(5.), q) */
    for (int i = 0; i < 3; i++) {
        char l[96];
        snprintf(l, sizeof l, "quantile of [0, 1, 2, 3, 4] at q %g, exactly", qs[i]);
        expect_arr(npg_quantile(r5, qs[i], NPG_ALL_AXES, false, NPG_QUANTILE_LINEAR), (npg_shape)SH0, NPG_FLOAT64, &want[i], 0, 0, l);
    }
    npg_array *x = t_arr(QX, NPG_FLOAT64, (npg_shape)SH(4, 5));
    expect_qtable(x, false, QX_AX1, NQ, QQ, NPG_AXES(1), false, (npg_shape)SH(4), NPG_FLOAT64, "QX float64 exactly (rtol 0)");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "quantile bits");
}

Test(stats, quantile_nan_rows_match_numpy) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = di ? NPG_FLOAT32 : NPG_FLOAT64;
        for (int vk = 0; vk < 2; vk++) {
            char w[96];
            snprintf(w, sizeof w, "QN %s %s", npg_dtype_name(dt), VNAME[vk]);
            npg_array *x = as_view(QN, dt, (npg_shape)SH(4, 4), (vkind)vk, 0.5);
            expect_qtable(x, false, QN_Q_AX1, NQN, QNQ, NPG_AXES(1), false, (npg_shape)SH(4), dt, w);
            expect_qtable(x, true, QN_NQ_AX1, NQN, QNQ, NPG_AXES(1), false, (npg_shape)SH(4), dt, w);
            expect_qtable(x, true, QN_NQ_AX0, NQN, QNQ, NPG_AXES(0), false, (npg_shape)SH(4), dt, w);
            expect_qtable(x, true, QN_NQ_ALL, NQN, QNQ, NPG_ALL_AXES, false, (npg_shape)SH0, dt, w);
            expect_qtable(x, true, QN_NQ_ALL, NQN, QNQ, NPG_AXES(0, 1), true, (npg_shape)SH(1, 1), dt, w);
            /* quantile over everything: NaN */
            for (int m = 0; m < 5; m++)
                expect_arr(npg_quantile(x, 0.5, NPG_ALL_AXES, false, METHODS[m]), (npg_shape)SH0, dt, (double[]){NAN}, 0, 0,
                           "quantile of all of QN is NaN");
            double rt = tol(dt);
            expect_arr(npg_median(x, NPG_AXES(1), false), (npg_shape)SH(4), dt, (double[]){NAN, NAN, NAN, 5.5}, rt, rt, "median QN rows");
            expect_arr(npg_nanmedian(x, NPG_AXES(1), false), (npg_shape)SH(4), dt, NANMED_QN, rt, rt, "nanmedian QN axis 1");
            expect_arr(npg_nanmedian(x, NPG_AXES(0), true), (npg_shape)SH(1, 4), dt, NANMED_QN + 4, rt, rt, "nanmedian QN axis 0");
            expect_arr(npg_nanmedian(x, NPG_ALL_AXES, false), (npg_shape)SH0, dt, NANMED_QN + 8, rt, rt, "nanmedian QN all");
            expect_arr(npg_nansum(x, NPG_AXES(1), false), (npg_shape)SH(4), dt, NANSUM_QN, rt, rt, "nansum QN axis 1 (all-NaN row: 0)");
            expect_arr(npg_nansum(x, NPG_AXES(0), false), (npg_shape)SH(4), dt, NANSUM_QN + 4, rt, rt, "nansum QN axis 0");
            expect_arr(npg_nansum(x, NPG_ALL_AXES, true), (npg_shape)SH(1, 1), dt, NANSUM_QN + 8, rt, rt, "nansum QN all");
            expect_arr(npg_nanmean(x, NPG_AXES(1), false), (npg_shape)SH(4), dt, NANMEAN_QN, rt, rt,
                       "nanmean QN axis 1 (all-NaN row: NaN)");
            expect_arr(npg_nanmean(x, NPG_AXES(0), false), (npg_shape)SH(4), dt, NANMEAN_QN + 4, rt, rt, "nanmean QN axis 0");
            expect_arr(npg_nanmean(x, NPG_ALL_AXES, false), (npg_shape)SH0, dt, NANMEAN_QN + 8, rt, rt, "nanmean QN all");
        }
    }
    /* median of QX (float64): NumPy's mean of the two middle elements */
    npg_array *x = t_arr(QX, NPG_FLOAT64, (npg_shape)SH(4, 5));
    expect_arr(npg_median(x, NPG_AXES(1), false), (npg_shape)SH(4), NPG_FLOAT64, MED_QX, 1e-12, 0, "median QX axis 1");
    expect_arr(npg_median(x, NPG_AXES(0), false), (npg_shape)SH(5), NPG_FLOAT64, MED_QX + 4, 1e-12, 0,
               "median QX axis 0 (even count: mean of the middle two)");
    expect_arr(npg_median(x, NPG_ALL_AXES, false), (npg_shape)SH0, NPG_FLOAT64, MED_QX + 9, 1e-12, 0, "median QX all");
    expect_arr(npg_nanmedian(x, NPG_ALL_AXES, false), (npg_shape)SH0, NPG_FLOAT64, MED_QX + 9, 1e-12, 0, "nanmedian QX all");
    /* an all-NaN input: nanquantile NaN, nansum 0, nanmean NaN */
    npg_array *an = t_arr((double[]){NAN, NAN, NAN}, NPG_FLOAT32, (npg_shape)SH(3));
    for (int m = 0; m < 5; m++)
        expect_arr(npg_nanquantile(an, 0.3, NPG_ALL_AXES, false, METHODS[m]), (npg_shape)SH0, NPG_FLOAT32, (double[]){NAN}, 0,
                   0, "nanquantile of all NaN");
    expect_arr(npg_nansum(an, NPG_ALL_AXES, false), (npg_shape)SH0, NPG_FLOAT32, (double[]){0}, 0, 0, "nansum of all NaN");
    expect_arr(npg_nanmean(an, NPG_ALL_AXES, false), (npg_shape)SH0, NPG_FLOAT32, (double[]){NAN}, 0, 0, "nanmean of all NaN");
    expect_arr(npg_nanmedian(an, NPG_ALL_AXES, false), (npg_shape)SH0, NPG_FLOAT32, (double[]){NAN}, 0, 0, "nanmedian of all NaN");
    /* infinities are ordinary values (no NaN from inf - inf where t = 0) */
    npg_array *inf = t_arr((double[]){INFINITY, 1, -INFINITY, 2, 3}, NPG_FLOAT64, (npg_shape)SH(5));
    expect_arr(npg_quantile(inf, 0, NPG_ALL_AXES, false, NPG_QUANTILE_LOWER), (npg_shape)SH0, NPG_FLOAT64, (double[]){-INFINITY}, 0,
               0, "quantile 0 with -inf");
    expect_arr(npg_quantile(inf, 1, NPG_ALL_AXES, false, NPG_QUANTILE_HIGHER), (npg_shape)SH0, NPG_FLOAT64, (double[]){INFINITY}, 0,
               0, "quantile 1 with inf");
    expect_arr(npg_quantile(inf, 0.5, NPG_ALL_AXES, false, NPG_QUANTILE_NEAREST), (npg_shape)SH0, NPG_FLOAT64, (double[]){2}, 0, 0,
               "quantile 0.5 nearest with infinities");
    expect_arr(npg_quantile(inf, 0.625, NPG_ALL_AXES, false, NPG_QUANTILE_LINEAR), (npg_shape)SH0, NPG_FLOAT64, (double[]){2.5}, 0,
               0, "quantile 0.625 linear between finite values");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "quantile NaN rows");
}

Test(stats, reductions_empty_and_0d) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* 0-d: the quantile is the value */
    npg_array *z = t_arr((double[]){-2.5}, NPG_FLOAT64, (npg_shape)SH0);
    for (int m = 0; m < 5; m++)
        for (int kd = 0; kd < 2; kd++)
            expect_arr(npg_quantile(z, 0.7, NPG_ALL_AXES, kd, METHODS[m]), (npg_shape)SH0, NPG_FLOAT64, (double[]){-2.5}, 0, 0,
                       "quantile of a 0-d array");
    expect_arr(npg_median(z, NPG_ALL_AXES, true), (npg_shape)SH0, NPG_FLOAT64, (double[]){-2.5}, 0, 0, "median 0-d");
    /* empty: nansum 0 (int64 for ints), nanmean NaN, quantile an error */
    npg_array *e = t_arr((double[]){0}, NPG_FLOAT32, (npg_shape)SH(0));
    expect_arr(npg_nansum(e, NPG_ALL_AXES, false), (npg_shape)SH0, NPG_FLOAT32, (double[]){0}, 0, 0, "nansum of empty");
    expect_arr(npg_nanmean(e, NPG_ALL_AXES, false), (npg_shape)SH0, NPG_FLOAT32, (double[]){NAN}, 0, 0, "nanmean of empty");
    npg_array *ei = t_arr((double[]){0}, NPG_INT32, (npg_shape)SH(2, 0));
    expect_arr(npg_nansum(ei, NPG_AXES(1), false), (npg_shape)SH(2), NPG_INT64, (double[]){0, 0}, 0, 0, "nansum of empty int32 rows");
    expect_arr(npg_nansum(ei, NPG_AXES(0), true), (npg_shape)SH(1, 0), NPG_INT64, NULL, 0, 0,
               "nansum over a non-empty axis of an empty array");
    t_live l1 = t_live_now();
    EXPECT_NULL(npg_quantile(e, 0.5, NPG_ALL_AXES, false, NPG_QUANTILE_LINEAR), NPG_ERR_SHAPE, "npg_quantile");
    EXPECT_NULL(npg_quantile(ei, 0.5, NPG_AXES(1), false, NPG_QUANTILE_LINEAR), NPG_ERR_SHAPE, "npg_quantile");
    EXPECT_NULL(npg_nanquantile(ei, 0.5, NPG_AXES(1), true, NPG_QUANTILE_LOWER), NPG_ERR_SHAPE, "npg_nanquantile");
    EXPECT_NULL(npg_median(e, NPG_ALL_AXES, false), NPG_ERR_SHAPE, "npg_median");
    EXPECT_NULL(npg_nanmedian(e, NPG_ALL_AXES, false), NPG_ERR_SHAPE, "npg_nanmedian");
    t_assert_no_leak(l1, "failed empty quantiles");
    /* over axis 0 of (2, 0) the selections (of 2) are not empty: an empty result */
    expect_arr(npg_quantile(ei, 0.5, NPG_AXES(0), false, NPG_QUANTILE_LINEAR), (npg_shape)SH(0), NPG_FLOAT32, NULL, 0, 0,
               "quantile of (2,0) over axis 0");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "empty reductions");
}

/* ------------------------------------------------------------------------
 * Gradients of the reductions
 * ------------------------------------------------------------------------ */

typedef struct gq {
    sspec sp;
    bool view;       /* the function transposes its input first */
    npg_array *mask; /* where true, the input is replaced by NaN */
} gq;
static npg_array *gq_fn(npg_array *const *in, int n, void *user) {
    (void)n;
    const gq *c = user;
    npg_array *x = c->view ? npg_T(in[0]) : in[0];
    if (c->mask) x = npg_scalar_where(c->mask, NAN, x);
    return scall(&c->sp, x);
}
static void gcheck(const char *label, gq *c, npg_array *x) {
    g_checks++;
    npg_status st = npg_gradcheck(gq_fn, c, &x, 1, NULL);
    cr_expect_eq(st, NPG_OK, "gradcheck %s: %s", label, npg_last_error());
    npg_clear_error();
}

Test(stats, quantile_gradients) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* explicit: x = [5, 1, 4, 2, 3]; q = 0.9: (n - 1) q = 3.6 between 4 (index 2)
     * and 5 (index 0); q = 0.5: exactly 3 (index 4); q = 0.375: 1.5 between
     * 2 (index 3) and 3 (index 4); NEAREST's tie goes to position 2 (3). */
    npg_array *x = leaf((double[]){5, 1, 4, 2, 3}, (npg_shape)SH(5));
    static const double want[3][5][5] = {
        {{0.6, 0, 0.4, 0, 0}, {0, 0, 1, 0, 0}, {1, 0, 0, 0, 0}, {1, 0, 0, 0, 0}, {0.5, 0, 0.5, 0, 0}},
        {{0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}},
        {{0, 0, 0, 0.5, 0.5}, {0, 0, 0, 1, 0}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}, {0, 0, 0, 0.5, 0.5}},
    };
    static const double qs[3] = {0.9, 0.5, 0.375};
    for (int qi = 0; qi < 3; qi++)
        for (int m = 0; m < 5; m++) {
            char l[96];
            snprintf(l, sizeof l, "d quantile(q %g, %s) / dx", qs[qi], MNAME[m]);
            for (int nan = 0; nan < 2; nan++) {
                npg_array *y = nan ? npg_nanquantile(x, qs[qi], NPG_ALL_AXES, false, METHODS[m])
                                   : npg_quantile(x, qs[qi], NPG_ALL_AXES, false, METHODS[m]);
                cr_assert(y, "%s: %s", l, npg_last_error());
                cr_expect(npg_requires_grad(y), "%s: the result does not require grad", l);
                double *g = grad_of_sum(y, x);
                t_assert_close_buf(g, want[qi][m], 5, 1e-12, 1e-12, l);
                free(g);
            }
        }
    /* q = 0 and 1: the minimum and the maximum */
    double *g = grad_of_sum(npg_quantile(x, 0, NPG_ALL_AXES, false, NPG_QUANTILE_LINEAR), x);
    t_assert_close_buf(g, (double[]){0, 1, 0, 0, 0}, 5, 0, 1e-12, "d quantile(0) / dx");
    free(g);
    g = grad_of_sum(npg_quantile(x, 1, NPG_ALL_AXES, false, NPG_QUANTILE_LINEAR), x);
    t_assert_close_buf(g, (double[]){1, 0, 0, 0, 0}, 5, 0, 1e-12, "d quantile(1) / dx");
    free(g);
    /* median of an even count: half to each middle element */
    npg_array *x4 = leaf((double[]){4, 1, 3, 2}, (npg_shape)SH(4));
    g = grad_of_sum(npg_median(x4, NPG_ALL_AXES, false), x4);
    t_assert_close_buf(g, (double[]){0, 0, 0.5, 0.5}, 4, 0, 1e-12, "d median / dx (even count)");
    free(g);
    /* nansum / nanmean / nanquantile: nothing flows to the NaN elements */
    npg_array *xn = leaf((double[]){1, NAN, 3, 2, NAN, 7}, (npg_shape)SH(2, 3));
    g = grad_of_sum(npg_nansum(xn, NPG_AXES(1), false), xn);
    t_assert_close_buf(g, (double[]){1, 0, 1, 1, 0, 1}, 6, 0, 0, "d nansum / dx");
    free(g);
    g = grad_of_sum(npg_nanmean(xn, NPG_AXES(1), false), xn);
    t_assert_close_buf(g, (double[]){0.5, 0, 0.5, 0.5, 0, 0.5}, 6, 1e-12, 0, "d nanmean / dx");
    free(g);
    g = grad_of_sum(npg_nanquantile(xn, 0.25, NPG_AXES(1), false, NPG_QUANTILE_LINEAR), xn);
    t_assert_close_buf(g, (double[]){0.75, 0, 0.25, 0.75, 0, 0.25}, 6, 1e-12, 0, "d nanquantile / dx");
    free(g);
    g = grad_of_sum(npg_nanmedian(xn, NPG_ALL_AXES, false), xn);
    t_assert_close_buf(g, (double[]){0, 0, 0.5, 0.5, 0, 0}, 6, 1e-12, 0, "d nanmedian / dx");
    free(g);

    /* gradcheck: every method, several axis sets and q, views, keepdims */
    double v[60];
    distinct_vals(v, 60, 23);
    static const npg_axes axl[] = {{0}, {1, {1}}, {1, {-1}}, {2, {0, 2}}};
    static const double gqs[] = {0, 0.3, 0.5, 0.9, 1};
    for (int a = 0; a < 4; a++)
        for (int qi = 0; qi < 5; qi++)
            for (int m = 0; m < 5; m++) {
                npg_scope s2 = npg_scope_begin();
                int view = (a + qi + m) % 2, kd = (qi + m) % 3 == 0;
                gq c = {{F_Q, gqs[qi], m, axl[a], kd}, view, NULL};
                npg_array *xl = leaf(v, view ? (npg_shape)SH(5, 4, 3) : (npg_shape)SH(3, 4, 5));
                char l[160], ab[64];
                snprintf(l, sizeof l, "quantile q %g %s %s keepdims %d%s", gqs[qi], MNAME[m], axes_str(axl[a], ab), kd,
                         view ? " transposed" : "");
                gcheck(l, &c, xl);
                c.sp.f = F_NQ;
                gcheck(l, &c, xl); /* nanquantile without NaN */
                npg_scope_end(s2);
            }
    /* with NaN masked in: nanquantile, nanmedian, nansum, nanmean */
    bool mk[60];
    for (int i = 0; i < 60; i++) mk[i] = i % 7 == 2 || i % 11 == 5;
    double mkd[60];
    for (int i = 0; i < 60; i++) mkd[i] = mk[i];
    npg_array *mask = t_arr(mkd, NPG_BOOL, (npg_shape)SH(3, 4, 5));
    for (int a = 0; a < 4; a++)
        for (int f = F_NQ; f <= F_NMEAN; f++) {
            if (f == F_MED) continue;
            for (int m = 0; m < (f == F_NQ ? 5 : 1); m++) {
                npg_scope s2 = npg_scope_begin();
                gq c = {{f, 0.4, m, axl[a], a == 2}, false, mask};
                npg_array *xl = leaf(v, (npg_shape)SH(3, 4, 5));
                char l[160], ab[64];
                snprintf(l, sizeof l, "%s with NaN, %s %s", FNAME[f], MNAME[m], axes_str(axl[a], ab));
                gcheck(l, &c, xl);
                npg_scope_end(s2);
            }
        }
    for (int a = 0; a < 4; a++) {
        npg_scope s2 = npg_scope_begin();
        gq c = {{F_MED, 0.5, 0, axl[a], true}, true, NULL};
        npg_array *xl = leaf(v, (npg_shape)SH(5, 4, 3));
        gcheck("median of a transposed input", &c, xl);
        npg_scope_end(s2);
    }
    npg_scope_end(sc);
    t_assert_no_leak(l0, "quantile gradients");
}

/* ------------------------------------------------------------------------
 * topk
 * ------------------------------------------------------------------------ */

static void expect_topk(npg_array *x, int64_t k, int axis, bool largest, npg_shape so, npg_dtype dt, const double *wv,
                        const double *wi, const char *what) {
    npg_array *v = NULL, *i = NULL;
    npg_status st = npg_topk(x, k, axis, largest, &v, &i);
    cr_assert_eq(st, NPG_OK, "%s: %s", what, npg_last_error());
    char l[160];
    snprintf(l, sizeof l, "%s values", what);
    expect_arr(v, so, dt, wv, 0, 0, l);
    snprintf(l, sizeof l, "%s indices", what);
    expect_arr(i, so, NPG_INT64, wi, 0, 0, l);
    npg_free(v), npg_free(i);
}

Test(stats, topk_matches_torch) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++)
        for (int vk = 0; vk < 3; vk++) {
            npg_dtype dt = di ? NPG_FLOAT32 : NPG_FLOAT64;
            char w[128];
            npg_array *x = as_view(TX, dt, (npg_shape)SH(3, 6), (vkind)vk, -100);
            snprintf(w, sizeof w, "topk %s %s", npg_dtype_name(dt), VNAME[vk]);
            expect_topk(x, 3, 1, true, (npg_shape)SH(3, 3), dt, TOPK_T1L_V, TOPK_T1L_I, w);
            expect_topk(x, 3, -1, false, (npg_shape)SH(3, 3), dt, TOPK_T1S_V, TOPK_T1S_I, w);
            expect_topk(x, 2, 0, true, (npg_shape)SH(2, 6), dt, TOPK_T0L_V, TOPK_T0L_I, w);
            expect_topk(x, 2, -2, false, (npg_shape)SH(2, 6), dt, TOPK_T0S_V, TOPK_T0S_I, w);
            expect_topk(x, 6, 1, true, (npg_shape)SH(3, 6), dt, TOPK_T1LN_V, TOPK_T1LN_I, w);
            expect_topk(x, 6, 1, false, (npg_shape)SH(3, 6), dt, TOPK_T1SN_V, TOPK_T1SN_I, w);
            expect_topk(x, 0, 1, true, (npg_shape)SH(3, 0), dt, NULL, NULL, w);
            expect_topk(x, 0, 0, false, (npg_shape)SH(0, 6), dt, NULL, NULL, w);
            double tx[18];
            cast_vals(TX, tx, 18, dt);
            t_expect_unchanged(x, tx, 18, w);
        }
    /* one output only */
    npg_array *x = t_arr(TX, NPG_FLOAT64, (npg_shape)SH(3, 6)), *v = NULL, *i = NULL;
    cr_assert_eq(npg_topk(x, 3, 1, true, &v, NULL), NPG_OK, "%s", npg_last_error());
    expect_arr(v, (npg_shape)SH(3, 3), NPG_FLOAT64, TOPK_T1L_V, 0, 0, "topk values only");
    cr_assert_eq(npg_topk(x, 3, 1, false, NULL, &i), NPG_OK, "%s", npg_last_error());
    expect_arr(i, (npg_shape)SH(3, 3), NPG_INT64, TOPK_T1S_I, 0, 0, "topk indices only");
    /* integers keep their dtype; 1-d */
    npg_array *xi = t_arr((double[]){7, -3, 12, 0, 5}, NPG_INT32, (npg_shape)SH(5));
    expect_topk(xi, 2, 0, true, (npg_shape)SH(2), NPG_INT32, (double[]){12, 7}, (double[]){2, 0}, "topk int32 largest");
    expect_topk(xi, 5, 0, false, (npg_shape)SH(5), NPG_INT32, (double[]){-3, 0, 5, 7, 12}, (double[]){1, 3, 4, 0, 2},
                "topk int32 smallest, k = n");
    npg_array *xu = t_arr((double[]){200, 3, 255, 0}, NPG_UINT8, (npg_shape)SH(4));
    expect_topk(xu, 2, 0, true, (npg_shape)SH(2), NPG_UINT8, (double[]){255, 200}, (double[]){2, 0}, "topk uint8");
    /* unsigned order above INT64_MAX (exact doubles: 2^63, 2^64 - 2048), int8's negatives */
    npg_array *x64 = from_bits(UB64(5, 1ull << 63, 18446744073709549568u, 0, 4611686018427387904u), 5, NPG_UINT64);
    expect_topk(x64, 3, 0, true, (npg_shape)SH(3), NPG_UINT64, (double[]){18446744073709549568.0, 9223372036854775808.0, 4611686018427387904.0},
                (double[]){2, 1, 4}, "topk uint64 largest");
    expect_topk(x64, 2, 0, false, (npg_shape)SH(2), NPG_UINT64, (double[]){0, 5}, (double[]){3, 0}, "topk uint64 smallest");
    npg_array *x8 = from_bits(UB64(3, (uint64_t)-128, 127, (uint64_t)-1), 4, NPG_INT8);
    expect_topk(x8, 2, 0, false, (npg_shape)SH(2), NPG_INT8, (double[]){-128, -1}, (double[]){1, 3}, "topk int8 smallest");
    expect_topk(x8, 1, 0, true, (npg_shape)SH(1), NPG_INT8, (double[]){127}, (double[]){2}, "topk int8 largest");
    npg_array *x32 = from_bits(UB64(2147483648u, 1, 4294967295u), 3, NPG_UINT32);
    expect_topk(x32, 2, 0, true, (npg_shape)SH(2), NPG_UINT32, (double[]){4294967295.0, 2147483648.0}, (double[]){2, 0}, "topk uint32");
    /* several NaN: all come first (largest) or last (smallest) */
    npg_array *xn = t_arr((double[]){NAN, 1, NAN, 3}, NPG_FLOAT32, (npg_shape)SH(4));
    cr_assert_eq(npg_topk(xn, 2, 0, true, &v, &i), NPG_OK, "%s", npg_last_error());
    expect_arr(v, (npg_shape)SH(2), NPG_FLOAT32, (double[]){NAN, NAN}, 0, 0, "topk two NaN largest");
    double *hi = t_read(i);
    cr_expect((hi[0] == 0 && hi[1] == 2) || (hi[0] == 2 && hi[1] == 0), "topk NaN indices %g %g", hi[0], hi[1]);
    free(hi);
    cr_assert_eq(npg_topk(xn, 3, 0, false, &v, &i), NPG_OK, "%s", npg_last_error());
    expect_arr(v, (npg_shape)SH(3), NPG_FLOAT32, (double[]){1, 3, NAN}, 0, 0, "topk smallest with NaN last");
    hi = t_read(i);
    cr_expect(hi[0] == 1 && hi[1] == 3 && (hi[2] == 0 || hi[2] == 2), "topk smallest indices %g %g %g", hi[0], hi[1], hi[2]);
    free(hi);
    /* ties: the indices point at equal values, each once */
    npg_array *xt = t_arr((double[]){2, 5, 5, 1, 5, 2}, NPG_FLOAT64, (npg_shape)SH(6));
    cr_assert_eq(npg_topk(xt, 4, 0, true, &v, &i), NPG_OK, "%s", npg_last_error());
    expect_arr(v, (npg_shape)SH(4), NPG_FLOAT64, (double[]){5, 5, 5, 2}, 0, 0, "topk with ties");
    hi = t_read(i);
    cr_expect(hi[0] != hi[1] && hi[1] != hi[2] && hi[0] != hi[2], "topk ties: repeated index");
    for (int k = 0; k < 3; k++) cr_expect(hi[k] == 1 || hi[k] == 2 || hi[k] == 4, "topk ties: index %g is not a 5", hi[k]);
    cr_expect(hi[3] == 0 || hi[3] == 5, "topk ties: index %g is not a 2", hi[3]);
    free(hi);
    npg_scope_end(sc);
    t_assert_no_leak(l0, "topk torch");
}

/* Random inputs against a sort: values exactly, indices by x[index] ==
 * value (ties and NaN may come in any order), distinct. */
static int g_tk_largest;
static int cmp_tk(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : (isnan(a) ? (g_tk_largest ? -1 : 1) : (g_tk_largest ? 1 : -1));
    return g_tk_largest ? (a > b ? -1 : a < b) : (a < b ? -1 : a > b);
}
Test(stats, topk_random) {
    t_live l0 = t_live_now();
    static const npg_dtype dts[9] = {NPG_FLOAT64, NPG_FLOAT32, NPG_INT32, NPG_UINT8, NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};
    static const icase cs[] = {{SH(6, 9), V_C, 0}, {SH(6, 9), V_T, 0}, {SH(4, 5, 3), V_S2, 0}, {SH(4, 5, 3), V_NEG, 0}, {SH(11), V_C, 0}};
    for (int di = 0; di < 9; di++)
        for (int ci = 0; ci < 5; ci++) {
            npg_scope sc = npg_scope_begin();
            npg_dtype dt = dts[di];
            npg_shape s = cs[ci].s;
            int64_t n = numel(s);
            double hv[200];
            trng r = {(uint64_t)(di * 31 + ci) * 7919 + 5};
            for (int64_t k = 0; k < n; k++) hv[k] = rand_val(dt, &r, 0.1, ci == 1);
            npg_array *x = as_view(hv, dt, s, cs[ci].v, isf(dt) ? 1e6 : 99);
            for (int ax = -1; ax < s.ndim; ax++) {
                int a = ax < 0 ? s.ndim - 1 : ax;
                int64_t len = s.dims[a], ks[4] = {0, 1, 2, len};
                for (int ki = 0; ki < 4; ki++)
                    for (int lg = 0; lg < 2; lg++) {
                        char l[200], b1[96];
                        snprintf(l, sizeof l, "topk(%s %s %s, k %lld, axis %d, %s)", npg_dtype_name(dt), sstr(s, b1),
                                 VNAME[cs[ci].v], (long long)ks[ki], ax, lg ? "largest" : "smallest");
                        npg_array *v = NULL, *ix = NULL;
                        g_checks++;
                        cr_assert_eq(npg_topk(x, ks[ki], ax, lg, &v, &ix), NPG_OK, "%s: %s", l, npg_last_error());
                        npg_shape so = s;
                        so.dims[a] = ks[ki];
                        t_assert_shape(v, so);
                        t_assert_shape(ix, so);
                        cr_assert_eq(npg_dtype_of(v), dt, "%s: values dtype", l);
                        cr_assert_eq(npg_dtype_of(ix), NPG_INT64, "%s: indices dtype", l);
                        double *gv = t_read(v), *gi = t_read(ix);
                        /* each line along a: outer index o, inner index in */
                        int64_t inner = 1, outer = 1;
                        for (int d = a + 1; d < s.ndim; d++) inner *= s.dims[d];
                        for (int d = 0; d < a; d++) outer *= s.dims[d];
                        double line[16];
                        for (int64_t o = 0; o < outer; o++)
                            for (int64_t in = 0; in < inner; in++) {
                                for (int64_t j = 0; j < len; j++) line[j] = hv[(o * len + j) * inner + in];
                                double sorted[16];
                                memcpy(sorted, line, sizeof(double) * (size_t)len);
                                g_tk_largest = lg;
                                qsort(sorted, (size_t)len, sizeof(double), cmp_tk);
                                bool used[16] = {0};
                                for (int64_t j = 0; j < ks[ki]; j++) {
                                    int64_t p = (o * ks[ki] + j) * inner + in;
                                    double val = gv[p], id = gi[p];
                                    bool ok = val == sorted[j] || (isnan(val) && isnan(sorted[j]));
                                    cr_assert(ok, "%s: line (%lld, %lld) element %lld: %g, want %g", l, (long long)o, (long long)in,
                                              (long long)j, val, sorted[j]);
                                    cr_assert(id >= 0 && id < len && !used[(int64_t)id], "%s: bad or repeated index %g", l, id);
                                    used[(int64_t)id] = true;
                                    double at = line[(int64_t)id];
                                    cr_assert(at == val || (isnan(at) && isnan(val)), "%s: x[%g] = %g is not the value %g", l, id, at, val);
                                }
                            }
                        free(gv), free(gi);
                        npg_free(v), npg_free(ix);
                    }
            }
            t_expect_unchanged(x, hv, n, "topk random input");
            npg_scope_end(sc);
        }
    t_assert_no_leak(l0, "topk random");
}

typedef struct gtk {
    int64_t k;
    int axis;
    bool largest, view;
} gtk;
static npg_array *topk_fn(npg_array *const *in, int n, void *user) {
    (void)n;
    const gtk *c = user;
    npg_array *v = NULL;
    return npg_topk(c->view ? npg_T(in[0]) : in[0], c->k, c->axis, c->largest, &v, NULL) == NPG_OK ? npg_square(v) : NULL;
}
Test(stats, topk_gradients) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    double v[24];
    distinct_vals(v, 24, 7);
    static const gtk cs[] = {{3, 1, true, false}, {3, 1, false, false}, {2, 0, true, true}, {4, -1, false, true},
                             {6, 1, true, false}, {1, 0, false, false}, {0, 1, true, false}};
    for (int i = 0; i < (int)(sizeof cs / sizeof cs[0]); i++) {
        npg_array *x = leaf(v, cs[i].view ? (npg_shape)SH(6, 4) : (npg_shape)SH(4, 6));
        gtk c = cs[i];
        g_checks++;
        cr_expect_eq(npg_gradcheck(topk_fn, &c, &x, 1, NULL), NPG_OK, "gradcheck topk k %lld axis %d largest %d view %d: %s",
                     (long long)c.k, c.axis, c.largest, c.view, npg_last_error());
        npg_clear_error();
    }
    /* explicit: the gradient lands on the selected elements */
    npg_array *x = leaf((double[]){0.5, -1, 3, 2, 0}, (npg_shape)SH(5)), *vals = NULL;
    cr_assert_eq(npg_topk(x, 2, 0, true, &vals, NULL), NPG_OK, "%s", npg_last_error());
    cr_expect(npg_requires_grad(vals), "topk values do not require grad");
    double *g = grad_of_sum(npg_multiply(vals, t_arr((double[]){10, 1}, NPG_FLOAT64, (npg_shape)SH(2))), x);
    t_assert_close_buf(g, (double[]){0, 0, 10, 1, 0}, 5, 0, 0, "d topk / dx");
    free(g);
    npg_scope_end(sc);
    t_assert_no_leak(l0, "topk gradients");
}

/* ------------------------------------------------------------------------
 * isclose / allclose
 * ------------------------------------------------------------------------ */

Test(stats, isclose_matches_numpy) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    static const struct {
        double rtol, atol;
        bool en;
        const double *want;
        const char *name;
    } cs[] = {{1e-5, 1e-8, false, ISC_D, "defaults"},
              {1e-5, 1e-8, true, ISC_DN, "defaults, equal_nan"},
              {0.25, 0, false, ISC_R, "rtol 0.25 (asymmetric)"},
              {1, 1e-8, true, ISC_BIG, "rtol 1: infinities only close to themselves"}};
    for (int di = 0; di < 2; di++)
        for (int vk = 0; vk < 2; vk++) {
            npg_dtype dt = di ? NPG_FLOAT32 : NPG_FLOAT64;
            npg_array *a = as_view(IA, dt, (npg_shape)SH(15), vk ? V_NEG : V_C, 0);
            npg_array *b = as_view(IB, dt, (npg_shape)SH(15), vk ? V_S2 : V_C, 0);
            for (int c = 0; c < 4; c++) {
                char l[160];
                snprintf(l, sizeof l, "isclose %s %s (%s)", npg_dtype_name(dt), vk ? "views" : "contiguous", cs[c].name);
                expect_arr(npg_isclose(a, b, cs[c].rtol, cs[c].atol, cs[c].en), (npg_shape)SH(15), NPG_BOOL, cs[c].want, 0, 0, l);
            }
        }
    /* broadcasting (3, 1) with (4,), float32 with float64 */
    npg_array *ba = t_arr((double[]){0, 1, 2.5}, NPG_FLOAT32, (npg_shape)SH(3, 1));
    npg_array *bb = t_arr((double[]){0, 1.05, 2.5, -1}, NPG_FLOAT64, (npg_shape)SH(4));
    expect_arr(npg_isclose(ba, bb, 0, 0.1, false), (npg_shape)SH(3, 4), NPG_BOOL, ISC_BCAST, 0, 0, "isclose broadcast");
    /* integers (compared as numbers: uint8 0 and 255 are not within 1.5) */
    npg_array *i1 = t_arr((double[]){1, 2, 100}, NPG_INT32, (npg_shape)SH(3));
    npg_array *i2 = t_arr((double[]){1, 3, 101}, NPG_INT64, (npg_shape)SH(3));
    expect_arr(npg_isclose(i1, i2, 0.01, 0, false), (npg_shape)SH(3), NPG_BOOL, ISC_INT, 0, 0, "isclose int32 / int64");
    npg_array *u1 = t_arr((double[]){0, 10, 200}, NPG_UINT8, (npg_shape)SH(3));
    npg_array *u2 = t_arr((double[]){255, 9, 201}, NPG_UINT8, (npg_shape)SH(3));
    expect_arr(npg_isclose(u1, u2, 0, 1.5, false), (npg_shape)SH(3), NPG_BOOL, ISC_U8, 0, 0, "isclose uint8 (no wrap-around)");
    expect_arr(npg_isclose(u2, u1, 0, 1.5, false), (npg_shape)SH(3), NPG_BOOL, ISC_U8, 0, 0, "isclose uint8 swapped");
    npg_array *f1 = t_arr((double[]){1.5, 2, 100}, NPG_FLOAT32, (npg_shape)SH(3));
    expect_arr(npg_isclose(i1, f1, 0, 0.5, false), (npg_shape)SH(3), NPG_BOOL, (double[]){1, 1, 1}, 0, 0, "isclose int32 / float32");
    expect_arr(npg_isclose(i1, f1, 0, 0.25, false), (npg_shape)SH(3), NPG_BOOL, (double[]){0, 1, 1}, 0, 0, "isclose int32 / float32");
    /* empty */
    npg_array *e = t_arr((double[]){0}, NPG_FLOAT32, (npg_shape)SH(0, 3));
    expect_arr(npg_isclose(e, e, 1e-5, 1e-8, false), (npg_shape)SH(0, 3), NPG_BOOL, NULL, 0, 0, "isclose empty");
    /* allclose: 1 / 0 */
    npg_array *a = t_arr((double[]){1, 2, INFINITY, NAN}, NPG_FLOAT64, (npg_shape)SH(4));
    npg_array *b = t_arr((double[]){1, 2.000001, INFINITY, NAN}, NPG_FLOAT32, (npg_shape)SH(4));
    cr_expect_eq(npg_allclose(a, b, 1e-5, 1e-8, true), 1, "allclose with equal_nan");
    cr_expect_eq(npg_allclose(a, b, 1e-5, 1e-8, false), 0, "allclose: NaN without equal_nan");
    cr_expect_eq(npg_allclose(a, b, 1e-9, 0, true), 0, "allclose: 2 and 2.000001 with rtol 1e-9");
    cr_expect_eq(npg_allclose(npg_T(ba), ba, 0, 0, false), 0, "allclose broadcast (1,3) / (3,1)");
    cr_expect_eq(npg_allclose(ba, npg_T(npg_T(ba)), 0, 0, false), 1, "allclose of x with itself");
    cr_expect_eq(npg_allclose(e, e, 0, 0, false), 1, "allclose of empty arrays");
    npg_array *one = t_arr((double[]){1}, NPG_FLOAT64, (npg_shape)SH0);
    cr_expect_eq(npg_allclose(one, t_arr((double[]){1, 1.0000001}, NPG_FLOAT64, (npg_shape)SH(2)), 1e-5, 0, false), 1,
                 "allclose 0-d with 1-d");
    cr_expect_eq(npg_allclose(u1, u2, 0, 1.5, false), 0, "allclose uint8");
    cr_expect_eq(npg_allclose(npg_isclose(a, a, 0, 0, true), npg_isclose(b, b, 0, 0, true), 0, 0, false), 1, "allclose of bool results");
    /* errors: -1 and an error */
    t_live l1 = t_live_now();
    npg_clear_error();
    cr_expect_eq(npg_allclose(a, i1, 1e-5, 1e-8, false), -1, "allclose of (4,) and (3,) must be -1");
    expect_err(NPG_ERR_SHAPE, "npg_allclose", "allclose shapes");
    cr_expect_eq(npg_allclose(NULL, a, 1e-5, 1e-8, false), -1, "allclose NULL");
    expect_err(NPG_ERR_NULL_ARG, "npg_allclose", "allclose NULL");
    cr_expect_eq(npg_allclose(a, NULL, 1e-5, 1e-8, false), -1, "allclose NULL b");
    expect_err(NPG_ERR_NULL_ARG, "npg_allclose", "allclose NULL b");
    EXPECT_NULL(npg_isclose(a, i1, 1e-5, 1e-8, false), NPG_ERR_SHAPE, "npg_isclose");
    EXPECT_NULL(npg_isclose(NULL, a, 1e-5, 1e-8, false), NPG_ERR_NULL_ARG, "npg_isclose");
    EXPECT_NULL(npg_isclose(a, NULL, 1e-5, 1e-8, false), NPG_ERR_NULL_ARG, "npg_isclose");
    t_assert_no_leak(l1, "failed isclose");
    t_expect_unchanged(a, (double[]){1, 2, INFINITY, NAN}, 4, "isclose input");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "isclose");
}

/* ------------------------------------------------------------------------
 * cov / corrcoef
 * ------------------------------------------------------------------------ */

/* Host covariance of the rows of v (nv x no) with divisor no - corr. */
static void ref_cov(const double *v, int nv, int no, double corr, double *out) {
    double mean[16];
    for (int i = 0; i < nv; i++) {
        mean[i] = 0;
        for (int k = 0; k < no; k++) mean[i] += v[i * no + k];
        mean[i] /= no;
    }
    for (int i = 0; i < nv; i++)
        for (int j = 0; j < nv; j++) {
            double s = 0;
            for (int k = 0; k < no; k++) s += (v[i * no + k] - mean[i]) * (v[j * no + k] - mean[j]);
            out[i * nv + j] = s / (no - corr);
        }
}

Test(stats, cov_corrcoef_match_numpy) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++)
        for (int vk = 0; vk < 4; vk++) {
            npg_dtype dt = di ? NPG_FLOAT32 : NPG_FLOAT64;
            double rt = di ? 1e-4 : 1e-12;
            char l[160];
            npg_array *x = as_view(CX, dt, (npg_shape)SH(3, 7), (vkind)vk, NAN);
            static const double *const covs[3] = {COV_D0, COV_D1, COV_D2};
            for (int d = 0; d < 3; d++) {
                snprintf(l, sizeof l, "cov %s %s correction %d", npg_dtype_name(dt), VNAME[vk], d);
                expect_arr(npg_cov(x, d), (npg_shape)SH(3, 3), dt, covs[d], rt, rt, l);
            }
            snprintf(l, sizeof l, "corrcoef %s %s", npg_dtype_name(dt), VNAME[vk]);
            npg_array *r = npg_corrcoef(x);
            expect_arr(r, (npg_shape)SH(3, 3), dt, CORR, rt, rt, l);
            double cx[21];
            cast_vals(CX, cx, 21, dt);
            t_expect_unchanged(x, cx, 21, l);
            /* 1-d: the variance, 0-d */
            npg_array *x1 = as_view(CX, dt, (npg_shape)SH(7), vk == 1 ? V_NEG : (vkind)vk, NAN);
            snprintf(l, sizeof l, "cov 1-d %s %s", npg_dtype_name(dt), VNAME[vk]);
            expect_arr(npg_cov(x1, 1), (npg_shape)SH0, dt, COV_1D, rt, rt, l);
            /* a constant row: NaN in its row and column; others clipped */
            npg_array *c = as_view(CC, dt, (npg_shape)SH(4, 4), (vkind)vk, NAN);
            snprintf(l, sizeof l, "corrcoef with a constant row %s %s", npg_dtype_name(dt), VNAME[vk]);
            npg_array *rc = npg_corrcoef(c);
            expect_arr(rc, (npg_shape)SH(4, 4), dt, CORR_CC, rt, rt, l);
            double *h = t_read(rc);
            for (int k = 0; k < 16; k++)
                cr_expect(isnan(h[k]) || (h[k] >= -1 && h[k] <= 1), "%s: element %d = %.17g is outside [-1, 1]", l, k, h[k]);
            free(h);
            snprintf(l, sizeof l, "cov with a constant row %s %s", npg_dtype_name(dt), VNAME[vk]);
            expect_arr(npg_cov(c, 1), (npg_shape)SH(4, 4), dt, COV_CC, rt, rt, l);
        }
    /* clipping: perfectly (anti-)correlated rows whose computed r may round
     * past 1 (scaled rows, many observations) */
    double pc[3 * 41];
    for (int k = 0; k < 41; k++) {
        pc[k] = 0.1 * k + 0.3 * sin(k);
        pc[41 + k] = 3.7 * pc[k] - 1.3;
        pc[82 + k] = -0.37 * pc[k] + 11;
    }
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = di ? NPG_FLOAT32 : NPG_FLOAT64;
        npg_array *r = npg_corrcoef(t_arr(pc, dt, (npg_shape)SH(3, 41)));
        double want[9] = {1, 1, -1, 1, 1, -1, -1, -1, 1};
        expect_arr(r, (npg_shape)SH(3, 3), dt, want, di ? 1e-5 : 1e-12, 0, "corrcoef of collinear rows");
        double *h = t_read(r);
        for (int k = 0; k < 9; k++)
            cr_expect(h[k] >= -1 && h[k] <= 1, "corrcoef %s element %d = %.17g is not clipped", npg_dtype_name(dt), k, h[k]);
        free(h);
    }
    /* random (5, 13) against the host */
    double rv[65], want[25];
    t_fill_uniform(rv, 65, -3, 3, 17);
    npg_array *xr = as_view(rv, NPG_FLOAT64, (npg_shape)SH(5, 13), V_T, NAN);
    for (int d = 0; d < 2; d++) {
        ref_cov(rv, 5, 13, d, want);
        expect_arr(npg_cov(xr, d), (npg_shape)SH(5, 5), NPG_FLOAT64, want, 1e-12, 1e-12, "cov random (5,13)");
    }
    /* integers: a floating result */
    double ci[21];
    for (int k = 0; k < 21; k++) ci[k] = rint(CX[k] * 100);
    double wi[9];
    for (int k = 0; k < 9; k++) wi[k] = COV_D1[k] * 1e4;
    expect_arr(npg_cov(t_arr(ci, NPG_INT32, (npg_shape)SH(3, 7)), 1), (npg_shape)SH(3, 3), ANY_FLOAT, wi, 1e-5, 1e-3, "cov int32");
    expect_arr(npg_corrcoef(t_arr(ci, NPG_INT64, (npg_shape)SH(3, 7))), (npg_shape)SH(3, 3), ANY_FLOAT, CORR, 1e-5, 1e-6,
               "corrcoef int64");
    /* 1-d corrcoef: NumPy's 1.0 (0-d) */
    expect_arr(npg_corrcoef(t_arr(CX, NPG_FLOAT64, (npg_shape)SH(7))), (npg_shape)SH0, NPG_FLOAT64, (double[]){1}, 1e-12, 0,
               "corrcoef of a 1-d array");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "cov");
}

typedef struct gcov {
    int which; /* 0 cov, 1 corrcoef */
    double corr;
    bool view;
} gcov;
static npg_array *cov_fn(npg_array *const *in, int n, void *user) {
    (void)n;
    const gcov *c = user;
    npg_array *x = c->view ? npg_T(in[0]) : in[0];
    return c->which ? npg_corrcoef(x) : npg_cov(x, c->corr);
}
Test(stats, cov_corrcoef_gradients) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    double v[28];
    t_fill_uniform(v, 28, -2, 2, 23);
    static const gcov cs[] = {{0, 0, false}, {0, 1, false}, {0, 1, true}, {1, 0, false}, {1, 0, true}};
    for (int i = 0; i < 5; i++) {
        gcov c = cs[i];
        npg_array *x = leaf(v, c.view ? (npg_shape)SH(7, 4) : (npg_shape)SH(4, 7));
        g_checks++;
        cr_expect_eq(npg_gradcheck(cov_fn, &c, &x, 1, NULL), NPG_OK, "gradcheck %s correction %g view %d: %s",
                     c.which ? "corrcoef" : "cov", c.corr, c.view, npg_last_error());
        npg_clear_error();
    }
    gcov c1 = {0, 1, false};
    npg_array *x1 = leaf(v, (npg_shape)SH(9));
    cr_expect_eq(npg_gradcheck(cov_fn, &c1, &x1, 1, NULL), NPG_OK, "gradcheck cov 1-d: %s", npg_last_error());
    npg_clear_error();
    npg_scope_end(sc);
    t_assert_no_leak(l0, "cov gradients");
}

/* ------------------------------------------------------------------------
 * bincount
 * ------------------------------------------------------------------------ */

Test(stats, bincount_matches_numpy) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    static const npg_dtype its[8] = {NPG_INT64, NPG_INT32, NPG_UINT8, NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};
    static const double *const cnt[3] = {BIN_M0, BIN_M5, BIN_M10}, *const wcnt[3] = {BINW_M0, BINW_M5, BINW_M10};
    static const int64_t mls[3] = {0, 5, 10};
    for (int ii = 0; ii < 8; ii++)
        for (int vk = 0; vk < 3; vk += 2) { /* contiguous, step-2 */
            npg_array *x = as_view(BX, its[ii], (npg_shape)SH(7), (vkind)vk, 99);
            npg_array *w = as_view(BW, NPG_FLOAT64, (npg_shape)SH(7), vk ? V_NEG : V_C, 1e6);
            npg_array *w32 = t_arr(BW, NPG_FLOAT32, (npg_shape)SH(7));
            for (int mi = 0; mi < 3; mi++) {
                char l[128];
                int64_t len = mls[mi] > 8 ? mls[mi] : 8;
                snprintf(l, sizeof l, "bincount %s %s minlength %lld", npg_dtype_name(its[ii]), VNAME[vk], (long long)mls[mi]);
                expect_arr(npg_bincount(x, NULL, mls[mi]), (npg_shape)SH(len), NPG_INT64, cnt[mi], 0, 0, l);
                snprintf(l, sizeof l, "bincount %s %s minlength %lld, float64 weights", npg_dtype_name(its[ii]), VNAME[vk],
                         (long long)mls[mi]);
                expect_arr(npg_bincount(x, w, mls[mi]), (npg_shape)SH(len), NPG_FLOAT64, wcnt[mi], 1e-12, 0, l);
                snprintf(l, sizeof l, "bincount %s minlength %lld, float32 weights", npg_dtype_name(its[ii]), (long long)mls[mi]);
                expect_arr(npg_bincount(x, w32, mls[mi]), (npg_shape)SH(len), ANY_FLOAT, wcnt[mi], 1e-6, 0, l);
            }
            t_expect_unchanged(x, BX, 7, "bincount x");
            t_expect_unchanged(w, BW, 7, "bincount weights");
        }
    /* integer weights: a floating result */
    npg_array *x = t_arr(BX, NPG_INT64, (npg_shape)SH(7));
    expect_arr(npg_bincount(x, t_arr((double[]){1, 2, 3, 4, 5, 6, 7}, NPG_INT32, (npg_shape)SH(7)), 0), (npg_shape)SH(8), ANY_FLOAT,
               (double[]){1, 2 + 3 + 6, 5, 4, 0, 0, 0, 7}, 0, 0, "bincount int32 weights");
    /* empty x: length minlength */
    npg_array *e = t_arr((double[]){0}, NPG_INT64, (npg_shape)SH(0)), *ew = t_arr((double[]){0}, NPG_FLOAT64, (npg_shape)SH(0));
    expect_arr(npg_bincount(e, NULL, 0), (npg_shape)SH(0), NPG_INT64, NULL, 0, 0, "bincount of empty, minlength 0");
    expect_arr(npg_bincount(e, NULL, 4), (npg_shape)SH(4), NPG_INT64, (double[]){0, 0, 0, 0}, 0, 0, "bincount of empty, minlength 4");
    expect_arr(npg_bincount(e, ew, 3), (npg_shape)SH(3), NPG_FLOAT64, (double[]){0, 0, 0}, 0, 0, "bincount of empty with weights");
    /* uint64 values from 2^63 up are too large, not negative int64s */
    for (int k = 0; k < 2; k++) {
        npg_array *u = npg_from_data((uint64_t[]){3, k ? UINT64_MAX : (uint64_t)1 << 63}, NPG_UINT64, (npg_shape)SH(2),
                                     NPG_OPTS(.device = t_dev()));
        cr_assert_null(npg_bincount(u, NULL, 10), "uint64 %d", k);
        t_assert_error(NPG_ERR_OOM, "needs more bins");
    }
    /* random against the host */
    double rx[301], rw[301], wc[40], ww[40];
    t_fill_uniform(rx, 301, 0, 37, 5);
    t_fill_uniform(rw, 301, -1, 1, 6);
    int64_t mx = 0;
    memset(wc, 0, sizeof wc), memset(ww, 0, sizeof ww);
    for (int k = 0; k < 301; k++) {
        rx[k] = floor(rx[k]);
        mx = (int64_t)rx[k] > mx ? (int64_t)rx[k] : mx;
        wc[(int)rx[k]] += 1, ww[(int)rx[k]] += rw[k];
    }
    npg_array *xr = t_arr(rx, NPG_INT32, (npg_shape)SH(301)), *wr = t_arr(rw, NPG_FLOAT64, (npg_shape)SH(301));
    expect_arr(npg_bincount(xr, NULL, 3), (npg_shape)SH(mx + 1), NPG_INT64, wc, 0, 0, "bincount random");
    expect_arr(npg_bincount(xr, wr, 40), (npg_shape)SH(40), NPG_FLOAT64, ww, 1e-12, 1e-12, "bincount random weighted, minlength 40");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "bincount");
}

/* ------------------------------------------------------------------------
 * histogram
 * ------------------------------------------------------------------------ */

/* numpy.histogram's bin of v (1.24: linspace edges, then the index from
 * (v - lo) * bins / (hi - lo) corrected against the edges), -1 outside. */
static double ref_edge(int64_t k, int64_t bins, double lo, double hi) {
    volatile double t = (double)k * ((hi - lo) / (double)bins); /* no FMA: NumPy rounds twice */
    return k == bins ? hi : t + lo;
}
static int64_t ref_bin(double v, int64_t bins, double lo, double hi) {
    if (!(v >= lo && v <= hi)) return -1;
    volatile double f = v - lo;
    int64_t i = (int64_t)(f * ((double)bins / (hi - lo)));
    if (i == bins) i--;
    if (v < ref_edge(i, bins, lo, hi)) i--;
    if (v >= ref_edge(i + 1, bins, lo, hi) && i != bins - 1) i++;
    return i;
}

Test(stats, histogram_matches_numpy) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    static const struct {
        int64_t bins;
        double lo, hi;
        const double *cnt, *wcnt;
        bool dyadic; /* edges exact in binary: float32 x sees the same bins */
    } cs[] = {{4, 0, 1, HIST_B4, HISTW_B4, true},
              {10, 0, 1, HIST_B10, HISTW_B10, false},
              {3, -1, 2, HIST_B3, HISTW_B3, true},
              {1, 0, 1, HIST_B1, HISTW_B1, true},
              {7, 0.1, 0.8, HIST_B7, HISTW_B7, false}};
    for (int di = 0; di < 2; di++)
        for (int vk = 0; vk < 2; vk++) {
            npg_dtype dt = di ? NPG_FLOAT32 : NPG_FLOAT64;
            /* (3, 6), transposed views of x and weights alike: pairs kept */
            npg_array *x = as_view(HX, dt, (npg_shape)SH(3, 6), vk ? V_T : V_C, 0.5);
            npg_array *w = as_view(HW, NPG_FLOAT64, (npg_shape)SH(3, 6), vk ? V_T : V_C, 100);
            for (int c = 0; c < 5; c++) {
                if (di && !cs[c].dyadic) continue;
                char l[160];
                snprintf(l, sizeof l, "histogram %s %s, %lld bins over [%g, %g]", npg_dtype_name(dt), vk ? "transposed" : "(3,6)",
                         (long long)cs[c].bins, cs[c].lo, cs[c].hi);
                expect_arr(npg_histogram(x, cs[c].bins, cs[c].lo, cs[c].hi, NULL), (npg_shape)SH(cs[c].bins), NPG_INT64, cs[c].cnt, 0,
                           0, l);
                strcat(l, ", weighted");
                expect_arr(npg_histogram(x, cs[c].bins, cs[c].lo, cs[c].hi, w), (npg_shape)SH(cs[c].bins), NPG_FLOAT64, cs[c].wcnt,
                           1e-12, 1e-12, l);
            }
            double hx[18];
            cast_vals(HX, hx, 18, dt);
            t_expect_unchanged(x, hx, 18, "histogram x");
        }
    /* values on NumPy's linspace edges and on the decimal edges lo + k (hi -
     * lo) / bins: the truncated index is one off in both directions there */
    static const struct {
        int64_t bins;
        double lo, hi;
        const double *x, *cnt;
        int64_t n;
    } es[] = {{7, 0, 1, HE_X_7_0p0_1p0, HE_7_0p0_1p0, 16},     {18, 0, 1, HE_X_18_0p0_1p0, HE_18_0p0_1p0, 38},
              {20, 0, 1, HE_X_20_0p0_1p0, HE_20_0p0_1p0, 42},  {13, 0.1, 0.8, HE_X_13_0p1_0p8, HE_13_0p1_0p8, 28},
              {9, -1, 2, HE_X_9_m1p0_2p0, HE_9_m1p0_2p0, 20}};
    for (int c = 0; c < 5; c++) {
        char l[128];
        snprintf(l, sizeof l, "histogram of the edges, %lld bins over [%g, %g]", (long long)es[c].bins, es[c].lo, es[c].hi);
        for (int vk = 0; vk < 2; vk++)
            expect_arr(npg_histogram(as_view(es[c].x, NPG_FLOAT64, (npg_shape)SH(es[c].n), vk ? V_NEG : V_C, NAN), es[c].bins, es[c].lo,
                                     es[c].hi, NULL),
                       (npg_shape)SH(es[c].bins), NPG_INT64, es[c].cnt, 0, 0, l);
        /* the host reference used below agrees with NumPy here */
        double ref[20] = {0};
        for (int64_t k = 0; k < es[c].n; k++) ref[ref_bin(es[c].x[k], es[c].bins, es[c].lo, es[c].hi)]++;
        strcat(l, " (host reference)");
        t_assert_close_buf(ref, es[c].cnt, es[c].bins, 0, 0, l);
    }
    /* 1-d float32 weights; integer x */
    npg_array *x1 = t_arr(HX, NPG_FLOAT64, (npg_shape)SH(18));
    expect_arr(npg_histogram(x1, 4, 0, 1, t_arr(HW, NPG_FLOAT32, (npg_shape)SH(18))), (npg_shape)SH(4), ANY_FLOAT, HISTW_B4, 1e-6, 0,
               "histogram float32 weights");
    expect_arr(npg_histogram(t_arr(HXI, NPG_INT32, (npg_shape)SH(10)), 3, 0, 6, NULL), (npg_shape)SH(3), NPG_INT64, HIST_INT, 0, 0,
               "histogram int32 x");
    /* empty x: zeros */
    npg_array *e = t_arr((double[]){0}, NPG_FLOAT32, (npg_shape)SH(0));
    expect_arr(npg_histogram(e, 3, 0, 1, NULL), (npg_shape)SH(3), NPG_INT64, (double[]){0, 0, 0}, 0, 0, "histogram of empty");
    /* random values on a 1/64 grid: many exactly on (binary-exact) edges */
    double rv[500];
    t_fill_uniform(rv, 500, -1.3, 1.8, 77);
    for (int k = 0; k < 500; k++) rv[k] = round(rv[k] * 64) / 64;
    rv[3] = NAN, rv[10] = INFINITY, rv[11] = -INFINITY;
    static const struct {
        int64_t bins;
        double lo, hi;
        bool dyadic;
    } rs[] = {{8, 0, 1, true}, {5, -1, 1.5, true}, {16, -1, 1, true}, {12, -0.75, 1.25, false}, {7, -1, 1.5, false}};
    for (int di = 0; di < 2; di++)
        for (int c = 0; c < 5; c++) {
            npg_dtype dt = di ? NPG_FLOAT32 : NPG_FLOAT64;
            if (di && !rs[c].dyadic) continue; /* NumPy's float64 edges only */
            double want[16] = {0}, ww[16] = {0}, w[500];
            t_fill_uniform(w, 500, 0, 1, 78);
            for (int k = 0; k < 500; k++) {
                int64_t b = ref_bin(rv[k], rs[c].bins, rs[c].lo, rs[c].hi);
                if (b >= 0) want[b]++, ww[b] += w[k];
            }
            char l[128];
            snprintf(l, sizeof l, "histogram random %s, %lld bins over [%g, %g]", npg_dtype_name(dt), (long long)rs[c].bins,
                     rs[c].lo, rs[c].hi);
            npg_array *x = t_arr(rv, dt, (npg_shape)SH(20, 25));
            expect_arr(npg_histogram(x, rs[c].bins, rs[c].lo, rs[c].hi, NULL), (npg_shape)SH(rs[c].bins), NPG_INT64, want, 0, 0, l);
            strcat(l, ", weighted");
            expect_arr(npg_histogram(x, rs[c].bins, rs[c].lo, rs[c].hi, t_arr(w, NPG_FLOAT64, (npg_shape)SH(20, 25))),
                       (npg_shape)SH(rs[c].bins), NPG_FLOAT64, ww, 1e-12, 1e-12, l);
        }
    npg_scope_end(sc);
    t_assert_no_leak(l0, "histogram");
}

typedef struct gbin {
    npg_array *x;
    int which; /* 0 bincount, 1 histogram */
} gbin;
static npg_array *bin_fn(npg_array *const *in, int n, void *user) {
    (void)n;
    const gbin *c = user;
    return c->which ? npg_square(npg_histogram(c->x, 4, 0, 1, in[0])) : npg_square(npg_bincount(c->x, in[0], 9));
}
Test(stats, bincount_histogram_gradients) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    npg_array *w = leaf(BW, (npg_shape)SH(7));
    gbin c = {t_arr(BX, NPG_INT64, (npg_shape)SH(7)), 0};
    cr_expect_eq(npg_gradcheck(bin_fn, &c, &w, 1, NULL), NPG_OK, "gradcheck bincount weights: %s", npg_last_error());
    npg_clear_error();
    npg_array *hw = leaf(HW, (npg_shape)SH(3, 6));
    gbin h = {t_arr(HX, NPG_FLOAT64, (npg_shape)SH(3, 6)), 1};
    cr_expect_eq(npg_gradcheck(bin_fn, &h, &hw, 1, NULL), NPG_OK, "gradcheck histogram weights: %s", npg_last_error());
    npg_clear_error();
    /* explicit: d sum(bincount(x, w) * [1, 2, ...]) / dw = (x + 1) */
    npg_array *bc = npg_bincount(c.x, w, 0);
    cr_assert(bc && npg_requires_grad(bc), "bincount with weights that require grad: %s", npg_last_error());
    double *g = grad_of_sum(npg_multiply(bc, npg_arange(1, 9, 1, OPT(.dtype = NPG_FLOAT64))), w);
    t_assert_close_buf(g, (double[]){1, 2, 2, 4, 3, 2, 8}, 7, 0, 0, "d bincount / dw");
    free(g);
    /* histogram: elements outside [lo, hi] and NaN get no gradient */
    npg_array *hs = npg_histogram(h.x, 4, 0, 1, hw);
    cr_assert(hs && npg_requires_grad(hs), "histogram with weights that require grad: %s", npg_last_error());
    g = grad_of_sum(npg_multiply(hs, npg_arange(1, 5, 1, OPT(.dtype = NPG_FLOAT64))), hw);
    double want[18];
    for (int k = 0; k < 18; k++) want[k] = (double)(ref_bin(HX[k], 4, 0, 1) + 1);
    t_assert_close_buf(g, want, 18, 0, 0, "d histogram / dw");
    free(g);
    npg_scope_end(sc);
    t_assert_no_leak(l0, "bincount / histogram gradients");
}

/* ------------------------------------------------------------------------
 * Errors: status, a message naming the function, no leak, inputs unchanged
 * ------------------------------------------------------------------------ */

Test(stats, errors_reductions) {
    npg_scope sc = npg_scope_begin();
    double v[24];
    for (int i = 0; i < 24; i++) v[i] = i * 0.5 - 3;
    npg_array *x = t_arr(v, NPG_FLOAT32, (npg_shape)SH(2, 3, 4));
    npg_array *xb = t_arr((double[]){1, 0, 1}, NPG_BOOL, (npg_shape)SH(3));
    npg_array *z = t_arr((double[]){1}, NPG_FLOAT64, (npg_shape)SH0);
    static const npg_axes bad[] = {{1, {3}}, {1, {-4}}, {2, {0, 0}}, {2, {1, -2}}};
    t_live before = t_live_now();
    for (int nan = 0; nan < 2; nan++) {
        const char *fn = nan ? "npg_nanquantile" : "npg_quantile";
        npg_array *(*q)(npg_array *, double, npg_axes, bool, npg_quantile_method) = nan ? npg_nanquantile : npg_quantile;
        char l[128];
        snprintf(l, sizeof l, "%s(NULL)", fn);
        npg_clear_error();
        cr_expect(q(NULL, 0.5, NPG_ALL_AXES, false, NPG_QUANTILE_LINEAR) == NULL, "%s", l);
        expect_err(NPG_ERR_NULL_ARG, fn, l);
        static const double badq[] = {-0.01, 1.0000001, NAN, INFINITY, -INFINITY};
        for (int k = 0; k < 5; k++) {
            snprintf(l, sizeof l, "%s q %g", fn, badq[k]);
            cr_expect(q(x, badq[k], NPG_ALL_AXES, false, NPG_QUANTILE_LINEAR) == NULL, "%s must fail", l);
            expect_err(NPG_ERR_INVALID_ARG, fn, l);
        }
        static const int badm[] = {-1, 5, 1000};
        for (int k = 0; k < 3; k++) {
            snprintf(l, sizeof l, "%s method %d", fn, badm[k]);
            cr_expect(q(x, 0.5, NPG_AXES(1), false, (npg_quantile_method)badm[k]) == NULL, "%s must fail", l);
            expect_err(NPG_ERR_INVALID_ARG, fn, l);
        }
        for (int k = 0; k < 4; k++) {
            snprintf(l, sizeof l, "%s bad axes %d", fn, k);
            cr_expect(q(x, 0.5, bad[k], true, NPG_QUANTILE_LINEAR) == NULL, "%s must fail", l);
            expect_err(NPG_ERR_AXIS, fn, l);
        }
        snprintf(l, sizeof l, "%s axis 0 of a 0-d array", fn);
        cr_expect(q(z, 0.5, NPG_AXES(0), false, NPG_QUANTILE_LINEAR) == NULL, "%s must fail", l);
        expect_err(NPG_ERR_AXIS, fn, l);
        snprintf(l, sizeof l, "%s of bool", fn);
        cr_expect(q(xb, 0.5, NPG_ALL_AXES, false, NPG_QUANTILE_LINEAR) == NULL, "%s must fail", l);
        expect_err(NPG_ERR_DTYPE, fn, l);
        /* a NULL from a failed call keeps that call's error */
        npg_clear_error();
        cr_expect(q(npg_matmul(x, x), 0.5, NPG_ALL_AXES, false, NPG_QUANTILE_LINEAR) == NULL, "%s of a failed matmul", fn);
        expect_err(NPG_ERR_SHAPE, "npg_matmul", "quantile of a failed matmul keeps matmul's error");
    }
    for (int f = F_MED; f <= F_NMEAN; f++) {
        char l[128];
        sspec sp = {f, 0.5, 0, NPG_ALL_AXES, false};
        snprintf(l, sizeof l, "%s(NULL)", FNAME[f]);
        npg_clear_error();
        cr_expect(scall(&sp, NULL) == NULL, "%s", l);
        expect_err(NPG_ERR_NULL_ARG, FNAME[f], l);
        for (int k = 0; k < 4; k++) {
            sp.axes = bad[k];
            snprintf(l, sizeof l, "%s bad axes %d", FNAME[f], k);
            cr_expect(scall(&sp, x) == NULL, "%s must fail", l);
            expect_err(NPG_ERR_AXIS, FNAME[f], l);
        }
        if (f <= F_NMED) {
            sp.axes = NPG_ALL_AXES;
            snprintf(l, sizeof l, "%s of bool", FNAME[f]);
            cr_expect(scall(&sp, xb) == NULL, "%s must fail", l);
            expect_err(NPG_ERR_DTYPE, FNAME[f], l);
        }
    }
    t_assert_no_leak(before, "failed reductions");
    t_expect_unchanged(x, v, 24, "reduction errors");
    npg_scope_end(sc);
}

Test(stats, errors_topk) {
    npg_scope sc = npg_scope_begin();
    npg_array *x = t_arr(TX, NPG_FLOAT64, (npg_shape)SH(3, 6));
    npg_array *z = t_arr((double[]){1}, NPG_FLOAT64, (npg_shape)SH0);
    t_live before = t_live_now();
    static const struct {
        int64_t k;
        int axis;
        npg_status st;
    } cs[] = {{-1, 1, NPG_ERR_INVALID_ARG}, {7, 1, NPG_ERR_INVALID_ARG}, {4, 0, NPG_ERR_INVALID_ARG},
              {1, 2, NPG_ERR_AXIS},         {1, -3, NPG_ERR_AXIS},        {1, NPG_FLAT, NPG_ERR_AXIS}};
    for (int i = 0; i < 6; i++) {
        npg_array *v = (npg_array *)1, *ix = (npg_array *)1;
        char l[96];
        snprintf(l, sizeof l, "topk k %lld axis %d", (long long)cs[i].k, cs[i].axis);
        npg_clear_error();
        cr_expect_eq(npg_topk(x, cs[i].k, cs[i].axis, true, &v, &ix), cs[i].st, "%s: returned another status", l);
        cr_expect(v == NULL && ix == NULL, "%s: outputs not set to NULL on failure", l);
        expect_err(cs[i].st, "npg_topk", l);
    }
    npg_array *v = (npg_array *)1, *ix = (npg_array *)1;
    npg_clear_error();
    cr_expect_eq(npg_topk(NULL, 1, 0, true, &v, &ix), NPG_ERR_NULL_ARG, "topk(NULL)");
    cr_expect(v == NULL && ix == NULL, "topk(NULL): outputs not set to NULL");
    expect_err(NPG_ERR_NULL_ARG, "npg_topk", "topk(NULL)");
    v = (npg_array *)1;
    cr_expect_eq(npg_topk(z, 1, 0, true, &v, NULL), NPG_ERR_AXIS, "topk axis 0 of a 0-d array");
    cr_expect(v == NULL, "topk 0-d: values not set to NULL");
    expect_err(NPG_ERR_AXIS, "npg_topk", "topk axis 0 of a 0-d array");
    t_assert_no_leak(before, "failed topk");
    t_expect_unchanged(x, TX, 18, "topk errors");
    npg_scope_end(sc);
}

Test(stats, errors_cov_bincount_histogram) {
    npg_scope sc = npg_scope_begin();
    npg_array *x3 = t_arr(QX, NPG_FLOAT64, (npg_shape)SH(2, 2, 5));
    npg_array *bx = t_arr(BX, NPG_INT64, (npg_shape)SH(7)), *bw = t_arr(BW, NPG_FLOAT64, (npg_shape)SH(7));
    npg_array *hx = t_arr(HX, NPG_FLOAT64, (npg_shape)SH(18));
    npg_array *neg = t_arr((double[]){0, 3, -1, 2}, NPG_INT32, (npg_shape)SH(4));
    npg_array *w4 = t_arr((double[]){1, 1, 1, 1}, NPG_FLOAT64, (npg_shape)SH(4)), *bxf = t_arr(BX, NPG_FLOAT32, (npg_shape)SH(7));
    npg_array *bx2 = t_arr(QX, NPG_INT64, (npg_shape)SH(4, 5)), *bw6 = t_arr(BW, NPG_FLOAT64, (npg_shape)SH(6));
    t_live before = t_live_now();
    EXPECT_NULL(npg_cov(NULL, 1), NPG_ERR_NULL_ARG, "npg_cov");
    EXPECT_NULL(npg_cov(x3, 1), NPG_ERR_SHAPE, "npg_cov");
    EXPECT_NULL(npg_corrcoef(NULL), NPG_ERR_NULL_ARG, "npg_corrcoef");
    EXPECT_NULL(npg_corrcoef(x3), NPG_ERR_SHAPE, "npg_corrcoef");
    EXPECT_NULL(npg_bincount(NULL, NULL, 0), NPG_ERR_NULL_ARG, "npg_bincount");
    EXPECT_NULL(npg_bincount(neg, NULL, 0), NPG_ERR_INDEX, "npg_bincount");
    EXPECT_NULL(npg_bincount(neg, w4, 0), NPG_ERR_INDEX, "npg_bincount");
    EXPECT_NULL(npg_bincount(hx, NULL, 0), NPG_ERR_DTYPE, "npg_bincount");
    EXPECT_NULL(npg_bincount(bxf, NULL, 0), NPG_ERR_DTYPE, "npg_bincount");
    EXPECT_NULL(npg_bincount(bx2, NULL, 0), NPG_ERR_SHAPE, "npg_bincount");
    EXPECT_NULL(npg_bincount(bx, bw6, 0), NPG_ERR_SHAPE, "npg_bincount");
    EXPECT_NULL(npg_bincount(bx, NULL, -1), NPG_ERR_INVALID_ARG, "npg_bincount");
    EXPECT_NULL(npg_histogram(NULL, 4, 0, 1, NULL), NPG_ERR_NULL_ARG, "npg_histogram");
    EXPECT_NULL(npg_histogram(hx, 0, 0, 1, NULL), NPG_ERR_INVALID_ARG, "npg_histogram");
    EXPECT_NULL(npg_histogram(hx, -3, 0, 1, NULL), NPG_ERR_INVALID_ARG, "npg_histogram");
    EXPECT_NULL(npg_histogram(hx, 4, 1, 1, NULL), NPG_ERR_INVALID_ARG, "npg_histogram");
    EXPECT_NULL(npg_histogram(hx, 4, 1, 0, NULL), NPG_ERR_INVALID_ARG, "npg_histogram");
    EXPECT_NULL(npg_histogram(hx, 4, NAN, 1, NULL), NPG_ERR_INVALID_ARG, "npg_histogram");
    EXPECT_NULL(npg_histogram(hx, 4, 0, NAN, NULL), NPG_ERR_INVALID_ARG, "npg_histogram");
    EXPECT_NULL(npg_histogram(hx, 4, -INFINITY, 1, NULL), NPG_ERR_INVALID_ARG, "npg_histogram");
    EXPECT_NULL(npg_histogram(hx, 4, 0, INFINITY, NULL), NPG_ERR_INVALID_ARG, "npg_histogram");
    EXPECT_NULL(npg_histogram(hx, 4, 0, 1, bw), NPG_ERR_SHAPE, "npg_histogram");
    t_assert_no_leak(before, "failed cov / bincount / histogram");
    t_expect_unchanged(bx, BX, 7, "bincount x after errors");
    t_expect_unchanged(bw, BW, 7, "bincount weights after errors");
    t_expect_unchanged(hx, HX, 18, "histogram x after errors");
    t_expect_unchanged(neg, (double[]){0, 3, -1, 2}, 4, "bincount negative x");
    npg_scope_end(sc);
}

/* float32 input bins in float32, as NumPy does (its edges are float32 then):
 * values on the decimal edges fall where np.histogram puts them, which is
 * not where float64 arithmetic would (the float64 counts differ in both
 * cases below). Constants from NumPy 1.24. */
Test(stats, histogram_of_float32_bins_in_float32_like_numpy) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    const double x[12] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.05, 0.35};
    npg_array *a = t_arr(x, NPG_FLOAT32, NPG_SHAPE(12));
    const double want10[10] = {1, 1, 1, 2, 1, 1, 1, 1, 1, 2}; /* float64 x: 1 1 1 2 1 1 2 0 2 1 */
    const double want7[7] = {1, 1, 2, 1, 1, 1, 2};            /* float64 x: 1 1 2 1 1 2 0 */
    t_assert_close(npg_histogram(a, 10, 0.0, 1.0, NULL), want10, 10, 0, 0, "float32 x, 10 bins over [0, 1]");
    t_assert_close(npg_histogram(a, 7, 0.1, 0.8, NULL), want7, 7, 0, 0, "float32 x, 7 bins over [0.1, 0.8]");
    const double y[5] = {0.3, 0.6, 0.7, 0.1, 0.2};
    const double wanty[10] = {0, 1, 1, 1, 0, 0, 1, 1, 0, 0};
    t_assert_close(npg_histogram(t_arr(y, NPG_FLOAT32, NPG_SHAPE(5)), 10, 0.0, 1.0, NULL), wanty, 10, 0, 0,
                   "float32 [.3 .6 .7 .1 .2], 10 bins");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "float32 histogram");
}

/* An earlier, unrelated error still pending must not make bincount fail (its
 * host read of the range looked at the thread's last status). */
Test(stats, bincount_ignores_an_earlier_pending_error) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    cr_assert_null(npg_reshape(NULL, NPG_SHAPE(1))); /* leaves NPG_ERR_NULL_ARG pending */
    cr_assert_neq(npg_last_status(), NPG_OK);
    const double v[4] = {1, 3, 1, 0}, want[5] = {1, 2, 0, 1, 0};
    npg_array *c = npg_bincount(t_arr(v, NPG_INT32, NPG_SHAPE(4)), NULL, 5);
    cr_assert(c, "%s", npg_last_error());
    t_assert_close(c, want, 5, 0, 0, "bincount");
    npg_clear_error();
    npg_scope_end(sc);
    t_assert_no_leak(l0, "bincount after an error");
}

/* Regressions found by Test(fuzz2, stats). */

/* Infinite order statistics interpolate to the infinity (NumPy's lerp gives
 * inf - inf = NaN there); median is (a + b) / 2 of the middle pair, so an
 * infinite one gives that infinity. */
Test(stats, quantiles_next_to_infinities) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    const double v1[3] = {1, 2, INFINITY}, v2[2] = {1, INFINITY}, v3[2] = {INFINITY, INFINITY}, v4[3] = {-INFINITY, 1, 2};
    const double v5[2] = {-INFINITY, INFINITY};
    for (int f = 0; f < 2; f++) {
        npg_dtype dt = f ? NPG_FLOAT32 : NPG_FLOAT64;
        struct {
            const double *v;
            int64_t n;
            double q;
            int method; /* -1: median */
            double want;
        } cs[] = {{v1, 3, 0.5, -1, 2},         {v1, 3, 0.5, NPG_QUANTILE_LINEAR, 2},   {v1, 3, 0.75, NPG_QUANTILE_LINEAR, INFINITY},
                  {v2, 2, 0, NPG_QUANTILE_LINEAR, 1}, {v2, 2, 1, NPG_QUANTILE_LINEAR, INFINITY}, {v2, 2, 0.5, -1, INFINITY},
                  {v3, 2, 0.5, -1, INFINITY},  {v3, 2, 0.3, NPG_QUANTILE_LINEAR, INFINITY}, {v4, 3, 0.25, NPG_QUANTILE_LINEAR, -INFINITY},
                  {v4, 3, 0.25, NPG_QUANTILE_MIDPOINT, -INFINITY}, {v2, 2, 0.5, NPG_QUANTILE_MIDPOINT, INFINITY},
                  {v5, 2, 0.5, NPG_QUANTILE_LINEAR, NAN}, {v5, 2, 0.5, -1, NAN}};
        for (int i = 0; i < (int)(sizeof cs / sizeof cs[0]); i++) {
            npg_array *x = t_arr(cs[i].v, dt, NPG_SHAPE(cs[i].n));
            npg_array *r = cs[i].method < 0 ? npg_median(x, NPG_ALL_AXES, false)
                                            : npg_quantile(x, cs[i].q, NPG_ALL_AXES, false, cs[i].method);
            char what[96];
            snprintf(what, sizeof what, "case %d (%s)", i, npg_dtype_name(dt));
            t_assert_close(r, &cs[i].want, 1, 0, 0, what);
        }
        const double nv[4] = {1, 2, INFINITY, NAN}, two = 2;
        t_assert_close(npg_nanmedian(t_arr(nv, dt, NPG_SHAPE(4)), NPG_ALL_AXES, false), &two, 1, 0, 0, "nanmedian");
    }
    npg_scope_end(sc);
    t_assert_no_leak(l0, "quantiles next to infinities");
}

/* HIGHER and MIDPOINT test the position's fraction in float64: 1e-300 is 0
 * in float32, but the position is still not whole. */
Test(stats, a_tiny_fraction_is_not_a_whole_position) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    const double v[3] = {1, 2, 3}, hi = 2, mid = 1.5;
    for (int f = 0; f < 2; f++) {
        npg_array *x = t_arr(v, f ? NPG_FLOAT32 : NPG_INT32, NPG_SHAPE(3));
        t_assert_close(npg_quantile(x, 1e-300, NPG_ALL_AXES, false, NPG_QUANTILE_HIGHER), &hi, 1, 0, 0, "higher");
        t_assert_close(npg_quantile(x, 1e-300, NPG_ALL_AXES, false, NPG_QUANTILE_MIDPOINT), &mid, 1, 0, 0, "midpoint");
    }
    npg_scope_end(sc);
    t_assert_no_leak(l0, "tiny fraction");
}

/* bincount of an INT64_MAX label fails cleanly (max + 1 overflowed). */
Test(stats, bincount_of_the_largest_int64_label) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    const int64_t v[2] = {1, INT64_MAX};
    cr_assert_null(npg_bincount(npg_from_data(v, NPG_INT64, NPG_SHAPE(2), NPG_OPTS(.device = t_dev())), NULL, 0));
    t_assert_error(NPG_ERR_OOM, "npg_bincount");
    npg_clear_error();
    npg_scope_end(sc);
    t_assert_no_leak(l0, "bincount INT64_MAX");
}
