#!/usr/bin/env python3
"""torch_ref.py - the PyTorch side of npg-bench: the same workloads, timed the
same way (calibrate the iteration count, warm up, median of repetitions,
synchronising around each timed loop on CUDA), written as JSON.

npg-bench runs it with --plan FILE (lines "name device dtype size", the
workloads npg measured) and OMP_WAIT_POLICY=PASSIVE in the environment; on
its own it runs the default (or --quick) list. Exits with status 3 when
PyTorch cannot be imported, so npg-bench can try another Python.

  python3 torch_ref.py [--plan FILE] [--json OUT] [--threads N] [--quick]
                       [--reps N] [--min-time S] [--max-total S] [--data DIR]
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except Exception as e:  # no PyTorch in this Python
    print("torch_ref.py: cannot import torch (%s)" % e, file=sys.stderr)
    sys.exit(3)

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "int8": torch.int8}
UNITS = {"overhead_add": "us", "overhead_fwd_bwd": "us", "exp": "GB/s", "add": "GB/s", "mul": "GB/s",
         "sum": "GB/s", "sum_axis0": "GB/s", "sum_axis0_wide": "GB/s", "matmul": "GFLOP/s", "solve": "GFLOP/s", "mlp_step": "ms", "cnn_step": "ms", "lstm_step": "ms",
         "mlp_epoch": "s"}


def log(msg):
    print("torch_ref.py: " + msg, flush=True)


def sync_fn(dev):
    if dev.type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def bench_time(body, sync, a):
    """Median seconds per iteration of body(iters), as npg-bench's bench_time."""
    def rep(iters):
        sync()
        t0 = time.perf_counter()
        body(iters)
        sync()
        return time.perf_counter() - t0

    iters = 1
    dt = rep(iters)
    grown = 0
    while dt < a.min_time and iters < (1 << 26):
        f = 1.3 * a.min_time / dt if dt > 0 else 100
        f = min(max(f, 2), 100)
        iters = int(math.ceil(iters * f))
        dt = rep(iters)
        grown += 1
    if grown == 0 and dt < 0.25 * a.max_total:
        dt = rep(iters)
    reps = max(1, a.reps)
    if dt * reps > a.max_total:
        reps = max(1, min(reps, int(a.max_total / dt)))
    per = sorted(rep(iters) / iters for _ in range(reps))
    n = len(per)
    return per[n // 2] if n % 2 else 0.5 * (per[n // 2 - 1] + per[n // 2])


# ---- micro ---------------------------------------------------------------------

def run_overhead_add(dev, dt, n, a):
    x = torch.ones(1, dtype=dt, device=dev)
    y = torch.ones(1, dtype=dt, device=dev)

    def body(iters):
        for _ in range(iters):
            x + y
    return bench_time(body, sync_fn(dev), a) * 1e6


def run_overhead_fwd_bwd(dev, dt, n, a):
    x = torch.full((1,), 1.5, dtype=dt, device=dev, requires_grad=True)
    y = torch.full((1,), 2.0, dtype=dt, device=dev, requires_grad=True)
    z = torch.full((1,), -1.0, dtype=dt, device=dev, requires_grad=True)

    def body(iters):
        for _ in range(iters):
            ((x * y + z).relu().sum()).backward()
            x.grad = None
            y.grad = None
            z.grad = None
    return bench_time(body, sync_fn(dev), a) * 1e6


def run_elementwise(name, dev, dt, n, a):
    if dt.is_floating_point:
        x = torch.rand(n, dtype=dt, device=dev)
        y = torch.rand(n, dtype=dt, device=dev)
    else:  # small values, as npg-bench's (sums exact)
        x = torch.randint(0, 100, (n,), dtype=dt, device=dev)
        y = torch.randint(0, 100, (n,), dtype=dt, device=dev)
    es = x.element_size()
    cols = (4096 if name == "sum_axis0_wide" else 1024) if n >= 1024 else n
    cols = min(cols, n)
    x2 = x.view(n // cols, cols)
    if name == "exp":
        f, nbytes = (lambda: torch.exp(x)), 2 * n * es
    elif name == "add":
        f, nbytes = (lambda: x + y), 3 * n * es
    elif name == "mul":
        f, nbytes = (lambda: x * y), 3 * n * es
    elif name == "sum":
        f, nbytes = (lambda: x.sum()), n * es
    else:
        f, nbytes = (lambda: x2.sum(0)), n * es + cols * es

    def body(iters):
        for _ in range(iters):
            f()
    return nbytes / bench_time(body, sync_fn(dev), a) / 1e9


def run_matmul(dev, dt, n, a):
    x = torch.randn(n, n, dtype=dt, device=dev)
    y = torch.randn(n, n, dtype=dt, device=dev)

    def body(iters):
        for _ in range(iters):
            x @ y
    return 2.0 * n ** 3 / bench_time(body, sync_fn(dev), a) / 1e9


def run_solve(dev, dt, n, a):
    x = torch.randn(n, n, dtype=dt, device=dev) + n * torch.eye(n, dtype=dt, device=dev)
    b = torch.randn(n, dtype=dt, device=dev)

    def body(iters):
        for _ in range(iters):
            torch.linalg.solve(x, b)
    return (2.0 / 3.0 * n ** 3 + 2.0 * n ** 2) / bench_time(body, sync_fn(dev), a) / 1e9


# ---- macro ---------------------------------------------------------------------

def make_model(cnn, dev):
    nn = torch.nn
    if not cnn:
        m = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    else:
        m = nn.Sequential(nn.Unflatten(1, (1, 28, 28)),
                          nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    m = m.to(dev)
    return m, torch.optim.Adam(m.parameters(), lr=1e-3)


def step(model, opt, x, y):
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()


def run_step(cnn, dev, dt, batch, a):
    model, opt = make_model(cnn, dev)
    x = torch.randn(batch, 784, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)

    def body(iters):
        for _ in range(iters):
            step(model, opt, x, y)
    return bench_time(body, sync_fn(dev), a) * 1e3


def run_lstm(dev, dt, batch, a):
    """bench_macro.c's lstm_step with PyTorch's fastest path, nn.LSTM."""
    nn = torch.nn
    rnn, head = nn.LSTM(32, 128).to(dev), nn.Linear(128, 1).to(dev)
    opt = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=1e-3)
    x = torch.randn(32, batch, 32, device=dev)
    y = torch.randn(batch, 1, device=dev)

    def body(iters):
        for _ in range(iters):
            opt.zero_grad(set_to_none=True)
            out, _ = rnn(x)
            F.mse_loss(head(out[-1]), y).backward()
            opt.step()
    return bench_time(body, sync_fn(dev), a) * 1e3


def load_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, kind, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08:
        raise ValueError("%s: not a ubyte IDX file" % path)
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def find_idx(d, name):
    for p in (os.path.join(d, name + ".gz"), os.path.join(d, name)):
        if os.path.exists(p):
            return p
    raise FileNotFoundError("Fashion-MNIST not found in %s" % d)


def run_epoch(dev, dt, images, a):
    x = load_idx(find_idx(a.data, "train-images-idx3-ubyte"))[:images].reshape(-1, 784).float().div_(255)
    y = load_idx(find_idx(a.data, "train-labels-idx1-ubyte"))[:images].long()
    x = ((x - x.mean()) / x.std(unbiased=False)).to(dev)
    y = y.to(dev)
    model, opt = make_model(False, dev)
    for _ in range(3):  # warm-up
        step(model, opt, x[:128], y[:128])
    sync = sync_fn(dev)
    n = x.shape[0]
    g = torch.Generator(device="cpu").manual_seed(1)
    reps = 1 if a.quick else max(1, min(a.reps, 3))
    per = []
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=g).to(dev)
        for i in range(0, n, 128):
            idx = perm[i:i + 128]
            step(model, opt, x[idx], y[idx])
        sync()
        per.append(time.perf_counter() - t0)
    per.sort()
    k = len(per)
    return per[k // 2] if k % 2 else 0.5 * (per[k // 2 - 1] + per[k // 2])


def run_one(name, device, dtype, size, a):
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA not available to PyTorch")
    dev = torch.device("cuda:0" if device == "cuda" else "cpu")
    dt = DTYPES[dtype]
    if name == "overhead_add":
        return run_overhead_add(dev, dt, size, a)
    if name == "overhead_fwd_bwd":
        return run_overhead_fwd_bwd(dev, dt, size, a)
    if name in ("exp", "add", "mul", "sum", "sum_axis0", "sum_axis0_wide"):
        return run_elementwise(name, dev, dt, size, a)
    if name == "matmul":
        return run_matmul(dev, dt, size, a)
    if name == "solve":
        return run_solve(dev, dt, size, a)
    if name in ("mlp_step", "cnn_step"):
        return run_step(name == "cnn_step", dev, dt, size, a)
    if name == "lstm_step":
        return run_lstm(dev, dt, size, a)
    if name == "mlp_epoch":
        return run_epoch(dev, dt, size, a)
    raise ValueError("unknown workload " + name)


def default_plan(quick):
    """The list npg-bench runs by default (kept in step with bench_micro.c / bench_macro.c)."""
    elems = [1 << 10, 1 << 16, 1 << 20, 1 << 24] if quick else [1 << 10, 1 << 14, 1 << 18, 1 << 22, 1 << 24, 1 << 26]
    mats = [64, 256, 1024] if quick else [64, 128, 256, 512, 1024, 2048, 4096]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    plan = []
    for d in devices:
        plan += [("overhead_add", d, "float32", 1), ("overhead_fwd_bwd", d, "float32", 1)]
        for n in elems:
            for dt in ("float32", "float64", "bfloat16", "float16"):
                plan += [(w, d, dt, n) for w in ("exp", "add", "mul", "sum", "sum_axis0", "sum_axis0_wide")]
            plan += [(w, d, "int8", n) for w in ("add", "mul", "sum", "sum_axis0", "sum_axis0_wide")]
        plan += [("matmul", d, dt, n) for dt in ("float32", "float64", "bfloat16", "float16") for n in mats]
        plan += [("solve", d, dt, n) for dt in ("float32", "float64") for n in ([256, 1024] if quick else [256, 1024, 2048])]
        plan += [("mlp_step", d, "float32", 128), ("mlp_step", d, "float32", 1024), ("cnn_step", d, "float32", 128),
                 ("lstm_step", d, "float32", 64), ("mlp_epoch", d, "float32", 10000 if quick else 60000)]
    return plan


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plan")
    p.add_argument("--json")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=0)
    p.add_argument("--min-time", type=float, default=0)
    p.add_argument("--max-total", type=float, default=0)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    if a.reps <= 0:
        a.reps = 3 if a.quick else 7
    if a.min_time <= 0:
        a.min_time = 0.004 if a.quick else 0.05
    if a.max_total <= 0:
        a.max_total = 0.6 if a.quick else 12
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False  # exact FP32, as npg and the cuBLAS ceiling
        torch.backends.cudnn.allow_tf32 = False

    if a.plan:
        plan = []
        with open(a.plan) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4:
                    plan.append((parts[0], parts[1], parts[2], int(parts[3])))
    else:
        plan = default_plan(a.quick)

    cuda_name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    note = "PyTorch %s, %d CPU threads, OMP_WAIT_POLICY=%s%s" % (
        torch.__version__, torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        ", CUDA: " + cuda_name if cuda_name else "")
    log(note)
    results = []
    t_start = time.perf_counter()
    for name, device, dtype, size in plan:
        r = {"name": name, "device": device, "dtype": dtype, "size": size, "unit": UNITS.get(name, ""),
             "value": None, "error": None}
        try:
            v = run_one(name, device, dtype, size, a)
            r["value"] = v if v == v and math.isfinite(v) else None
            log("%s %s %s %d: %.4g %s" % (device, name, dtype, size, v, r["unit"]))
        except Exception as e:  # report and carry on, like npg-bench
            r["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
            log("%s %s %s %d: %s" % (device, name, dtype, size, r["error"]))
            if device == "cuda":
                try:
                    torch.cuda.empty_cache()
                except Exception:
                    pass
        results.append(r)
    doc = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "cuda": cuda_name,
           "note": note, "seconds": time.perf_counter() - t_start, "results": results}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
    else:
        json.dump(doc, sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    main()
