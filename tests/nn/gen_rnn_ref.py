#!/usr/bin/python3
"""PyTorch reference constants for tests/nn/test_rnn.c (npg_rnn, npg_rnn_cell).

Run with a Python that has torch (1.13 was used) and numpy:

    /usr/bin/python3 tests/nn/gen_rnn_ref.py > /tmp/ref.c

and paste the output over the block between the "BEGIN generated" and
"END generated" markers of test_rnn.c. The inputs are not stored:
uniform(n, lo, hi, seed) reproduces t_fill_uniform of
tests/support/test_util.c bit for bit, so the C test builds the same inputs
from the same seeds. Every case is computed in float64.

Seeds of a case with base seed b (the C side's rcase_make follows the same
scheme; keep in sync):
    x          U[-1, 1)     b + 1   (in the layout given to the module)
    h0         U[-1, 1)     b + 2
    c0         U[-1, 1)     b + 3
    Wo, Wh, Wc U[-1, 1)     b + 4, b + 5, b + 6 (the loss weights, shapes of out, h_n, c_n)
    params[k]  U[-0.7, 0.7) b + 10 + k for weights, U[-0.4, 0.4) b + 10 + k for biases,
               k in PyTorch's order (per layer l, direction d: w_ih, w_hh, b_ih, b_hh)
The loss whose gradients are stored is sum(out Wo) + sum(h_n Wh) (+ sum(c_n Wc)).
"""
import math

import torch

torch.set_default_dtype(torch.float64)
M64 = (1 << 64) - 1


def uniform(n, lo, hi, seed):
    """t_fill_uniform: an LCG whose top 53 bits make a double in [0, 1)."""
    s = (seed * 6364136223846793005 + 1442695040888963407) & M64
    out = []
    for _ in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & M64
        u = float(s >> 11) * (1.0 / 9007199254740992.0)
        out.append(lo + (hi - lo) * u)
    return out


def rand(shape, lo, hi, seed):
    n = math.prod(shape)
    return torch.tensor(uniform(n, lo, hi, seed), dtype=torch.float64).reshape(shape)


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    body = ", ".join(repr(float(x)) for x in v)
    print(f"static const double {name}[{len(v)}] = {{{body}}};")


def make_module(mode, IN, H, L, bi, bias, batch_first):
    kw = dict(input_size=IN, hidden_size=H, num_layers=L, bidirectional=bi, bias=bias, batch_first=batch_first)
    if mode == "tanh":
        return torch.nn.RNN(nonlinearity="tanh", **kw)
    if mode == "relu":
        return torch.nn.RNN(nonlinearity="relu", **kw)
    if mode == "lstm":
        return torch.nn.LSTM(**kw)
    return torch.nn.GRU(**kw)


def rnn_case(tag, mode, base, T, B, IN, H, L, bi, bias, batch_first=False, unbatched=False, with_h0=True,
             grad_params=()):
    """Runs one case; emits REF_<tag>_OUT, _HN, (_CN), _GX, (_GH0, _GC0), _GP<k>."""
    D = 2 if bi else 1
    mod = make_module(mode, IN, H, L, bi, bias, batch_first)
    params = []  # PyTorch's order: l-major, forward first; w_ih, w_hh, b_ih, b_hh
    for l in range(L):
        for d in range(D):
            sfx = "_l%d%s" % (l, "_reverse" if d else "")
            names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
            for nm in names:
                params.append(getattr(mod, nm + sfx))
    assert len(params) == len(list(mod.parameters()))
    with torch.no_grad():
        for k, p in enumerate(params):
            lo, hi = (-0.7, 0.7) if p.dim() == 2 else (-0.4, 0.4)
            p.copy_(rand(tuple(p.shape), lo, hi, base + 10 + k))
    if unbatched:
        xs, hs = (T, IN), (L * D, H)
    else:
        xs = (B, T, IN) if batch_first else (T, B, IN)
        hs = (L * D, B, H)
    x = rand(xs, -1, 1, base + 1).requires_grad_(True)
    h0 = rand(hs, -1, 1, base + 2).requires_grad_(True) if with_h0 else None
    c0 = rand(hs, -1, 1, base + 3).requires_grad_(True) if (with_h0 and mode == "lstm") else None
    if mode == "lstm":
        out, (hn, cn) = mod(x, (h0, c0)) if with_h0 else mod(x)
    else:
        out, hn = mod(x, h0) if with_h0 else mod(x)
        cn = None
    loss = (out * rand(tuple(out.shape), -1, 1, base + 4)).sum() + (hn * rand(tuple(hn.shape), -1, 1, base + 5)).sum()
    if cn is not None:
        loss = loss + (cn * rand(tuple(cn.shape), -1, 1, base + 6)).sum()
    loss.backward()
    emit("REF_%s_OUT" % tag, out)
    emit("REF_%s_HN" % tag, hn)
    if cn is not None:
        emit("REF_%s_CN" % tag, cn)
    emit("REF_%s_GX" % tag, x.grad)
    if h0 is not None:
        emit("REF_%s_GH0" % tag, h0.grad)
    if c0 is not None:
        emit("REF_%s_GC0" % tag, c0.grad)
    for k in grad_params:
        emit("REF_%s_GP%d" % (tag, k), params[k].grad)


def cell_case(tag, relu, base, B, IN, H):
    """RNNCell: x (B, IN) base+1, h (B, H) base+2, w_ih base+10, w_hh base+11, b_ih base+12, b_hh base+13."""
    cell = torch.nn.RNNCell(IN, H, nonlinearity="relu" if relu else "tanh")
    with torch.no_grad():
        cell.weight_ih.copy_(rand((H, IN), -0.7, 0.7, base + 10))
        cell.weight_hh.copy_(rand((H, H), -0.7, 0.7, base + 11))
        cell.bias_ih.copy_(rand((H,), -0.4, 0.4, base + 12))
        cell.bias_hh.copy_(rand((H,), -0.4, 0.4, base + 13))
        x, h = rand((B, IN), -1, 1, base + 1), rand((B, H), -1, 1, base + 2)
        emit("REF_%s" % tag, cell(x, h))
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
        emit("REF_%s0" % tag, cell(x))  # zero state, no biases


def main():
    print("/* ---- BEGIN generated by tests/nn/gen_rnn_ref.py (torch %s) ---- */" % torch.__version__)
    # the four modes: T 4, B 2, in 3, H 3, 2 layers, bidirectional, biases, h0 (and c0)
    gp = (0, 2, 8, 13, 15)  # l0 fwd w_ih and b_ih, l1 fwd w_ih, l1 rev w_hh and b_hh
    rnn_case("TANH", "tanh", 1000, 4, 2, 3, 3, 2, True, True, grad_params=gp)
    rnn_case("RELU", "relu", 1100, 4, 2, 3, 3, 2, True, True, grad_params=gp)
    rnn_case("LSTM", "lstm", 1200, 4, 2, 3, 3, 2, True, True, grad_params=gp)
    rnn_case("GRU", "gru", 1300, 4, 2, 3, 3, 2, True, True, grad_params=gp)
    # GRU without biases, batch_first, one bidirectional layer, no h0: T 5, B 3, in 4, H 2
    rnn_case("NOBIAS", "gru", 1400, 5, 3, 4, 2, 1, True, False, batch_first=True, with_h0=False, grad_params=(1, 2))
    # unbatched LSTM: x (T 3, in 3), h0 and c0 (L*D 4, H 2), 2 layers, bidirectional
    rnn_case("UNB", "lstm", 1500, 3, 1, 3, 2, 2, True, True, unbatched=True, grad_params=(12,))
    # relu, 3 layers, one direction, no h0: T 3, B 2, in 4, H 3
    rnn_case("DEEP", "relu", 1800, 3, 2, 4, 3, 3, False, True, with_h0=False, grad_params=(4, 9))
    # GRU with biases and no h0 (the first step's hidden part is b_hh alone): T 3, B 2, in 3, H 2, 2 layers, one direction
    rnn_case("GRU0", "gru", 1900, 3, 2, 3, 2, 2, False, True, with_h0=False, grad_params=(3, 7))
    # LSTM, batch_first, one layer, one direction, no h0: T 4, B 2, in 2, H 3
    rnn_case("LSTM0", "lstm", 1950, 4, 2, 2, 3, 1, False, True, batch_first=True, with_h0=False, grad_params=(0, 3))
    # Elman cells: B 3, in 4, H 3
    cell_case("CELL_TANH", False, 1600, 3, 4, 3)
    cell_case("CELL_RELU", True, 1700, 3, 4, 3)
    print("/* ---- END generated ---- */")


if __name__ == "__main__":
    main()
