"""Shared by the PyTorch reference scripts tests/nn/gen_*_ref.py: the test
inputs rebuilt from seeds, and the printing of C constants.

uniform(n, lo, hi, seed) reproduces t_fill_uniform of
tests/support/test_util.c bit for bit, so the C tests build the same inputs
from the same seeds and only the outputs are stored.
"""
import math

import torch

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


def rand(shape, lo, hi, seed, grad=False):
    """A float64 tensor of shape filled by uniform(); requiring grad if asked."""
    t = torch.tensor(uniform(math.prod(shape), lo, hi, seed), dtype=torch.float64).reshape(shape)
    return t.requires_grad_(grad) if grad else t


def c_double(x):
    """x as a C double literal (repr, with C's spellings of the non-finite)."""
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    return repr(x)


def emit(name, t, fmt=repr):
    """Print t (any shape) as `static const double name[n] = {...};`."""
    v = t.detach().reshape(-1).tolist()
    body = ", ".join(fmt(float(x)) for x in v)
    print(f"static const double {name}[{len(v)}] = {{{body}}};")
