/*
 * fm_model.h — the main job's two Fashion-MNIST models, shared by
 * examples/fashion_mnist.c and npg-bench (bench/bench_macro.c) so that the
 * benchmark times exactly what the example trains.
 *
 *   mlp  784-512-256-10, ReLU
 *   cnn  conv3x3(1->16, pad 1)-relu-maxpool2, conv3x3(16->32, pad 1)-relu-
 *        maxpool2, linear(1568->128)-relu, linear(128->10)
 * Weights Kaiming-uniform, biases zero; parameters named "fc1.weight"...
 */
#ifndef NPG_FM_MODEL_H
#define NPG_FM_MODEL_H

#include "npg.h"

/* The model's parameters on `dev` (zero: the default device), or NULL with
 * the error set. [caller frees with npg_params_free] */
static inline npg_params *fm_model_new(bool cnn, npg_device dev) {
    static const struct {
        const char *name;
        npg_shape shape;
    } mlp[] = {{"fc1.weight", NPG_SHAPE(512, 784)}, {"fc1.bias", NPG_SHAPE(512)},
               {"fc2.weight", NPG_SHAPE(256, 512)}, {"fc2.bias", NPG_SHAPE(256)},
               {"fc3.weight", NPG_SHAPE(10, 256)},  {"fc3.bias", NPG_SHAPE(10)}},
      conv[] = {{"conv1.weight", NPG_SHAPE(16, 1, 3, 3)}, {"conv1.bias", NPG_SHAPE(16)},
                {"conv2.weight", NPG_SHAPE(32, 16, 3, 3)}, {"conv2.bias", NPG_SHAPE(32)},
                {"fc1.weight", NPG_SHAPE(128, 32 * 7 * 7)}, {"fc1.bias", NPG_SHAPE(128)},
                {"fc2.weight", NPG_SHAPE(10, 128)},         {"fc2.bias", NPG_SHAPE(10)}};
    int n = cnn ? (int)(sizeof conv / sizeof conv[0]) : (int)(sizeof mlp / sizeof mlp[0]);
    npg_params *ps = npg_params_new();
    for (int i = 0; ps && i < n; i++) {
        const char *name = cnn ? conv[i].name : mlp[i].name;
        npg_array *p = npg_empty(cnn ? conv[i].shape : mlp[i].shape, NPG_OPTS(.device = dev, .requires_grad = true));
        bool weight = npg_ndim(p) > 1;
        npg_status st = !p ? npg_last_status() : weight ? npg_init_kaiming_uniform(p, NULL) : npg_init_zeros(p);
        if (st == NPG_OK) st = npg_params_add(ps, name, p);
        npg_free(p); /* the list holds it */
        if (st != NPG_OK) {
            npg_params_free(ps);
            ps = NULL;
        }
    }
    return ps;
}

/* Logits (N, 10) for images x (N, 784); intermediates belong to the
 * caller's scope. compute 0: the parameters' dtype; NPG_FLOAT16 or
 * NPG_BFLOAT16: mixed precision, as PyTorch's autocast does it: the
 * (float32) parameters and x are cast to it for the layers (the casts are
 * differentiable, so the gradients arrive in float32) and the logits come
 * back in float32 for the loss. */
static inline npg_array *fm_model_layers(const npg_params *ps, bool cnn, npg_array *x, npg_dtype compute) {
#define FM_P(name) (compute ? npg_astype(npg_params_find(ps, name), compute) : npg_params_find(ps, name))
    if (!cnn) {
        npg_array *h = npg_relu(npg_linear(x, FM_P("fc1.weight"), FM_P("fc1.bias")));
        h = npg_relu(npg_linear(h, FM_P("fc2.weight"), FM_P("fc2.bias")));
        return npg_linear(h, FM_P("fc3.weight"), FM_P("fc3.bias"));
    }
    const npg_pool2d_opts *pool = NPG_POOL2D_OPTS(.kernel = {2, 2});
    const npg_conv2d_opts *same = NPG_CONV2D_OPTS(.padding = {1, 1});
    npg_array *h = npg_reshape(x, NPG_SHAPE(-1, 1, 28, 28));
    h = npg_max_pool2d(npg_relu(npg_conv2d(h, FM_P("conv1.weight"), FM_P("conv1.bias"), same)), pool);
    h = npg_max_pool2d(npg_relu(npg_conv2d(h, FM_P("conv2.weight"), FM_P("conv2.bias"), same)), pool);
    h = npg_relu(npg_linear(npg_flatten_from(h, 1), FM_P("fc1.weight"), FM_P("fc1.bias")));
    return npg_linear(h, FM_P("fc2.weight"), FM_P("fc2.bias"));
#undef FM_P
}

static inline npg_array *fm_model_forward(const npg_params *ps, bool cnn, npg_array *x, npg_dtype compute) {
    if (!compute) return fm_model_layers(ps, cnn, x, 0);
    return npg_astype(fm_model_layers(ps, cnn, npg_astype(x, compute), compute), NPG_FLOAT32);
}

#endif
