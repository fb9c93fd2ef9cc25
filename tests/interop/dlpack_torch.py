"""dlpack_torch.py LIBNPG — exchange arrays between npg (loaded with ctypes
from the shared library) and PyTorch through DLPack, both ways, zero-copy:
values, strides, dtypes, writes seen by the other side, and memory that
lives until both sides let go (npg's live-object counters return to where
they started). Exit 77 (ctest: skipped) when this Python has no PyTorch.
Run by ctest as dlpack_torch (tests/CMakeLists.txt)."""
import ctypes
import sys

try:
    import torch
    import torch.utils.dlpack as tdl
except ImportError:
    print("skipped: this Python has no PyTorch")
    sys.exit(77)

MAX_DIMS = 8
UINT8, INT32, INT64, FLOAT32, FLOAT64, INT8, INT16 = 2, 3, 4, 5, 6, 9, 10  # npg_dtype values, checked below


class Shape(ctypes.Structure):
    _fields_ = [("ndim", ctypes.c_int), ("dims", ctypes.c_int64 * MAX_DIMS)]


class Axes(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int), ("axes", ctypes.c_int * MAX_DIMS)]


lib = ctypes.CDLL(sys.argv[1])
P = ctypes.c_void_p
for name, res, args in [
    ("npg_arange", P, [ctypes.c_double, ctypes.c_double, ctypes.c_double, P]),
    ("npg_astype", P, [P, ctypes.c_int]),
    ("npg_reshape", P, [P, Shape]),
    ("npg_permute_dims", P, [P, Axes]),
    ("npg_free", None, [P]),
    ("npg_to_dlpack", P, [P]),
    ("npg_from_dlpack", P, [P]),
    ("npg_copy_to_host", ctypes.c_int, [P, P, ctypes.c_size_t]),
    ("npg_size", ctypes.c_int64, [P]),
    ("npg_dtype_of", ctypes.c_int, [P]),
    ("npg_dtype_name", ctypes.c_char_p, [ctypes.c_int]),
    ("npg_last_error", ctypes.c_char_p, []),
    ("npg__live_arrays", ctypes.c_int64, []),
    ("npg__live_storages", ctypes.c_int64, []),
]:
    f = getattr(lib, name)
    f.restype, f.argtypes = res, args

api = ctypes.pythonapi
api.PyCapsule_New.restype = ctypes.py_object
api.PyCapsule_New.argtypes = [P, ctypes.c_char_p, P]
api.PyCapsule_GetPointer.restype = P
api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
api.PyCapsule_SetName.restype = ctypes.c_int
api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]

for d, n in [(UINT8, b"uint8"), (INT32, b"int32"), (INT64, b"int64"), (FLOAT32, b"float32"), (FLOAT64, b"float64"),
             (INT8, b"int8"), (INT16, b"int16")]:
    assert lib.npg_dtype_name(d) == n, (d, lib.npg_dtype_name(d))
NP = {UINT8: ("B", torch.uint8), FLOAT32: ("f", torch.float32), FLOAT64: ("d", torch.float64), INT32: ("i", torch.int32),
      INT64: ("q", torch.int64), INT8: ("b", torch.int8), INT16: ("h", torch.int16)}
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def npg_values(x):
    """x's elements, row-major, as a Python list."""
    code = NP[lib.npg_dtype_of(x)][0]
    n = lib.npg_size(x)
    buf = (ctypes.c_byte * (8 * max(n, 1)))()
    assert lib.npg_copy_to_host(x, buf, ctypes.sizeof(buf)) == 0, lib.npg_last_error()
    import array
    return array.array(code, bytes(buf)[: n * array.array(code).itemsize]).tolist()


def ok(p, what):
    if not p:
        raise SystemExit("%s failed: %s" % (what, lib.npg_last_error().decode()))
    return p


live0 = (lib.npg__live_arrays(), lib.npg__live_storages())

# ---- npg -> torch --------------------------------------------------------
for dt in (UINT8, INT32, INT64, FLOAT32, FLOAT64, INT8, INT16):
    a = ok(lib.npg_arange(0, 12, 1, None), "arange")
    b = ok(lib.npg_astype(a, dt), "astype")
    shape = Shape(2, (ctypes.c_int64 * MAX_DIMS)(3, 4))
    c = ok(lib.npg_reshape(b, shape), "reshape")
    x = ok(lib.npg_permute_dims(c, Axes(2, (ctypes.c_int * MAX_DIMS)(1, 0))), "permute_dims")  # (4, 3) view
    for p in (a, b, c):
        lib.npg_free(p)
    t = ok(lib.npg_to_dlpack(x), "npg_to_dlpack")
    cap = api.PyCapsule_New(t, b"dltensor", None)
    tt = tdl.from_dlpack(cap)
    want = torch.arange(12).reshape(3, 4).t().to(NP[dt][1])
    check(tt.dtype == NP[dt][1], "npg->torch dtype %s" % tt.dtype)
    check(tuple(tt.shape) == (4, 3) and tt.stride() == (1, 4), "npg->torch shape %s strides %s" % (tt.shape, tt.stride()))
    check(torch.equal(tt, want), "npg->torch values %s" % tt)
    tt[1, 2] = 99  # torch writes, npg sees (element (1, 2) of the (4, 3) view)
    check(npg_values(x)[1 * 3 + 2] == 99, "a torch write seen by npg")
    lib.npg_free(x)  # torch still holds the memory
    check(int(tt.sum()) == sum(range(12)) - 9 + 99, "torch after npg freed its array")
    del tt, cap
check((lib.npg__live_arrays(), lib.npg__live_storages()) == live0, "npg->torch: live objects %s, want %s" % (
    (lib.npg__live_arrays(), lib.npg__live_storages()), live0))

# ---- torch -> npg --------------------------------------------------------
for dt, tdt in ((UINT8, torch.uint8), (INT32, torch.int32), (INT64, torch.int64), (FLOAT32, torch.float32),
                (FLOAT64, torch.float64), (INT8, torch.int8), (INT16, torch.int16)):
    base = (torch.arange(20) - (0 if tdt == torch.uint8 else 7)).to(tdt).reshape(4, 5)
    src = base[::2, 1:].t()  # non-contiguous, with an offset: shape (4, 2), strides (1, 10)
    cap = tdl.to_dlpack(src)
    ptr = api.PyCapsule_GetPointer(cap, b"dltensor")
    y = ok(lib.npg_from_dlpack(ptr), "npg_from_dlpack")
    api.PyCapsule_SetName(cap, b"used_dltensor")  # npg owns it now: the capsule must not free it
    check(lib.npg_dtype_of(y) == dt, "torch->npg dtype %d" % lib.npg_dtype_of(y))
    check(npg_values(y) == src.contiguous().flatten().tolist(), "torch->npg values %s vs %s" % (
        npg_values(y), src.contiguous().flatten().tolist()))
    src[0, 1] = 42  # torch writes into the shared memory: npg sees it
    check(npg_values(y)[1] == 42, "a torch write seen by npg")
    del src, cap, base  # npg still holds the memory through the deleter
    check(npg_values(y)[1] == 42, "npg after torch dropped its tensors")
    lib.npg_free(y)  # calls torch's deleter
check((lib.npg__live_arrays(), lib.npg__live_storages()) == live0, "torch->npg: live objects")

if failures:
    print("%d checks failed" % failures)
    sys.exit(1)
print("dlpack with torch %s: all checks passed" % torch.__version__)
