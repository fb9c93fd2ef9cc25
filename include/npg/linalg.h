/*
 * npg/linalg.h — linear algebra: the array API standard's linalg extension
 * (NumPy's numpy.linalg, PyTorch's torch.linalg) for real matrices. Included
 * by npg.h; the conventions of npg.h apply ([new] results, NULL + last error
 * on failure, NULL inputs propagate, nothing leaks or changes on failure).
 *
 * The rest of that extension is in npg.h under its NumPy names: npg_matmul,
 * npg_matrix_transpose, npg_diagonal, npg_trace, npg_outer, npg_tensordot
 * and npg_vecdot.
 *
 * Matrices are the last two axes; the axes before them are a batch, and the
 * batches of two operands broadcast. Float32 and float64 compute in their own
 * dtype; bool and integer inputs compute in float32 (the FLOAT rule), except
 * where a function says otherwise. Empty matrices (0 rows or columns) and
 * empty batches give empty or trivial results (det of a 0 x 0 matrix is 1).
 *
 * Decompositions run on LAPACK (OpenBLAS's, CPU) or cuSOLVER (CUDA).
 * A matrix that is singular (solve, inv), not positive definite (cholesky),
 * or on which a decomposition did not converge (eigh, svd) is an
 * NPG_ERR_LINALG error naming the matrix's index in the batch; so is an inf
 * or NaN in the part of a matrix that cholesky, eigh or svd reads (and the
 * functions built on svd: svdvals, pinv, lstsq, matrix_rank, the "2", "-2"
 * and "nuc" norms), where LAPACK would return finite nonsense or not return
 * at all. Reading that status from the GPU synchronises (as PyTorch's
 * linalg functions do); det, slogdet, qr, solve_triangular, matrix_power
 * with n >= 0, vector_norm, the other matrix norms and cross do not.
 *
 * Every function is differentiable (except matrix_rank and slogdet's sign),
 * with backward rules written in npg ops, so create_graph gives higher-order
 * gradients. As in PyTorch:
 *   - cholesky and eigh read one triangle of their input; their gradients
 *     are the symmetric ones (the input is taken as symmetric);
 *   - gradients through eigh's eigenvectors or svd's singular vectors are
 *     undefined (inf/NaN) where eigenvalues or singular values repeat, and
 *     a loss must not depend on the vectors' signs, which are arbitrary;
 *   - qr's backward needs mode "reduced" or m <= n (NPG_ERR_UNSUPPORTED
 *     from the backward otherwise);
 *   - det's and inv's gradients need an invertible matrix (NPG_ERR_LINALG
 *     from the backward otherwise).
 * A part of a gradient that the loss does not use never turns into NaN
 * (eigvalsh and svdvals of matrices with repeated values differentiate).
 *
 * Results computed by LAPACK come back column-major (as NumPy's do): inv,
 * solve, cholesky and solve_triangular may return non-contiguous views;
 * npg_contiguous makes a row-major copy when one is needed.
 */
#ifndef NPG_LINALG_H
#define NPG_LINALG_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- decompositions ------------------------------------------------------ */

/* Cholesky factor of symmetric positive-definite x (..., n, n): lower L with
 * x = L L^T, or upper U = L^T with x = U^T U when upper. Reads only x's
 * lower triangle. [new] */
npg_array *npg_linalg_cholesky(npg_array *x, bool upper);

/* QR decomposition of x (..., m, n), k = min(m, n): *q (..., m, k) with
 * orthonormal columns and *r (..., k, n) upper triangular (complete: *q
 * (..., m, m), *r (..., m, n)), x = Q R (Householder), with R's diagonal
 * >= 0 (LAPACK's may be negative; npg flips the signs so that every device
 * gives the same factors). Either output may be NULL (not returned). [new]
 * each; on failure all are NULL. */
npg_status npg_linalg_qr(npg_array *x, bool complete, npg_array **q, npg_array **r);

/* Eigenvalues and eigenvectors of symmetric x (..., n, n), reading only its
 * lower triangle: *w (..., n) ascending and *v (..., n, n) orthonormal,
 * column j for w[j], so x = V diag(w) V^T; each vector's entry of largest
 * magnitude is positive (the same vectors on every device, where the
 * eigenvalues are distinct). Either output may be NULL (not
 * returned; v NULL skips the vectors unless a gradient needs them). [new]
 * each; on failure all are NULL. */
npg_status npg_linalg_eigh(npg_array *x, npg_array **w, npg_array **v);
/* The eigenvalues alone (ascending, (..., n)). [new] */
npg_array *npg_linalg_eigvalsh(npg_array *x);

/* Singular value decomposition of x (..., m, n), k = min(m, n): x = U
 * diag(S) Vh with *s (..., k) descending and >= 0, *u (..., m, k) and *vh
 * (..., k, n) (full_matrices: *u (..., m, m), *vh (..., n, n)); the first k
 * columns of U have their entry of largest magnitude positive, with the
 * matching rows of Vh (the same on every device, where the singular values
 * are distinct; full_matrices' extra columns are any basis). Any output
 * may be NULL (u and vh both NULL: values only, faster). With full_matrices
 * and m != n,
 * gradients reach only the first k columns of U and rows of Vh (the rest
 * are an arbitrary basis). [new] each; on failure all are NULL. */
npg_status npg_linalg_svd(npg_array *x, bool full_matrices, npg_array **u, npg_array **s, npg_array **vh);
/* The singular values alone ((..., k), descending). [new] */
npg_array *npg_linalg_svdvals(npg_array *x);

/* ---- solving and inverting ---------------------------------------------- */

/* The solution X of a X = b for square a (..., n, n) (LU with partial
 * pivoting): b (..., n, k) gives X (..., n, k), batches broadcast; a 1-d b
 * (n) is one vector and gives X (..., n). Singular a: NPG_ERR_LINALG. [new] */
npg_array *npg_linalg_solve(npg_array *a, npg_array *b);
/* The solution X of T X = b, where T is a's upper (upper) or lower
 * triangle, a (..., n, n), b (..., n, k), batches broadcast; with
 * unitriangular T's diagonal is taken as ones (a's is not read). A zero on
 * the diagonal gives inf/NaN, not an error. [new] */
npg_array *npg_linalg_solve_triangular(npg_array *a, npg_array *b, bool upper, bool unitriangular);
/* The inverse of square x (..., n, n). Singular x: NPG_ERR_LINALG. [new] */
npg_array *npg_linalg_inv(npg_array *x);
/* The determinant of square x (..., n, n), shape (...). [new] */
npg_array *npg_linalg_det(npg_array *x);
/* sign(det x) and log|det x| of square x, each (...): det = sign *
 * exp(logabsdet), without overflow; a singular x gives sign 0 and logabsdet
 * -inf. sign is not differentiable. [new] each (either may be NULL); on
 * failure both are NULL. */
npg_status npg_linalg_slogdet(npg_array *x, npg_array **sign, npg_array **logabsdet);
/* The Moore-Penrose pseudo-inverse of x (..., m, n), shape (..., n, m),
 * through the SVD: singular values <= rtol * max(S) count as zero. rtol < 0
 * means the array API default max(m, n) * eps of the dtype. [new] */
npg_array *npg_linalg_pinv(npg_array *x, double rtol);
/* The least-squares solution x of a x = b (the one of least norm when a is
 * rank-deficient): a (..., m, n) with b (..., m, k), batches broadcast, gives
 * (..., n, k); a 1-d b (m) gives (..., n). Computed as pinv(a, rtol) b
 * (rtol as pinv's), like NumPy's lstsq's first result, in a and b's common
 * floating dtype. [new] */
npg_array *npg_linalg_lstsq(npg_array *a, npg_array *b, double rtol);
/* All of NumPy's lstsq results from one SVD: x as npg_linalg_lstsq; the
 * squared 2-norms of the residual b - a x per column ((..., k), or (..., 1)
 * for a 1-d b, NumPy's (1,)) when m > n and every matrix has rank n, else an
 * empty (0) array
 * (PyTorch's rule; checking the ranks synchronises); rank (int64 (...)) and
 * the singular values of a ((..., min(m, n))), as npg_linalg_matrix_rank and
 * npg_linalg_svdvals with this rtol. Each output pointer may be NULL (not
 * wanted); all are set to NULL on failure. x, residuals and sv are
 * differentiable. [new] each */
npg_status npg_linalg_lstsq_ex(npg_array *a, npg_array *b, double rtol, npg_array **x, npg_array **residuals,
                               npg_array **rank, npg_array **sv);
/* The number of singular values of x (..., m, n) above rtol * max(S) (rtol
 * < 0: the default above), int64 (...); 0 for empty matrices (as PyTorch).
 * Not differentiable. [new] */
npg_array *npg_linalg_matrix_rank(npg_array *x, double rtol);
/* x (..., n, n) raised to the integer power n by repeated squaring
 * (n = 0: the identity; n < 0: the inverse's power, floating only). Keeps
 * x's dtype (integer powers of integer matrices wrap like matmul). [new] */
npg_array *npg_linalg_matrix_power(npg_array *x, int64_t n);

/* ---- norms and products ----------------------------------------------- */

/* The vector norm over `axes` (all axes: NPG_ALL_AXES): ord 2 (Euclidean),
 * 1, any p > 0 or p < 0 ((sum |x|^p)^(1/p)), INFINITY (max |x|), -INFINITY
 * (min |x|), 0 (the count of nonzeros). The gradient at a zero norm is 0
 * (a subgradient), ties of the inf-norms share it equally. The inf-norms of
 * an empty set of values are an NPG_ERR_SHAPE error. [new] */
npg_array *npg_linalg_vector_norm(npg_array *x, double ord, npg_axes axes, bool keepdims);
/* The matrix norm over the last two axes; ord is "fro" (Frobenius), "nuc"
 * (sum of singular values), "2" / "-2" (largest / smallest singular value),
 * "1" / "-1" (max / min column sum of |x|), "inf" / "-inf" (max / min row
 * sum of |x|); NULL means "fro". Result (...), or (..., 1, 1) with
 * keepdims. Every ord but "fro" and "nuc" is an NPG_ERR_SHAPE error on
 * empty matrices. [new] */
npg_array *npg_linalg_matrix_norm(npg_array *x, const char *ord, bool keepdims);
/* The cross product of 3-vectors along `axis` of a and b (broadcast; both
 * of length 3 there). Keeps the promoted dtype (integers too). [new] */
npg_array *npg_linalg_cross(npg_array *a, npg_array *b, int axis);

#ifdef __cplusplus
}
#endif

#endif /* NPG_LINALG_H */
