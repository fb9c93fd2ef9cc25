/*
 * npg/nn.h — neural-network functions, losses, initialisation, optimizers
 * and parameter lists. Included by npg.h; the conventions of npg.h apply
 * ([new] results, NULL + last error on failure, NULL inputs propagate).
 * Every function here is differentiable where it makes sense and runs on
 * any device; softmax, log_softmax, cross_entropy, conv2d (im2col + GEMM),
 * max_pool2d and the SGD and Adam(W) updates use fused kernels on both devices.
 * The rest are composed from other ops (conv1d and the transposed
 * convolutions from the same im2col / col2im kernels and GEMMs), so they run
 * wherever those do and differentiate through their rules.
 *
 * Activations (relu, leaky_relu, sigmoid, silu, gelu, gelu_tanh, softplus,
 * tanh) are in npg.h with the other elementwise functions.
 */
#ifndef NPG_NN_H
#define NPG_NN_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- softmax ---------------------------------------------------------- */

/* exp(x) / sum(exp(x)) along axis, computed stably (fused kernel). [new] */
npg_array *npg_softmax(npg_array *x, int axis);
/* x - logsumexp(x) along axis (fused kernel). [new] */
npg_array *npg_log_softmax(npg_array *x, int axis);

/* ---- layers as functions ------------------------------------------------ */

/* x @ weight.T + bias (PyTorch's layout): x (..., in), weight (out, in),
 * bias (out) or NULL. [new] */
npg_array *npg_linear(npg_array *x, npg_array *weight, npg_array *bias);

/* Options of conv2d and pooling; zero fields take the defaults named. */
typedef struct npg_conv2d_opts {
    int stride[2];   /* default 1 */
    int padding[2];  /* default 0 (zero padding) */
    int dilation[2]; /* default 1 */
    int groups;      /* default 1 */
} npg_conv2d_opts;
#define NPG_CONV2D_OPTS(...) (&(const npg_conv2d_opts){__VA_ARGS__})

/* 2-d convolution (cross-correlation, like PyTorch): x (N, C, H, W),
 * weight (OC, C/groups, KH, KW), bias (OC) or NULL -> (N, OC, OH, OW).
 * im2col + one batched GEMM per call. opts NULL = defaults. [new] */
npg_array *npg_conv2d(npg_array *x, npg_array *weight, npg_array *bias, const npg_conv2d_opts *opts);

typedef struct npg_pool2d_opts {
    int kernel[2];          /* required */
    int stride[2];          /* default: the kernel size */
    int padding[2];         /* default 0; at most half the kernel */
    bool count_include_pad; /* avg_pool2d: divide by the full window (PyTorch's default is true; here
                               the zero value false divides by the in-image pixels) */
} npg_pool2d_opts;
#define NPG_POOL2D_OPTS(...) (&(const npg_pool2d_opts){__VA_ARGS__})

/* Max over each window of x (N, C, H, W); the gradient goes to the first
 * maximal element of each window. [new] */
npg_array *npg_max_pool2d(npg_array *x, const npg_pool2d_opts *opts);
/* Mean over each window. [new] */
npg_array *npg_avg_pool2d(npg_array *x, const npg_pool2d_opts *opts);

/* 1-d convolution: x (N, C, L), weight (OC, C/groups, K), bias (OC) or NULL
 * -> (N, OC, Lout), Lout = (L + 2 padding - dilation (K - 1) - 1) / stride + 1
 * (PyTorch's conv1d; the 2-d kernels with a height of 1). opts NULL =
 * defaults (stride 1, padding 0, dilation 1, groups 1). [new] */
typedef struct npg_conv1d_opts {
    int stride, padding, dilation, groups; /* zero = the default named */
} npg_conv1d_opts;
#define NPG_CONV1D_OPTS(...) (&(const npg_conv1d_opts){__VA_ARGS__})
npg_array *npg_conv1d(npg_array *x, npg_array *weight, npg_array *bias, const npg_conv1d_opts *opts);

/* Transposed convolution (PyTorch's conv_transpose2d, the adjoint of conv2d
 * with the same options): x (N, C, H, W), weight (C, OC/groups, KH, KW),
 * bias (OC) or NULL -> (N, OC, OH, OW) with
 * OH = (H - 1) stride - 2 padding + dilation (KH - 1) + output_padding + 1.
 * output_padding (default 0) must be smaller than the stride or the
 * dilation. One batched GEMM + col2im per call. [new] */
typedef struct npg_conv_transpose2d_opts {
    int stride[2];         /* default 1 */
    int padding[2];        /* default 0 */
    int output_padding[2]; /* default 0 */
    int dilation[2];       /* default 1 */
    int groups;            /* default 1 */
} npg_conv_transpose2d_opts;
#define NPG_CONV_TRANSPOSE2D_OPTS(...) (&(const npg_conv_transpose2d_opts){__VA_ARGS__})
npg_array *npg_conv_transpose2d(npg_array *x, npg_array *weight, npg_array *bias,
                                const npg_conv_transpose2d_opts *opts);
/* The 1-d form: x (N, C, L), weight (C, OC/groups, K) -> (N, OC, Lout),
 * Lout = (L - 1) stride - 2 padding + dilation (K - 1) + output_padding + 1.
 * [new] */
typedef struct npg_conv_transpose1d_opts {
    int stride, padding, output_padding, dilation, groups; /* zero = the defaults above */
} npg_conv_transpose1d_opts;
#define NPG_CONV_TRANSPOSE1D_OPTS(...) (&(const npg_conv_transpose1d_opts){__VA_ARGS__})
npg_array *npg_conv_transpose1d(npg_array *x, npg_array *weight, npg_array *bias,
                                const npg_conv_transpose1d_opts *opts);

/* Average over the windows that split the last two axes of x (..., H, W)
 * into out_h x out_w cells (PyTorch's adaptive_avg_pool2d: cell i spans
 * [floor(i H / out_h), ceil((i + 1) H / out_h))). Integer inputs give the
 * default float dtype. out_h, out_w >= 1. [new] */
npg_array *npg_adaptive_avg_pool2d(npg_array *x, int64_t out_h, int64_t out_w);

/* ---- more pooling, unfold / fold, pixel shuffle (src/common/nn_pool.c) --- */

/* Options of the 1-d pools (npg_pool2d_opts' 1-d form); zero fields take
 * the defaults named. */
typedef struct npg_pool1d_opts {
    int kernel;             /* required */
    int stride;             /* default: the kernel size */
    int padding;            /* default 0; at most half the kernel */
    int dilation;           /* max_pool1d only (avg_pool1d: 0 or 1); default 1 */
    bool ceil_mode;         /* round Lout up (PyTorch's ceil_mode: a last window starts inside x or its left padding) */
    bool count_include_pad; /* avg_pool1d, as in npg_pool2d_opts (zero value false; PyTorch's default is true) */
} npg_pool1d_opts;
#define NPG_POOL1D_OPTS(...) (&(const npg_pool1d_opts){__VA_ARGS__})

/* Max over each window of x (N, C, L) or (C, L) -> (N, C, Lout) or (C, Lout),
 * Lout = (L + 2 padding - dilation (kernel - 1) - 1) / stride + 1 rounded
 * down (or up with ceil_mode), at least 1 (PyTorch's max_pool1d; the fused
 * max_pool2d kernel with a height of 1). NaN propagates; the gradient goes to
 * the first maximal element of each window; a window whose dilated taps all
 * fall in the padding gives -inf. Integers keep their dtype (no gradient);
 * bool is an error. [new] */
npg_array *npg_max_pool1d(npg_array *x, const npg_pool1d_opts *opts);
/* Mean over each window (PyTorch's avg_pool1d): with count_include_pad the
 * divisor is the window's length inside the padded input (the kernel size
 * except for a ceil_mode window past the right padding), else its length
 * inside x. Integers give the default float dtype. [new] */
npg_array *npg_avg_pool1d(npg_array *x, const npg_pool1d_opts *opts);

/* Max over npg_adaptive_avg_pool2d's windows of x (..., H, W) ->
 * (..., out_h, out_w) (PyTorch's adaptive_max_pool2d; values only, no
 * indices). NaN propagates, infinities stay in their windows; the gradient
 * goes to each window's first maximum in row-major order. Integers keep their
 * dtype; bool is an error. out_h, out_w >= 1. [new] */
npg_array *npg_adaptive_max_pool2d(npg_array *x, int64_t out_h, int64_t out_w);
/* The 1-d forms over the last axis: x (..., L) -> (..., out), out >= 1
 * (PyTorch's adaptive_avg_pool1d / adaptive_max_pool1d; dtypes as the 2-d
 * forms). [new] each */
npg_array *npg_adaptive_avg_pool1d(npg_array *x, int64_t out);
npg_array *npg_adaptive_max_pool1d(npg_array *x, int64_t out);

/* A 2-d size or step (height, width) for unfold and fold: NPG_HW(3, 3). */
typedef struct npg_hw {
    int64_t h, w;
} npg_hw;
#define NPG_HW(h_, w_) ((npg_hw){(h_), (w_)})
/* The sliding blocks of x (N, C, H, W) or (C, H, W) as columns (PyTorch's
 * F.unfold): -> (N, C*kh*kw, OH*OW) or (C*kh*kw, OH*OW), row c*kh*kw + i*kw + j
 * holding tap (i, j) of channel c (0 in the padding), OH =
 * (H + 2 padding.h - dilation.h (kernel.h - 1) - 1) / stride.h + 1 >= 1 (OW
 * likewise). kernel, dilation, stride >= 1, padding >= 0; C, H, W >= 1. The
 * fused im2col kernel; differentiable. Integers keep their dtype; bool is an
 * error. [new] */
npg_array *npg_unfold(npg_array *x, npg_hw kernel, npg_hw dilation, npg_hw padding, npg_hw stride);
/* The adjoint of npg_unfold (PyTorch's F.fold): x (N, C*kh*kw, L) or
 * (C*kh*kw, L) -> (N, C, output_size.h, output_size.w) or (C, ...), each
 * column's taps added onto the pixels they came from (overlaps sum, taps in
 * the padding are dropped). L must be the number of blocks npg_unfold gives
 * for output_size. The fused col2im kernel; differentiable. [new] */
npg_array *npg_fold(npg_array *x, npg_hw output_size, npg_hw kernel, npg_hw dilation, npg_hw padding,
                    npg_hw stride);

/* (..., C*r*r, H, W) -> (..., C, H*r, W*r) (PyTorch's pixel_shuffle):
 * out[c, h*r + i, w*r + j] = x[c*r*r + i*r + j, h, w]. x has at least 3 axes,
 * r >= 1. Reshape and permute: any dtype, differentiable; a new array. [new] */
npg_array *npg_pixel_shuffle(npg_array *x, int64_t r);
/* The inverse, (..., C, H*r, W*r) -> (..., C*r*r, H, W) (PyTorch's
 * pixel_unshuffle); H and W must be multiples of r. [new] */
npg_array *npg_pixel_unshuffle(npg_array *x, int64_t r);

/* Resampling of the last `naxes` axes (1 to 3) of x to the lengths in
 * size[0..naxes-1], like PyTorch's F.interpolate(x, size=...) on an
 * (N, C, ...) input:
 *   NPG_INTERP_NEAREST        source index floor(i * in / out) (PyTorch's "nearest")
 *   NPG_INTERP_NEAREST_EXACT  floor((i + 0.5) * in / out) ("nearest-exact")
 *   NPG_INTERP_LINEAR         linear along each axis: "linear", "bilinear" or
 *                             "trilinear" for 1, 2 or 3 axes; align_corners as
 *                             in PyTorch (false: half-pixel centres, clamped).
 * Indices use exact integer arithmetic (PyTorch's float32 scale can pick the
 * neighbouring pixel at exact multiples for some sizes); LINEAR weights are
 * computed in double; a tap of weight 0 is left out (so an output on an
 * input next to an infinity is not NaN, as it is in PyTorch).
 * Differentiable (the gradient scatters back through the same taps). Integer inputs give the default float dtype with LINEAR and keep
 * their dtype with the nearest modes. Each size >= 1; an interpolated axis of
 * length 0 is an error. [new] */
typedef enum npg_interp_mode { NPG_INTERP_NEAREST = 0, NPG_INTERP_NEAREST_EXACT, NPG_INTERP_LINEAR } npg_interp_mode;
npg_array *npg_interpolate(npg_array *x, int naxes, const int64_t *size, npg_interp_mode mode, bool align_corners);

/* Layer normalisation over the last `normalized_axes` axes:
 * (x - mean) / sqrt(var + eps) * weight + bias (biased variance, like
 * PyTorch); weight and bias have those axes' shape, or are NULL. [new] */
npg_array *npg_layer_norm(npg_array *x, int normalized_axes, npg_array *weight, npg_array *bias, double eps);

/* RMS normalisation over the last `normalized_axes` axes (ggml's rms_norm,
 * PyTorch's F.rms_norm): x / sqrt(mean(x^2) + eps) * weight, weight with
 * those axes' shape or NULL; eps >= 0 (LLaMA uses 1e-5 or 1e-6; PyTorch's
 * default is the dtype's machine epsilon). Integer inputs give the default
 * float dtype. [new] */
npg_array *npg_rms_norm(npg_array *x, int normalized_axes, npg_array *weight, double eps);

/* Batch normalisation of x (N, C, ...) per channel (axis 1), PyTorch's
 * F.batch_norm: training uses the batch's mean and biased variance and, when
 * running_mean and running_var (C) are given, updates them in place outside
 * the graph: running = (1 - momentum) running + momentum batch, with the
 * unbiased variance (PyTorch's momentum is 0.1); evaluation (training false)
 * uses the running statistics (then required). weight and bias (C) or NULL.
 * Floating inputs and running statistics; training needs more than one
 * value per channel. [new] */
npg_array *npg_batch_norm(npg_array *x, npg_array *running_mean, npg_array *running_var, npg_array *weight,
                          npg_array *bias, bool training, double momentum, double eps);
/* Group normalisation of x (N, C, ...): the C channels split into num_groups
 * groups, each normalised over its channels and the spatial axes (biased
 * variance), then weight and bias (C) or NULL per channel. [new] */
npg_array *npg_group_norm(npg_array *x, int num_groups, npg_array *weight, npg_array *bias, double eps);
/* Padding modes of npg_pad (NumPy's names). */
typedef enum npg_pad_mode {
    NPG_PAD_CONSTANT = 0, /* `value` */
    NPG_PAD_EDGE,         /* the edge element repeated */
    NPG_PAD_REFLECT       /* mirrored, the edge not repeated: [a b c] -> b [a b c] b (pads < the length) */
} npg_pad_mode;
/* x padded along every axis i with pad_width[2i] elements before and
 * pad_width[2i+1] after (NumPy's pad, pad_width flattened; each >= 0).
 * Differentiable. A new array. [new] */
npg_array *npg_pad(npg_array *x, const int64_t *pad_width, npg_pad_mode mode, double value);
/* softmax(q k^T * scale + mask) v: q (..., L, E), k (..., S, E), v (..., S, Ev)
 * -> (..., L, Ev), batch axes broadcast. mask NULL, bool (true = attend,
 * broadcast to (..., L, S)) or floating (added to the scores); causal keeps
 * key j <= query i; scale 0 means 1/sqrt(E). A query whose keys are all
 * masked gives NaN (as PyTorch); with no keys at all (S = 0) the result is 0.
 * [new] */
npg_array *npg_scaled_dot_product_attention(npg_array *q, npg_array *k, npg_array *v, npg_array *mask, bool causal,
                                            double scale);
/* Rows of weight (num, dim) at integer indices (any shape) -> (..., dim);
 * differentiable in weight. [new] */
npg_array *npg_embedding(npg_array *indices, npg_array *weight);

/* Inverted dropout: when training, zero each element with probability p
 * (library RNG: gen, or the global generator if NULL) and scale the rest by
 * 1/(1-p); when not training, x itself (a new reference). [new] */
npg_array *npg_dropout(npg_array *x, double p, bool training, npg_generator *gen);

/* Flatten the axes from start_axis on: (N, C, H, W), 1 -> (N, C*H*W). [new] */
npg_array *npg_flatten_from(npg_array *x, int start_axis);

/* Recurrent cells, PyTorch's layouts (gate blocks stacked along weight rows):
 * x (B, in) or (in), h and c (B, hidden) or (hidden), w_ih (G*hidden, in),
 * w_hh (G*hidden, hidden), biases (G*hidden) or NULL. x, h and c broadcast
 * against each other (a batch of 1 or an unbatched state meets any batch).
 * LSTM (G = 4, gates i, f, g, o): c' = sigmoid(f) c + sigmoid(i) tanh(g),
 * h' = sigmoid(o) tanh(c'); *h_out and *c_out receive [new] arrays (both
 * NULL on failure). h or c NULL means zeros. */
npg_status npg_lstm_cell(npg_array *x, npg_array *h, npg_array *c, npg_array *w_ih, npg_array *w_hh,
                         npg_array *b_ih, npg_array *b_hh, npg_array **h_out, npg_array **c_out);
/* GRU (G = 3, gates r, z, n): n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
 * h' = (1 - z) n + z h. h NULL means zeros. [new] */
npg_array *npg_gru_cell(npg_array *x, npg_array *h, npg_array *w_ih, npg_array *w_hh, npg_array *b_ih,
                        npg_array *b_hh);

/* Elman cell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (relu instead of tanh
 * when relu is true); shapes as above with G = 1. h NULL means zeros. [new] */
npg_array *npg_rnn_cell(npg_array *x, npg_array *h, npg_array *w_ih, npg_array *w_hh, npg_array *b_ih,
                        npg_array *b_hh, bool relu);

/* Recurrent layers over whole sequences (PyTorch's nn.RNN, nn.LSTM, nn.GRU). */
typedef enum npg_rnn_mode {
    NPG_RNN_TANH = 1, /* Elman, tanh */
    NPG_RNN_RELU,     /* Elman, relu */
    NPG_RNN_LSTM,
    NPG_RNN_GRU,
} npg_rnn_mode;

typedef struct npg_rnn_opts {
    int num_layers;     /* stacked layers; 0 means 1 */
    bool bidirectional; /* a second pass from the end; outputs concatenated */
    bool batch_first;   /* x and *out are (B, T, feature) instead of (T, B, feature) */
    double dropout;     /* in [0, 1]: on the outputs of every layer but the last, when training */
    bool training;      /* dropout applies only when true */
    npg_generator *gen; /* dropout's generator; NULL: the global one */
} npg_rnn_opts;
#define NPG_RNN_OPTS(...) (&(const npg_rnn_opts){__VA_ARGS__})

/* A multi-layer recurrent network over a sequence, with PyTorch's shapes,
 * parameter order and equations (the cells above; D = 2 when bidirectional,
 * else 1; L layers; G = 1, 4, 3 for Elman, LSTM, GRU):
 *   x      (T, B, in), (B, T, in) with batch_first, or (T, in) unbatched;
 *   params per layer l and direction d in that order (l-major, forward
 *          first): w_ih (G*H, in if l == 0 else D*H), w_hh (G*H, H), then
 *          b_ih (G*H) and b_hh (G*H) when there are biases; n_params is
 *          L*D*4 with biases or L*D*2 without;
 *   h0, c0 (L*D, B, H), or (L*D, H) unbatched; NULL means zeros; c0 only
 *          for NPG_RNN_LSTM;
 *   *out   (T, B, D*H) (batch_first: (B, T, D*H)): the last layer's h at
 *          every step, the reverse direction's in the second half;
 *   *h_n   (L*D, B, H): every layer and direction's last h; *c_n the same
 *          for the LSTM's c.
 * An unbatched x gives *out (T, D*H) and states (L*D, H) (batch_first does
 * not apply). An empty sequence (T = 0, which PyTorch refuses) gives an
 * empty *out and the initial states. h0 and c0 are independent: either may
 * be NULL. h_n and c_n may be NULL (not wanted); c_n must be NULL unless the
 * mode is LSTM. Each layer's input projection runs as one matrix product over
 * the whole sequence. Differentiable in x, h0, c0 and every parameter;
 * every result has x's dtype promoted with all parameters' and the states'
 * (integer x with float32 parameters: float32). opts NULL: one layer, one direction. Results are
 * [new] (all NULL on failure). Not included: LSTM projections (PyTorch's
 * proj_size). */
npg_status npg_rnn(npg_rnn_mode mode, npg_array *x, npg_array *h0, npg_array *c0, npg_array *const *params,
                   int n_params, const npg_rnn_opts *opts, npg_array **out, npg_array **h_n, npg_array **c_n);

/* More activations, composed from elementwise ops (differentiable, any
 * device; integers become the default float dtype). [new] each. */
npg_array *npg_elu(npg_array *x, double alpha);            /* x > 0 ? x : alpha (exp(x) - 1) */
npg_array *npg_selu(npg_array *x);                         /* scale * elu(x, alpha), PyTorch's constants */
npg_array *npg_celu(npg_array *x, double alpha);           /* max(0, x) + min(0, alpha (exp(x / alpha) - 1)) */
npg_array *npg_hardtanh(npg_array *x, double lo, double hi); /* clip(x, lo, hi); gradient 1 strictly inside */
npg_array *npg_hardsigmoid(npg_array *x);                  /* relu6(x + 3) / 6 */
npg_array *npg_hardswish(npg_array *x);                    /* x relu6(x + 3) / 6 */
npg_array *npg_mish(npg_array *x);                         /* x tanh(softplus(x)) */
npg_array *npg_logsigmoid(npg_array *x);                   /* -softplus(-x), stable */
/* Gated linear unit: x split in halves a, b along axis (even length) ->
 * a * sigmoid(b). [new] */
npg_array *npg_glu(npg_array *x, int axis);

/* Integer labels (any shape) -> int64 one-hot (..., num_classes) (PyTorch's
 * F.one_hot); num_classes -1 means max(labels) + 1. A label outside
 * [0, num_classes) is an NPG_ERR_INDEX error (this reads the labels on the
 * host, so it synchronises). [new] */
npg_array *npg_one_hot(npg_array *labels, int64_t num_classes);

/* Cosine similarity along axis of x1 and x2 (broadcast):
 * x1 . x2 / (max(|x1|, eps) max(|x2|, eps)), PyTorch's default eps 1e-8.
 * The norms are sqrt(sum(x^2)), whose squares underflow for elements below
 * about 1e-154 (1e-19 in float32): with an eps smaller than that, such
 * vectors give inaccurate results, even outside [-1, 1]. [new] */
npg_array *npg_cosine_similarity(npg_array *x1, npg_array *x2, int axis, double eps);

/* ---- losses -------------------------------------------------------------- */

typedef enum npg_reduction { NPG_REDUCTION_MEAN = 0, NPG_REDUCTION_SUM, NPG_REDUCTION_NONE } npg_reduction;

typedef struct npg_ce_opts {
    npg_reduction reduction; /* mean over non-ignored rows (default), sum, or per-row */
    double label_smoothing;  /* eps in [0, 1) */
    bool has_ignore_index;   /* rows whose label == ignore_index contribute nothing */
    int64_t ignore_index;
} npg_ce_opts;
#define NPG_CE_OPTS(...) (&(const npg_ce_opts){__VA_ARGS__})

/* Cross-entropy from logits (N, C) and integer labels (N) in [0, C),
 * fused (no one-hot is materialised). opts NULL = mean. [new] */
npg_array *npg_cross_entropy(npg_array *logits, npg_array *labels, const npg_ce_opts *opts);
/* Negative log-likelihood from log-probabilities (N, C). [new] */
npg_array *npg_nll_loss(npg_array *log_probs, npg_array *labels, const npg_ce_opts *opts);
/* mean/sum/none of (pred - target)^2. [new] */
npg_array *npg_mse_loss(npg_array *pred, npg_array *target, npg_reduction reduction);
/* Binary cross-entropy on logits, stable: max(x,0) - x*t + log(1 + exp(-|x|)). [new] */
npg_array *npg_binary_cross_entropy_with_logits(npg_array *logits, npg_array *targets, npg_reduction reduction);

/* mean/sum/none of |pred - target|. [new] */
npg_array *npg_l1_loss(npg_array *pred, npg_array *target, npg_reduction reduction);
/* Smooth L1 (PyTorch): 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta;
 * beta >= 0 (0 gives the L1 loss). [new] */
npg_array *npg_smooth_l1_loss(npg_array *pred, npg_array *target, npg_reduction reduction, double beta);
/* Huber: 0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta); delta > 0. [new] */
npg_array *npg_huber_loss(npg_array *pred, npg_array *target, npg_reduction reduction, double delta);
/* Kullback-Leibler divergence with input = log-probabilities (PyTorch's
 * F.kl_div): target (log target - input) pointwise, 0 where target is 0
 * (even against an input of -inf, where PyTorch gives NaN); log_target true
 * takes target as log-probabilities: exp(t) (t - input), 0 where t = -inf.
 * MEAN averages over every element (PyTorch's "batchmean" is SUM divided by
 * the batch size). [new] */
npg_array *npg_kl_div(npg_array *input, npg_array *target, npg_reduction reduction, bool log_target);
/* Binary cross-entropy on probabilities p in [0, 1]:
 * -(t log p + (1 - t) log(1 - p)), each log clamped at -100 (PyTorch), so
 * p = 0 or 1 gives finite values and gradients; p outside [0, 1] gives NaN
 * (PyTorch raises an error, on CUDA a device assert). [new] */
npg_array *npg_binary_cross_entropy(npg_array *probs, npg_array *targets, npg_reduction reduction);

/* Margin, embedding and likelihood losses with PyTorch 1.13's F.* formulas,
 * composed (any device; differentiable in every floating input that is not
 * only compared, even where PyTorch refuses: soft_margin's target,
 * multi_margin's weight). Inputs broadcast where PyTorch's do; the result
 * has the inputs' promoted floating dtype (integers: the default float; a
 * target that is only compared with 1 and -1 does not count). MEAN of an
 * empty loss is NaN, SUM 0 (multi_margin too, where PyTorch returns an
 * uninitialised value). eps must be finite and >= 0 (PyTorch takes any). No
 * value is read on the host (no synchronisation), so the checks PyTorch
 * makes on values are departures noted below. */
/* max(0, -y (x1 - x2) + margin); x1, x2 and y of one ndim. [new] */
npg_array *npg_margin_ranking_loss(npg_array *x1, npg_array *x2, npg_array *y, double margin, npg_reduction reduction);
/* x where y != -1, plus max(0, margin - x) where y != 1 (so y = +-1 picks
 * one; y holds labels, no gradient). [new] */
npg_array *npg_hinge_embedding_loss(npg_array *x, npg_array *y, double margin, npg_reduction reduction);
/* log(1 + exp(-y x)) as softplus(-y x): finite where PyTorch's overflows to
 * inf (-y x above about 709 in float64, 88 in float32). y broadcasts to x's
 * shape. [new] */
npg_array *npg_soft_margin_loss(npg_array *x, npg_array *y, npg_reduction reduction);
/* 1 - cos(x1, x2) where y == 1, max(0, cos - margin) where y == -1, else 0
 * (y: labels, no gradient); cos = sum(x1 x2) / sqrt((sum(x1^2) + e)
 * (sum(x2^2) + e)) with PyTorch's e = 1e-12f, over the last axis: x1, x2
 * (N, D) with y (N), or (D) with a 0-d y. [new] */
npg_array *npg_cosine_embedding_loss(npg_array *x1, npg_array *x2, npg_array *y, double margin,
                                     npg_reduction reduction);
/* F.pairwise_distance: the p-norm (npg_linalg_vector_norm's ord: any p but
 * NaN) of x1 - x2 + eps over the last axis of the broadcast difference (a
 * 0-d one is one element, giving 0-d); keepdim keeps that axis. PyTorch's
 * defaults: p 2, eps 1e-6. [new] */
npg_array *npg_pairwise_distance(npg_array *x1, npg_array *x2, double p, double eps, bool keepdim);
/* max(0, margin + d(anchor, positive) - d(anchor, negative)), d the
 * pairwise distance above; swap uses min(d(a, n), d(p, n)). Inputs of one
 * ndim. [new] */
npg_array *npg_triplet_margin_loss(npg_array *anchor, npg_array *positive, npg_array *negative, double margin, double p,
                                   double eps, bool swap, npg_reduction reduction);
/* -(y logsigmoid(x) + (1 - y) logsigmoid(-x)) times weight (broadcast) or
 * NULL, averaged over the class axis x.ndim - 1 (of the broadcast loss):
 * x (..., C) -> (...) with NONE. x must not be 0-d. [new] */
npg_array *npg_multilabel_soft_margin_loss(npg_array *x, npg_array *y, npg_array *weight, npg_reduction reduction);
/* Multi-class hinge: per sample, sum over i != y of
 * weight[y] max(0, margin - x[y] + x[i])^p, divided by C. x (N, C), (C) or
 * 0-d (C = 1), C > 0; integer labels with N elements (0-d or 1-d; NONE
 * gives (N), or 0-d for 0-d labels); p 1 or 2; weight (C) or NULL. A label
 * outside [0, C) makes its sample's loss NaN (PyTorch raises an error;
 * checking would read the labels on the host). [new] */
npg_array *npg_multi_margin_loss(npg_array *x, npg_array *labels, int p, double margin, npg_array *weight,
                                 npg_reduction reduction);
/* Poisson NLL: exp(input) - target input (log_input), else
 * input - target log(input + eps); full adds the Stirling term
 * t log t - t + log(2 pi t) / 2 where t > 1. Its gradient is 0 where t <= 1
 * (PyTorch gives NaN for the target's at t = 0). PyTorch's eps: 1e-8. [new] */
npg_array *npg_poisson_nll_loss(npg_array *input, npg_array *target, bool log_input, bool full, double eps,
                                npg_reduction reduction);
/* Gaussian NLL: (log v + (input - target)^2 / v) / 2, plus log(2 pi) / 2
 * when full, with v = max(var, eps) whose gradient passes to var unclamped
 * (PyTorch's no_grad clamp). var has input's shape, that shape without the
 * last axis, or with a last axis of 1. A negative var is clamped to eps like
 * any other below it (PyTorch raises an error; checking would synchronise).
 * PyTorch's eps: 1e-6. [new] */
npg_array *npg_gaussian_nll_loss(npg_array *input, npg_array *target, npg_array *var, bool full, double eps,
                                 npg_reduction reduction);

/* ---- initialisation (in place, outside the graph) ------------------------ */

typedef enum npg_fan_mode { NPG_FAN_IN = 0, NPG_FAN_OUT } npg_fan_mode;
typedef struct npg_init_opts {
    npg_fan_mode mode;        /* kaiming: fan_in (default) or fan_out */
    double gain;              /* 0: sqrt(2) for kaiming (ReLU), 1 for xavier */
    npg_generator *generator; /* NULL: the global generator */
} npg_init_opts;
#define NPG_INIT_OPTS(...) (&(const npg_init_opts){__VA_ARGS__})

/* fan_in = shape[1] * prod(shape[2:]), fan_out = shape[0] * prod(shape[2:])
 * (a 1-d array has fan_in = fan_out = its length). Each returns a status and
 * bumps the version of w. */
npg_status npg_init_kaiming_uniform(npg_array *w, const npg_init_opts *opts); /* U(-b, b), b = gain*sqrt(3/fan) */
npg_status npg_init_kaiming_normal(npg_array *w, const npg_init_opts *opts);  /* N(0, gain/sqrt(fan)) */
npg_status npg_init_xavier_uniform(npg_array *w, const npg_init_opts *opts);  /* b = gain*sqrt(6/(in+out)) */
npg_status npg_init_xavier_normal(npg_array *w, const npg_init_opts *opts);   /* std = gain*sqrt(2/(in+out)) */
npg_status npg_init_zeros(npg_array *w);
npg_status npg_init_ones(npg_array *w);

/* ---- parameter lists (a minimal "module") --------------------------------- */

typedef struct npg_params npg_params;
/* An empty named list of parameters. [caller frees with npg_params_free] */
npg_params *npg_params_new(void);
/* Append x under `name` (copied); the list retains x. */
npg_status npg_params_add(npg_params *p, const char *name, npg_array *x);
int npg_params_count(const npg_params *p);
/* Parameter i and its name; NULL and NPG_ERR_INDEX when i is out of range. */
npg_array *npg_params_get(const npg_params *p, int i);       /* [borrowed] */
const char *npg_params_name(const npg_params *p, int i);    /* [borrowed] */
npg_array *npg_params_find(const npg_params *p, const char *name); /* [borrowed] or NULL */
/* The arrays as a C array of count() pointers, for the optimizers. [borrowed] */
npg_array *const *npg_params_arrays(const npg_params *p);
/* Total number of elements. */
int64_t npg_params_numel(const npg_params *p);
/* Save all parameters as one .npz (named entries) / load them back in place
 * by name (shapes must match; values are converted to each parameter's
 * dtype and device). */
npg_status npg_params_save(const npg_params *p, const char *path);
npg_status npg_params_load(npg_params *p, const char *path);
void npg_params_free(npg_params *p);

/* ---- optimizers ----------------------------------------------------------- */

typedef struct npg_optimizer npg_optimizer;

typedef struct npg_sgd_opts {
    double lr; /* required (> 0) */
    double momentum, dampening, weight_decay;
    bool nesterov;
} npg_sgd_opts;
#define NPG_SGD_OPTS(...) (&(const npg_sgd_opts){__VA_ARGS__})

typedef struct npg_adam_opts {
    double lr;           /* default 1e-3 */
    double beta1, beta2; /* defaults 0.9, 0.999 */
    double eps;          /* default 1e-8 */
    double weight_decay; /* default 0 (Adam), 0.01 (AdamW) */
} npg_adam_opts;
#define NPG_ADAM_OPTS(...) (&(const npg_adam_opts){__VA_ARGS__})

/* torch.optim.RMSprop. Zero means the default, so alpha = 0 itself cannot
 * be asked for (a tiny positive alpha behaves like it). */
typedef struct npg_rmsprop_opts {
    double lr;           /* default 0.01 */
    double alpha;        /* smoothing of the squared gradient, in [0, 1]; default 0.99 */
    double eps;          /* added to the root; default 1e-8 */
    double weight_decay; /* adds weight_decay * p to the gradient; default 0 */
    double momentum;     /* default 0 (none) */
    bool centered;       /* divide by the root of the gradient's estimated variance */
} npg_rmsprop_opts;
#define NPG_RMSPROP_OPTS(...) (&(const npg_rmsprop_opts){__VA_ARGS__})

/* torch.optim.Adagrad. Zero means the default. */
typedef struct npg_adagrad_opts {
    double lr;                        /* default 0.01 */
    double lr_decay;                  /* step t uses lr / (1 + (t - 1) lr_decay); default 0 */
    double weight_decay;              /* adds weight_decay * p to the gradient; default 0 */
    double initial_accumulator_value; /* the sum of squares starts here; default 0 */
    double eps;                       /* added to the root; default 1e-10 */
} npg_adagrad_opts;
#define NPG_ADAGRAD_OPTS(...) (&(const npg_adagrad_opts){__VA_ARGS__})

/* Optimizers over n parameters (retained), with PyTorch 1.13's update
 * rules. State (momentum, moments, sums) is created at a parameter's first
 * update, on its device. SGD, Adam and AdamW make one fused update per
 * tensor; RMSprop and Adagrad are composed from elementwise ops. opts NULL
 * means every default (not for SGD, whose lr is required). A negative or
 * NaN hyper-parameter, or alpha or a beta out of range, is
 * NPG_ERR_INVALID_ARG.
 * [caller frees with npg_optimizer_free] */
npg_optimizer *npg_sgd_new(npg_array *const *params, int n, const npg_sgd_opts *opts);
npg_optimizer *npg_adam_new(npg_array *const *params, int n, const npg_adam_opts *opts);
npg_optimizer *npg_adamw_new(npg_array *const *params, int n, const npg_adam_opts *opts);
npg_optimizer *npg_rmsprop_new(npg_array *const *params, int n, const npg_rmsprop_opts *opts);
npg_optimizer *npg_adagrad_new(npg_array *const *params, int n, const npg_adagrad_opts *opts);
/* Update every parameter that has a gradient (others are skipped), in
 * place; bumps their versions. Gradients are left as they are (PyTorch's
 * semantics): DESIGN.md's sketch `npg_sgd_step(opt)` ("updates w in place,
 * clears grads") is npg_optimizer_step followed by npg_optimizer_zero_grad. */
npg_status npg_optimizer_step(npg_optimizer *opt);
/* Drop every parameter's gradient. */
npg_status npg_optimizer_zero_grad(npg_optimizer *opt);
void npg_optimizer_set_lr(npg_optimizer *opt, double lr);
double npg_optimizer_get_lr(const npg_optimizer *opt);
void npg_optimizer_free(npg_optimizer *opt);

/* Scale all gradients so that their global L2 norm is at most max_norm.
 * Returns the norm before clipping (NaN and an error on failure). */
double npg_clip_grad_norm(npg_array *const *params, int n, double max_norm);

/* ---- loss scaling for float16 / bfloat16 training (PyTorch's GradScaler) --
 * Gradients that pass through half-precision ops underflow to zero when
 * they are small; scaling the loss by S scales every gradient by S, and the
 * scaler divides them back before the optimizer step. A step whose
 * gradients hold inf or NaN is skipped and S shrinks; after growth_interval
 * clean steps in a row S grows. Per iteration:
 *   npg_backward(npg_grad_scaler_scale(sc, loss), NULL);
 *   npg_grad_scaler_step(sc, opt, NULL);     (unscale, check, maybe step)
 *   npg_grad_scaler_update(sc);
 * npg_grad_scaler_unscale(sc, opt) before step lets the caller clip the true
 * gradients (npg_clip_grad_norm). Checking for inf / NaN reads one number
 * per device to the host (one synchronisation per step, as PyTorch). */
typedef struct npg_grad_scaler npg_grad_scaler;
typedef struct npg_grad_scaler_opts {
    double init_scale;       /* default 65536 */
    double growth_factor;    /* default 2 (> 1) */
    double backoff_factor;   /* default 0.5 (in (0, 1)) */
    int64_t growth_interval; /* default 2000 clean steps */
    bool disabled;           /* scale by 1, step unconditionally (toggle without code changes) */
} npg_grad_scaler_opts;
#define NPG_GRAD_SCALER_OPTS(...) (&(const npg_grad_scaler_opts){__VA_ARGS__})
/* opts NULL = defaults; an out-of-range option is NPG_ERR_INVALID_ARG.
 * [caller frees with npg_grad_scaler_free] */
npg_grad_scaler *npg_grad_scaler_new(const npg_grad_scaler_opts *opts);
void npg_grad_scaler_free(npg_grad_scaler *s);
/* loss * S in loss's dtype, differentiable (disabled: a view of loss). [new] */
npg_array *npg_grad_scaler_scale(npg_grad_scaler *s, npg_array *loss);
/* Divide opt's gradients by S in place and note whether any is inf / NaN;
 * at most once per optimizer between updates (NPG_ERR_INVALID_ARG). */
npg_status npg_grad_scaler_unscale(npg_grad_scaler *s, npg_optimizer *opt);
/* Unscale (unless done), then npg_optimizer_step unless a gradient was inf
 * or NaN; *stepped (may be NULL) says which. Once per optimizer between
 * updates. */
npg_status npg_grad_scaler_step(npg_grad_scaler *s, npg_optimizer *opt, bool *stepped);
/* After the steps: S *= backoff_factor if any optimizer saw inf / NaN, else
 * S *= growth_factor once every growth_interval clean updates (kept when
 * that would overflow). NPG_ERR_INVALID_ARG if nothing was unscaled since
 * the last update. */
npg_status npg_grad_scaler_update(npg_grad_scaler *s);
/* The current S (1 when disabled; NaN for NULL). */
double npg_grad_scaler_get_scale(const npg_grad_scaler *s);

/* ---- learning-rate schedules (pure functions of the step) -------------- */

/* base * gamma^floor(step / step_size) */
double npg_lr_step(double base_lr, int64_t step, int64_t step_size, double gamma);
/* min + (base - min) * (1 + cos(pi * step / total)) / 2, constant after total */
double npg_lr_cosine(double base_lr, int64_t step, int64_t total, double min_lr);
/* base * (step + 1) / warmup during the first warmup steps, then base */
double npg_lr_warmup(double base_lr, int64_t step, int64_t warmup);

#ifdef __cplusplus
}
#endif

#endif /* NPG_NN_H */
