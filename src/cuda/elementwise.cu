/*
 * elementwise.cu — the COPY-family entries and WHERE: fill, copy (strided,
 * every dtype pair with backend.h's conversion rules from scalar_ops.h)
 * and where. All run through elementwise.cuh's flat/strided kernels; the
 * output may have any strides (never aliasing itself). fill, copy and where
 * take float16 / bfloat16 as bit patterns (npg_cu_dispatch_storage).
 *
 * Kernels are compiled per bit pattern where the dtype does not matter:
 * fill, where and same-dtype copies move elements as the unsigned integer
 * of their width, and integer -> integer conversions (which wrap) write the
 * unsigned integer of the output's width.
 */
#include "elementwise.cuh"

#include <string.h>

/* The dtype whose bits move for dtype D: the unsigned integer of its width. */
template <npg_dtype D> static constexpr npg_dtype npg_cu_bits_v = npg_cu_uint_of_size(sizeof(CT<D>));

/* d (dtype D) as a source of its bit patterns (weak scalars converted to D first). */
template <npg_dtype D> static npg_cu_src<CT<npg_cu_bits_v<D>>> npg_cu_src_bits(const npg_tdesc *d) {
    typedef CT<npg_cu_bits_v<D>> B;
    static_assert(sizeof(B) == sizeof(CT<D>), "a bit pattern of the same width");
    const npg_cu_src<CT<D>> t = npg_cu_src_of<D>(d);
    npg_cu_src<B> r;
    r.p = (const B *)t.p;
    memcpy(&r.s, &t.s, sizeof(B));
    r.mode = t.mode;
    return r;
}

/* ---- fill ----------------------------------------------------------------------- */

/* out: any shape and strides; every element = v */
template <npg_dtype D> struct npg_cu_fill_body {
    typedef CT<D> T;
    static constexpr int W = 16 / (int)sizeof(T);
    T *out;
    T v;

    template <int V> __device__ __forceinline__ void vec(int64_t i) const {
        T y[V];
#pragma unroll
        for (int k = 0; k < V; k++) y[k] = v;
        npg_cu_vstore<V>(out + i, y);
    }
    __device__ __forceinline__ void at(const int64_t (&off)[1]) const { out[off[0]] = v; }
};

npg_status npg_cu_fill(int dev, const npg_tdesc *out, double value, int64_t ivalue) {
    NPG_CU_CTX(ctx, dev);
    return npg_cu_dispatch_storage(out->dtype, "fill", [&](auto tag) -> npg_status {
        constexpr npg_dtype D = decltype(tag)::value;
        constexpr npg_dtype DB = npg_cu_bits_v<D>; /* the value's bits are stored */
        typedef npg_cu_fill_body<DB> Body;
        npg_cu_ew_setup<1> s;
        const npg_tdesc *d[1] = {out};
        npg_cu_ew_prepare<1>(s, d, Body::W);
        if (s.n == 0) return NPG_OK;
        Body body;
        body.out = (CT<DB> *)out->data;
        const CT<D> v = npg_cu_host_value<D>(value, ivalue);
        static_assert(sizeof(v) == sizeof(body.v), "a bit pattern of the same width");
        memcpy(&body.v, &v, sizeof(v));
        return npg_cu_ew_run(ctx, body, s.flat, s.g, s.n, "fill");
    });
}

/* ---- copy with conversion ------------------------------------------------------------- */

/* out: (S...) any strides, dtype DO; in: (S...) any strides (0 allowed), dtype DI */
template <npg_dtype DO, npg_dtype DI> struct npg_cu_copy_body {
    typedef CT<DO> TO;
    typedef CT<DI> TI;
    static constexpr int W = 16 / npg_cu_max_size<TO, TI>::value;
    TO *out;
    npg_cu_src<TI> in;

    template <int V> __device__ __forceinline__ void vec(int64_t i) const {
        TI x[V];
        in.template load<V>(x, i);
        TO y[V];
#pragma unroll
        for (int k = 0; k < V; k++) y[k] = npg_cu_convert<DO, DI>(x[k]);
        npg_cu_vstore<V>(out + i, y);
    }
    __device__ __forceinline__ void at(const int64_t (&off)[2]) const {
        out[off[0]] = npg_cu_convert<DO, DI>(in.at(off[1]));
    }
};

/* The kernel dtypes (out, in) of a DI -> DO copy: a same-dtype copy moves
 * bits; an integer or bool -> integer conversion wraps, so its result
 * depends only on the output's width, not its signedness. */
template <npg_dtype DO, npg_dtype DI> struct npg_cu_copy_kinds {
    static constexpr bool wrap = (DI == NPG_BOOL || npg_cu_is_int(DI)) && npg_cu_is_int(DO);
    static constexpr npg_dtype in = DO == DI ? npg_cu_bits_v<DI> : DI;
    static constexpr npg_dtype out = DO == DI ? npg_cu_bits_v<DO> : wrap ? npg_cu_bits_v<DO> : DO;
};

npg_status npg_cu_copy(int dev, const npg_tdesc *out, const npg_tdesc *in) {
    NPG_CU_CTX(ctx, dev);
    return npg_cu_dispatch_storage(out->dtype, "copy", [&](auto otag) -> npg_status {
        return npg_cu_dispatch_storage(in->dtype, "copy", [&](auto itag) -> npg_status {
            constexpr npg_dtype DI = decltype(itag)::value;
            typedef npg_cu_copy_kinds<decltype(otag)::value, DI> K;
            constexpr npg_dtype KO = K::out, KI = K::in;
            typedef npg_cu_copy_body<KO, KI> Body;
            npg_cu_ew_setup<2> s;
            const npg_tdesc *d[2] = {out, in};
            npg_cu_ew_prepare<2>(s, d, Body::W);
            if (s.n == 0) return NPG_OK;
            Body body;
            body.out = (CT<KO> *)out->data;
            if constexpr (KI == DI) body.in = npg_cu_src_of<DI>(in);
            else body.in = npg_cu_src_bits<DI>(in); /* a weak scalar's value in DI, as bits */
            body.in.mode = s.mode[1];
            return npg_cu_ew_run(ctx, body, s.flat, s.g, s.n, "copy");
        });
    });
}

/* ---- where ------------------------------------------------------------------------------- */

/* out: (S...) dtype D; cond: (S...) bool (broadcast strides); a, b: (S...)
 * dtype D, broadcast strides or weak scalars */
template <npg_dtype D> struct npg_cu_where_body {
    typedef CT<D> T;
    static constexpr int W = 16 / (int)sizeof(T);
    T *out;
    npg_cu_src<uint8_t> cond;
    npg_cu_src<T> a, b;

    template <int V> __device__ __forceinline__ void vec(int64_t i) const {
        uint8_t c[V];
        T x[V], y[V], r[V];
        cond.template load<V>(c, i);
        a.template load<V>(x, i);
        b.template load<V>(y, i);
#pragma unroll
        for (int k = 0; k < V; k++) r[k] = c[k] ? x[k] : y[k];
        npg_cu_vstore<V>(out + i, r);
    }
    __device__ __forceinline__ void at(const int64_t (&off)[4]) const {
        out[off[0]] = cond.at(off[1]) ? a.at(off[2]) : b.at(off[3]);
    }
};

npg_status npg_cu_where(int dev, const npg_tdesc *out, const npg_tdesc *cond, const npg_tdesc *a, const npg_tdesc *b) {
    NPG_CU_CTX(ctx, dev);
    if (cond->dtype != NPG_BOOL && cond->dtype != NPG_UINT8) return npg_cu_unsupported("where (condition)", cond->dtype);
    if (a->dtype != out->dtype || b->dtype != out->dtype)
        return npg__set_error(NPG_ERR_DTYPE, "cuda where: operand dtypes %s, %s differ from the output's %s",
                              npg_dtype_name(a->dtype), npg_dtype_name(b->dtype), npg_dtype_name(out->dtype));
    /* a selection: every dtype moves as its bits (the half types too, as on the CPU) */
    return npg_cu_dispatch_storage(out->dtype, "where", [&](auto tag) -> npg_status {
        constexpr npg_dtype D = decltype(tag)::value;
        constexpr npg_dtype DB = npg_cu_bits_v<D>;
        typedef npg_cu_where_body<DB> Body;
        npg_cu_ew_setup<4> s;
        const npg_tdesc *d[4] = {out, cond, a, b};
        npg_cu_ew_prepare<4>(s, d, Body::W);
        if (s.n == 0) return NPG_OK;
        Body body;
        body.out = (CT<DB> *)out->data;
        body.cond = npg_cu_src_of<NPG_BOOL>(cond);
        body.a = npg_cu_src_bits<D>(a);
        body.b = npg_cu_src_bits<D>(b);
        body.cond.mode = s.mode[1];
        body.a.mode = s.mode[2];
        body.b.mode = s.mode[3];
        return npg_cu_ew_run(ctx, body, s.flat, s.g, s.n, "where");
    });
}
