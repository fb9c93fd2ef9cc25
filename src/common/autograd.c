/*
 * autograd.c — the graph engine (DESIGN.md §6).
 *
 * An op whose inputs require grad records a node: op, edges to the nodes
 * that produced its inputs (or to the accumulators of leaves), saved arrays
 * with the storage versions seen at save time, and scalar parameters. Every
 * node has exactly one output. npg_backward orders the reachable nodes
 * (iteratively: deep graphs do not touch the C stack), sums gradients that
 * meet before a node runs, and stages leaf gradients in a table of the pass's
 * own, so that a failed backward changes no .grad and passes on several
 * threads through one shared leaf add up (the commit to .grad takes a
 * per-leaf lock). Gradient rules are in grad_rules.c.
 *
 * Not here: in-place ops are not recorded (they are refused on arrays that
 * require grad); a node has one output.
 */
#include "internal.h"

#include <pthread.h>
#include <sched.h>

/* ------------------------------------------------------------------------
 * Grad mode
 * ------------------------------------------------------------------------ */

static _Thread_local int tl_no_grad_depth;

void npg_no_grad_begin(void) { tl_no_grad_depth++; }
void npg_no_grad_end(void) {
    if (tl_no_grad_depth > 0) tl_no_grad_depth--;
}
bool npg_is_grad_enabled(void) { return tl_no_grad_depth == 0; }
bool npg__grad_enabled(void) { return tl_no_grad_depth == 0; }
int npg__no_grad_depth_set(int depth) {
    int old = tl_no_grad_depth;
    tl_no_grad_depth = depth;
    return old;
}

bool npg__needs_grad(int n, npg_array *const *inputs) {
    if (tl_no_grad_depth) return false;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return true;
    return false;
}

/* ------------------------------------------------------------------------
 * Nodes
 * ------------------------------------------------------------------------ */

static uint64_t g_seq; /* creation order; atomic: threads record nodes concurrently */

static void hooks_free(npg_hook *h) {
    while (h) {
        npg_hook *next = h->next;
        if (h->ctx_free) h->ctx_free(h->ctx);
        free(h);
        h = next;
    }
}

/* The leaf's accumulator, created on first use (threads recording on one
 * shared leaf race to install theirs: one wins, the others free theirs). */
static npg_leafacc *leafacc_of(npg_array *leaf) {
    npg_leafacc *acc = __atomic_load_n(&leaf->acc, __ATOMIC_ACQUIRE);
    if (!acc) {
        npg_leafacc *mine = calloc(1, sizeof *mine);
        if (!mine) return NULL;
        mine->refcount = 1; /* the leaf's own reference */
        mine->leaf = leaf;
        if (__atomic_compare_exchange_n(&leaf->acc, &acc, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            acc = mine;
        else
            free(mine); /* acc now holds the winner's */
    }
    npg__ref_inc(&acc->refcount);
    return acc;
}

static void leafacc_release(npg_leafacc *acc) {
    if (!acc || !npg__ref_dec(&acc->refcount)) return;
    hooks_free(acc->hooks);
    free(acc);
}

void npg__leafacc_detach(npg_leafacc *acc) {
    acc->leaf = NULL;
    hooks_free(acc->hooks); /* the leaf's hooks go with the leaf */
    acc->hooks = NULL;
    leafacc_release(acc);
}

npg_node *npg__record(npg_op op, npg_array *out, int n, npg_array *const *inputs) {
    return npg__record_ex(op, out, n, inputs, false);
}

npg_node *npg__record_ex(npg_op op, npg_array *out, int n, npg_array *const *inputs, bool has_scalar) {
    size_t size = sizeof(npg_node) + (size_t)n * (sizeof(npg_edge) + sizeof(npg_meta));
    npg_node *node = calloc(1, size);
    if (!node) {
        npg__set_error(NPG_ERR_OOM, "%s: out of memory recording the graph", npg__op_name(op));
        return NULL;
    }
    node->op = op;
    node->name = npg__op_name(op);
    node->backward = npg__backward_fn(op);
    node->refcount = 1; /* held by out */
    node->seq = __atomic_add_fetch(&g_seq, 1, __ATOMIC_RELAXED);
    node->n_in = n;
    node->edges = (npg_edge *)(node + 1);
    node->in_meta = (npg_meta *)(node->edges + n);
    for (int i = 0; i < n; i++) {
        npg_array *x = inputs[i];
        npg_meta *m = &node->in_meta[i];
        m->dtype = x->dtype;
        m->ndim = x->ndim;
        memcpy(m->shape, x->shape, sizeof m->shape);
        m->device = npg__device_of(x);
        if (x->grad_fn) {
            node->edges[i].node = x->grad_fn;
            npg__ref_inc(&x->grad_fn->refcount);
        } else if (x->requires_grad) {
            node->edges[i].acc = leafacc_of(x);
        }
    }
    node->out_meta.dtype = out->dtype;
    node->out_meta.ndim = out->ndim;
    memcpy(node->out_meta.shape, out->shape, sizeof node->out_meta.shape);
    node->out_meta.device = npg__device_of(out);
    NPG_ASSERT(out->grad_fn == NULL);
    out->grad_fn = node;
    out->requires_grad = true;
    /* save what the gradient rule reads (its mask lives with the rule) */
    node->has_scalar = has_scalar;
    unsigned mask = npg__save_mask(op, has_scalar);
    for (int i = 0; i < n && i < 3; i++)
        if (mask & (1u << i)) npg__save(node, i, inputs[i], false);
    if (mask & (1u << NPG_SAVE_OUT)) npg__save(node, NPG_SAVE_OUT, out, true);
    return node;
}

/* Make a detached alias (same storage and geometry, no graph, unscoped). */
static npg_array *detached_alias(npg_array *x) {
    npg_array *a = npg__view_raw(x, x->ndim, x->shape, x->strides, x->offset);
    if (!a) return NULL;
    npg__unscope(a);
    a->flags = x->flags;
    return a;
}

bool npg__save(npg_node *n, int slot, npg_array *x, bool is_output) {
    NPG_ASSERT(slot >= 0 && slot < NPG_MAX_SAVED);
    if (n->saved[slot].arr) npg__release(n->saved[slot].arr);
    /* an output refers to its node: save an alias to avoid a cycle */
    npg_array *a = is_output ? detached_alias(x) : npg_retain(x);
    if (!a) return false;
    n->saved[slot].arr = a;
    n->saved[slot].version = x->storage->version;
    n->saved[slot].is_output = is_output;
    return true;
}

npg_array *npg__unpack(npg_node *n, int slot) {
    npg_saved *s = &n->saved[slot];
    if (n->released || !s->arr) {
        npg__set_error(NPG_ERR_AUTOGRAD,
                       "npg_backward: the graph through '%s' was already freed by an earlier backward (pass "
                       "retain_graph to backward through it again)",
                       n->name);
        return NULL;
    }
    if (s->arr->storage->version != s->version) {
        npg__set_error(NPG_ERR_INPLACE,
                       "npg_backward: an array needed to compute the gradient of '%s' was modified by an in-place "
                       "operation (its version is %llu, expected %llu)",
                       n->name, (unsigned long long)s->arr->storage->version, (unsigned long long)s->version);
        return NULL;
    }
    if (s->is_output && npg__grad_enabled()) {
        /* create_graph: the saved output must carry its node again */
        npg_array *a = npg__view_raw(s->arr, s->arr->ndim, s->arr->shape, s->arr->strides, s->arr->offset);
        if (!a) return NULL;
        a->grad_fn = n;
        a->requires_grad = true;
        npg__ref_inc(&n->refcount);
        return a;
    }
    return s->arr;
}

static void release_saved(npg_node *n) {
    for (int i = 0; i < NPG_MAX_SAVED; i++) {
        if (n->saved[i].arr) {
            npg__release(n->saved[i].arr);
            n->saved[i].arr = NULL;
        }
    }
    if (n->extra_release && n->extra) n->extra_release(n->extra);
}

/* Iterative release: releasing a node can release arrays that release
 * nodes...; a thread-local work list keeps the C stack flat. */
static _Thread_local npg_node **tl_rel;
static _Thread_local int64_t tl_rel_len, tl_rel_cap;
static _Thread_local bool tl_releasing;
/* the work list is freed when its thread exits */
static pthread_key_t g_rel_key;
static pthread_once_t g_rel_once = PTHREAD_ONCE_INIT;
static void rel_thread_exit(void *unused) {
    (void)unused;
    free(tl_rel);
    tl_rel = NULL;
    tl_rel_len = tl_rel_cap = 0;
}
static void rel_make_key(void) { pthread_key_create(&g_rel_key, rel_thread_exit); }

void npg__node_release(npg_node *n) {
    if (!n || !npg__ref_dec(&n->refcount)) return;
    if (tl_rel_len == tl_rel_cap) {
        if (tl_rel_cap == 0) {
            pthread_once(&g_rel_once, rel_make_key);
            pthread_setspecific(g_rel_key, (void *)1);
        }
        int64_t cap = tl_rel_cap ? tl_rel_cap * 2 : 256;
        npg_node **p = realloc(tl_rel, sizeof *p * (size_t)cap);
        if (!p) {
            npg__log(NPG_LOG_ERROR, "autograd: out of memory freeing a graph; %s node leaked", n->name);
            return;
        }
        tl_rel = p;
        tl_rel_cap = cap;
    }
    tl_rel[tl_rel_len++] = n;
    if (tl_releasing) return;
    tl_releasing = true;
    while (tl_rel_len > 0) {
        npg_node *m = tl_rel[--tl_rel_len];
        release_saved(m);
        if (m->grad_acc) npg__release(m->grad_acc);
        for (int i = 0; i < m->n_in; i++) {
            if (m->edges[i].node) npg__node_release(m->edges[i].node);
            if (m->edges[i].acc) leafacc_release(m->edges[i].acc);
        }
        hooks_free(m->hooks);
        if (m->extra_free)
            m->extra_free(m->extra);
        else
            free(m->extra);
        free(m);
    }
    tl_releasing = false;
}

/* ------------------------------------------------------------------------
 * Backward
 * ------------------------------------------------------------------------ */

typedef struct vec {
    void **p;
    int64_t len, cap;
} vec;

static bool vec_push(vec *v, void *x) {
    if (v->len == v->cap) {
        int64_t cap = v->cap ? v->cap * 2 : 64;
        void **p = realloc(v->p, sizeof *p * (size_t)cap);
        if (!p) return false;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->len++] = x;
    return true;
}

static int g_mark; /* traversal id; atomic: threads run backward concurrently */

/* Take a reference to a gradient: steal it from the backward's own scope
 * when nothing else holds it, else share it. */
static _Thread_local int tl_bw_depth;
static npg_array *take(npg_array *g) {
    if (g->scope_slot >= 0 && g->scope_depth == tl_bw_depth && npg__ref_count(&g->refcount) == 1) {
        npg__unscope(g); /* steal the scope's reference */
        return g;
    }
    return npg_retain(g);
}

/* Whether the engine alone can see gradient a: one reference, one array
 * on its storage, memory npg allocated, dense C order, no graph. Adding into
 * such an array in place changes nothing a caller, a hook or another slot
 * holds. */
static bool exclusive_grad(const npg_array *a) {
    return npg__ref_count(&a->refcount) == 1 && npg__ref_count(&a->storage->refcount) == 1 &&
           !a->storage->deleter && !a->grad_fn && !a->requires_grad && !(a->flags & NPG_AF_READONLY) &&
           npg__is_contiguous(a);
}

/* acc += g in place, or, with a view node v, acc[v's geometry] += g (the
 * geometry is relative to a C-contiguous layout of acc, which acc has). */
static npg_status add_in_place(npg_array *acc, const npg_node *v, npg_array *g) {
    npg_tdesc o, a, b;
    npg__desc(acc, &o);
    if (v) {
        o.data = (char *)o.data + v->voffset * (int64_t)npg__dtype_size(acc->dtype);
        o.ndim = v->vndim;
        memset(o.shape, 0, sizeof o.shape);
        memset(o.strides, 0, sizeof o.strides);
        memcpy(o.shape, v->vshape, sizeof(int64_t) * (size_t)v->vndim);
        memcpy(o.strides, v->vstrides, sizeof(int64_t) * (size_t)v->vndim);
    }
    a = o;
    npg__desc_bcast(g, o.ndim, o.shape, &b);
    npg_tdesc *ds[3] = {&o, &a, &b};
    npg__coalesce(3, ds);
    if (npg__numel(o.ndim, o.shape) > 0) {
        npg_status st = npg__backend_of(acc)->binary(acc->storage->dev, NPG_OP_ADD, &o, &a, &b);
        if (st != NPG_OK) return st;
    }
    npg__bump_version(acc);
    return NPG_OK;
}

/* Accumulate g into *slot (owned): in place when the engine alone holds
 * *slot and no graph of the gradients is built (like PyTorch), else into a
 * new array. */
static bool accumulate(npg_array **slot, npg_array *g, bool create) {
    if (!*slot) {
        *slot = take(g);
        return true;
    }
    if (!create && g->dtype == (*slot)->dtype && exclusive_grad(*slot) && npg__same_device(g, *slot)) {
        npg_status st = add_in_place(*slot, NULL, g);
        if (st != NPG_OK && npg_last_status() == NPG_OK) npg__set_error(st, "npg_backward: cannot add gradients");
        return st == NPG_OK;
    }
    npg_array *sum = npg_add(*slot, g);
    if (!sum) return false;
    npg__release(*slot);
    *slot = take(sum);
    return true;
}

/* Run hooks on *g (owned), which a hook may replace. */
static npg_status run_hooks(const char *fn, const npg_hook *h, npg_array **g) {
    for (; h; h = h->next) {
        npg_array *r = NULL;
        npg_status st = h->fn(h->ctx, *g, &r);
        if (st != NPG_OK) {
            if (npg_last_status() == NPG_OK)
                npg__set_error(st, "%s: gradient hook %d returned %s", fn, h->id, npg_status_string(st));
            return npg_last_status();
        }
        if (!r || r == *g) continue;
        npg_array *old = *g;
        if (r->ndim != old->ndim || memcmp(r->shape, old->shape, sizeof(int64_t) * (size_t)r->ndim) != 0) {
            char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
            return npg__set_error(NPG_ERR_SHAPE, "%s: gradient hook %d replaced a gradient of shape %s with shape %s",
                                  fn, h->id, npg__shape_str(sb, sizeof sb, old->ndim, old->shape),
                                  npg__shape_str(sa, sizeof sa, r->ndim, r->shape));
        }
        if (!npg__same_device(r, old))
            return npg__set_error(NPG_ERR_DEVICE, "%s: gradient hook %d returned a gradient on another device", fn,
                                  h->id);
        if (r->dtype != old->dtype && !(r = npg_astype(r, old->dtype))) return npg_last_status();
        *g = take(r);
        npg__release(old);
    }
    return NPG_OK;
}

static bool meta_matches(const npg_meta *m, const npg_array *g) {
    if (m->ndim != g->ndim || m->dtype != g->dtype) return false;
    for (int i = 0; i < m->ndim; i++)
        if (m->shape[i] != g->shape[i]) return false;
    return true;
}

/* Leaf gradients gathered during one backward pass, kept by the pass itself
 * (not in the shared accumulators), so that threads may run backward passes
 * through one leaf at once: entries in discovery order, found by an
 * open-addressing index on the accumulator's address. */
typedef struct stage_entry {
    npg_leafacc *acc;
    npg_array *staged; /* owned */
} stage_entry;

#define NPG_STAGE_INLINE 16 /* entries found by a scan, without the index */
typedef struct stage_tab {
    stage_entry *e; /* small, or a heap array once there are more entries */
    int64_t len, cap;
    int64_t *index; /* slot -> entry + 1 (0: empty), nslots a power of two; NULL while len <= NPG_STAGE_INLINE */
    int64_t nslots;
    stage_entry small[NPG_STAGE_INLINE];
} stage_tab;

static void stage_init(stage_tab *t) {
    t->e = t->small;
    t->len = 0;
    t->cap = NPG_STAGE_INLINE;
    t->index = NULL;
    t->nslots = 0;
}

static uint64_t stage_hash(const void *p) {
    uint64_t h = (uint64_t)(uintptr_t)p;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static stage_entry *stage_find(const stage_tab *t, const npg_leafacc *acc) {
    if (!t->index) {
        for (int64_t k = 0; k < t->len; k++)
            if (t->e[k].acc == acc) return &t->e[k];
        return NULL;
    }
    for (uint64_t i = stage_hash(acc) & (uint64_t)(t->nslots - 1);; i = (i + 1) & (uint64_t)(t->nslots - 1)) {
        int64_t k = t->index[i];
        if (k == 0) return NULL;
        if (t->e[k - 1].acc == acc) return &t->e[k - 1];
    }
}

/* acc's entry, added (with nothing staged) if new; NULL when out of memory. */
static stage_entry *stage_get(stage_tab *t, npg_leafacc *acc) {
    stage_entry *f = stage_find(t, acc);
    if (f) return f;
    if (t->len == t->cap) {
        int64_t cap = t->cap * 2;
        stage_entry *e = t->e == t->small ? malloc(sizeof *e * (size_t)cap) : realloc(t->e, sizeof *e * (size_t)cap);
        if (!e) return NULL;
        if (t->e == t->small) memcpy(e, t->small, sizeof t->small);
        t->e = e;
        t->cap = cap;
    }
    if (t->len + 1 > NPG_STAGE_INLINE && 2 * (t->len + 1) > t->nslots) { /* load <= 1/2: rebuild the index */
        int64_t ns = t->nslots ? t->nslots * 2 : 4 * NPG_STAGE_INLINE;
        int64_t *idx = calloc((size_t)ns, sizeof *idx);
        if (!idx) return NULL;
        for (int64_t k = 0; k < t->len; k++) {
            uint64_t i = stage_hash(t->e[k].acc) & (uint64_t)(ns - 1);
            while (idx[i]) i = (i + 1) & (uint64_t)(ns - 1);
            idx[i] = k + 1;
        }
        free(t->index);
        t->index = idx;
        t->nslots = ns;
    }
    t->e[t->len] = (stage_entry){acc, NULL};
    t->len++;
    if (t->index) {
        uint64_t i = stage_hash(acc) & (uint64_t)(t->nslots - 1);
        while (t->index[i]) i = (i + 1) & (uint64_t)(t->nslots - 1);
        t->index[i] = t->len;
    }
    return &t->e[t->len - 1];
}

static void stage_free(stage_tab *t) {
    for (int64_t k = 0; k < t->len; k++)
        if (t->e[k].staged) npg__release(t->e[k].staged);
    if (t->e != t->small) free(t->e);
    free(t->index);
}

/* Adding a pass's gradients into .grad is one step per leaf, under a lock
 * chosen by the leaf's address: concurrent passes through one leaf add up. */
#define NPG_LEAF_LOCKS 64
/* Spin locks (a test-and-set byte each): uncontended, one atomic exchange,
 * where a mutex's lock and unlock cost a tiny backward ~6%; a waiter yields,
 * since a commit may run a large in-place add. */
static unsigned char g_leaf_locks[NPG_LEAF_LOCKS];
static unsigned char *leaf_lock(const npg_array *leaf) {
    unsigned char *l = &g_leaf_locks[stage_hash(leaf) % NPG_LEAF_LOCKS];
    while (__atomic_test_and_set(l, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(l, __ATOMIC_RELAXED)) sched_yield();
    return l;
}
static void leaf_unlock(unsigned char *l) { __atomic_clear(l, __ATOMIC_RELEASE); }

typedef struct bw_capture {
    int n;
    npg_array *const *inputs;
    npg_array **results; /* owned refs, filled as found */
} bw_capture;

/* Add one pass's gradient *staged into leaf->grad (the caller holds the
 * leaf's lock). *staged may be taken over as .grad (then set to NULL). */
static npg_status commit_leaf(npg_array *leaf, npg_array **staged, bool create) {
    npg_array *g = *staged;
    if (leaf->grad && !create && !leaf->grad->grad_fn && leaf->grad->dtype == g->dtype &&
        npg__is_contiguous(leaf->grad)) {
        /* accumulate in place, like PyTorch without create_graph */
        npg_tdesc o, a, b;
        npg__desc(leaf->grad, &o);
        a = o;
        npg__desc(g, &b);
        npg_tdesc *ds[3] = {&o, &a, &b};
        npg__coalesce(3, ds);
        if (npg__numel(o.ndim, o.shape) > 0) {
            npg_status st = npg__backend_of(leaf)->binary(leaf->storage->dev, NPG_OP_ADD, &o, &a, &b);
            if (st != NPG_OK) return st;
        }
        npg__bump_version(leaf->grad);
        return NPG_OK;
    }
    if (leaf->grad) {
        npg_array *sum = npg_add(leaf->grad, g);
        if (!sum) return npg_last_status();
        npg__release(leaf->grad);
        leaf->grad = take(sum);
        return NPG_OK;
    }
    /* a gradient shared with another consumer must not be aliased by .grad */
    bool exclusive = npg__ref_count(&g->refcount) == 1 && npg__ref_count(&g->storage->refcount) == 1 &&
                     npg__is_contiguous(g);
    if (exclusive) {
        leaf->grad = g;
        *staged = NULL;
        return NPG_OK;
    }
    npg_array *c = npg_copy(g);
    if (!c) return npg_last_status();
    leaf->grad = take(c);
    return NPG_OK;
}

/* For a view node n (basic indexing, diagonal) whose input already has a
 * gradient slot the engine alone holds, that slot, so that n's gradient g can
 * be added into the viewed part in place; else NULL (the rule runs). */
static npg_array **view_target(npg_node *n, stage_tab *stage, const npg_array *g, bool create) {
    if (create || n->op != NPG_OP_INDEX || n->n_in != 1) return NULL;
    npg_edge *e = &n->edges[0];
    npg_array **slot = NULL;
    if (e->node) {
        slot = &e->node->grad_acc;
    } else if (e->acc) {
        stage_entry *se = stage_find(stage, e->acc);
        slot = se ? &se->staged : NULL;
    }
    if (!slot || !*slot || g->dtype != (*slot)->dtype || !npg__same_device(g, *slot) ||
        !meta_matches(&n->in_meta[0], *slot) || !exclusive_grad(*slot))
        return NULL;
    return slot;
}

static npg_status run_backward(npg_array *const *roots, npg_array *const *grads, int nroots, bool retain, bool create,
                               bw_capture *cap) {
    const char *fn = cap ? "npg_grad_of" : "npg_backward";
    npg_status st = NPG_OK;
    vec order = {0}, stack = {0}, ready = {0};
    stage_tab stage;
    stage_init(&stage);
    int mark = __atomic_add_fetch(&g_mark, 1, __ATOMIC_RELAXED);
    bool grad_was = npg__grad_enabled();
    int saved_depth = tl_no_grad_depth;
    tl_no_grad_depth = create ? 0 : 1;
    npg_scope scope = npg_scope_begin();
    int saved_bw_depth = tl_bw_depth;
    tl_bw_depth = scope.depth;

    /* 1. validate roots and seed gradients */
    for (int r = 0; r < nroots; r++) {
        npg_array *root = roots[r];
        if (!root) {
            npg__null_arg(fn);
            st = npg_last_status() ? npg_last_status() : NPG_ERR_NULL_ARG;
            goto done;
        }
        if (!root->requires_grad) {
            st = npg__set_error(NPG_ERR_AUTOGRAD, "%s: the array does not require grad and has no grad_fn", fn);
            goto done;
        }
        npg_array *g = grads ? grads[r] : NULL;
        if (!g) {
            if (npg__numel(root->ndim, root->shape) != 1) {
                char sb[NPG_SHAPE_BUF];
                st = npg__set_error(NPG_ERR_AUTOGRAD,
                                    "%s: grad can be implicitly created only for scalar outputs (shape %s); pass a "
                                    "gradient",
                                    fn, npg__shape_str(sb, sizeof sb, root->ndim, root->shape));
                goto done;
            }
            g = npg_ones_like(root, NULL);
            if (!g) {
                st = npg_last_status();
                goto done;
            }
        } else {
            if (g->ndim != root->ndim || memcmp(g->shape, root->shape, sizeof(int64_t) * (size_t)g->ndim) != 0) {
                char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
                st = npg__set_error(NPG_ERR_SHAPE, "%s: gradient shape %s does not match the output's shape %s", fn,
                                    npg__shape_str(sa, sizeof sa, g->ndim, g->shape),
                                    npg__shape_str(sb, sizeof sb, root->ndim, root->shape));
                goto done;
            }
            if (!npg__same_device(g, root)) {
                st = npg__set_error(NPG_ERR_DEVICE, "%s: the gradient is on a different device than the output", fn);
                goto done;
            }
            if (g->dtype != root->dtype) {
                g = npg_astype(g, root->dtype);
                if (!g) {
                    st = npg_last_status();
                    goto done;
                }
            }
        }
        if (root->grad_fn) {
            npg_node *n = root->grad_fn;
            if (n->released) {
                st = npg__set_error(NPG_ERR_AUTOGRAD,
                                    "%s: the graph through '%s' was already freed by an earlier backward (pass "
                                    "retain_graph to backward through it again)",
                                    fn, n->name);
                goto done;
            }
            if (!accumulate(&n->grad_acc, g, create)) {
                st = npg_last_status();
                goto done;
            }
            if (n->mark != mark) {
                n->mark = mark;
                n->pending = 0;
                if (!vec_push(&stack, n) || !vec_push(&order, n)) goto oom;
            }
        } else {
            npg_leafacc *acc = leafacc_of(root);
            if (!acc) goto oom;
            leafacc_release(acc); /* leafacc_of took a ref for an edge; the leaf holds one */
            stage_entry *se = stage_get(&stage, acc);
            if (!se) goto oom;
            if (!accumulate(&se->staged, g, create)) {
                st = npg_last_status();
                goto done;
            }
        }
    }

    /* 2. discover reachable nodes and count their consumers */
    while (stack.len > 0) {
        npg_node *n = stack.p[--stack.len];
        for (int i = 0; i < n->n_in; i++) {
            npg_node *m = n->edges[i].node;
            npg_leafacc *acc = n->edges[i].acc;
            if (m) {
                if (m->mark != mark) {
                    m->mark = mark;
                    m->pending = 0;
                    if (!vec_push(&stack, m) || !vec_push(&order, m)) goto oom;
                }
                m->pending++;
            } else if (acc && !stage_get(&stage, acc)) {
                goto oom;
            }
        }
    }

    /* 3. run nodes whose consumers have all delivered (Kahn's algorithm) */
    for (int64_t i = 0; i < order.len; i++) {
        npg_node *n = order.p[i];
        if (n->pending == 0 && !vec_push(&ready, n)) goto oom;
    }
    while (ready.len > 0) {
        npg_node *n = ready.p[--ready.len];
        npg_array *g = n->grad_acc;
        n->grad_acc = NULL;
        if (g && n->hooks && (st = run_hooks(fn, n->hooks, &g)) != NPG_OK) {
            npg__release(g);
            goto done;
        }
        if (cap) {
            for (int k = 0; k < cap->n; k++) {
                if (cap->inputs[k] && cap->inputs[k]->grad_fn == n && g && !cap->results[k])
                    cap->results[k] = npg_retain(g);
            }
        }
        npg_array *gin[64] = {0}, **view_slot = NULL;
        npg_array **gins = n->n_in <= 64 ? gin : calloc((size_t)n->n_in, sizeof *gins);
        if (!gins) goto oom;
        if (g) {
            if (n->released) {
                st = npg__set_error(NPG_ERR_AUTOGRAD,
                                    "%s: the graph through '%s' was already freed by an earlier backward (pass "
                                    "retain_graph to backward through it again)",
                                    fn, n->name);
            } else if (!n->backward) {
                st = npg__set_error(NPG_ERR_INTERNAL, "%s: op '%s' has no gradient rule", fn, n->name);
            } else if ((view_slot = view_target(n, &stage, g, create)) != NULL) {
                /* a view's gradient goes straight into the part of its
                 * input's gradient that it views, instead of into a
                 * full-size zero array that is then added */
                st = add_in_place(*view_slot, n, g);
                if (st != NPG_OK && npg_last_status() != NPG_OK) st = npg_last_status();
            } else {
                st = n->backward(n, g, gins);
                if (st != NPG_OK && npg_last_status() != NPG_OK) st = npg_last_status();
            }
        }
        for (int k = 0; st == NPG_OK && k < n->n_in; k++) {
            npg_array *gi = gins[k];
            npg_edge *e = &n->edges[k];
            if (gi && !meta_matches(&n->in_meta[k], gi)) {
                char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
                st = npg__set_error(NPG_ERR_INTERNAL,
                                    "%s: the gradient rule of '%s' returned shape %s dtype %s for input %d (expected "
                                    "%s %s)",
                                    fn, n->name, npg__shape_str(sa, sizeof sa, gi->ndim, gi->shape),
                                    npg_dtype_name(gi->dtype), k,
                                    npg__shape_str(sb, sizeof sb, n->in_meta[k].ndim, n->in_meta[k].shape),
                                    npg_dtype_name(n->in_meta[k].dtype));
                break;
            }
            if (e->node) {
                if (gi && !accumulate(&e->node->grad_acc, gi, create)) {
                    st = npg_last_status();
                    break;
                }
                if (--e->node->pending == 0 && !vec_push(&ready, e->node)) {
                    st = npg__set_error(NPG_ERR_OOM, "%s: out of memory", fn);
                    break;
                }
            } else if (e->acc && gi) {
                stage_entry *se = stage_find(&stage, e->acc); /* every reachable leaf was added in step 2 */
                NPG_ASSERT(se != NULL);
                if (!accumulate(&se->staged, gi, create)) {
                    st = npg_last_status();
                    break;
                }
            }
        }
        if (gins != gin) free(gins);
        if (g) npg__release(g); /* after distributing: a rule may pass g through */
        if (st != NPG_OK) goto done;
        if (!retain) {
            release_saved(n);
            n->released = true;
        }
    }

    /* 4. commit: leaf gradients (or captured results) */
    /* leaf hooks, on each leaf's whole gradient of this pass */
    for (int64_t i = 0; i < stage.len; i++) {
        npg_leafacc *acc = stage.e[i].acc;
        if (acc->leaf && acc->hooks && stage.e[i].staged && (st = run_hooks(fn, acc->hooks, &stage.e[i].staged)) != NPG_OK)
            goto done;
    }
    if (cap) {
        for (int k = 0; k < cap->n; k++) {
            npg_array *x = cap->inputs[k];
            stage_entry *se = (x && !x->grad_fn && x->acc) ? stage_find(&stage, x->acc) : NULL;
            if (!cap->results[k] && se && se->staged) cap->results[k] = npg_retain(se->staged);
        }
    } else {
        for (int64_t i = 0; i < stage.len; i++) {
            npg_array *leaf = stage.e[i].acc->leaf;
            if (!leaf || !stage.e[i].staged) continue;
            unsigned char *lock = leaf_lock(leaf);
            st = commit_leaf(leaf, &stage.e[i].staged, create);
            leaf_unlock(lock);
            if (st != NPG_OK) goto done;
        }
    }
    goto done;

oom:
    st = npg__set_error(NPG_ERR_OOM, "%s: out of memory", fn);
done:
    /* drop what is left: staged leaf grads and pending node grads */
    stage_free(&stage);
    for (int64_t i = 0; i < order.len; i++) {
        npg_node *n = order.p[i];
        if (n->grad_acc) {
            npg__release(n->grad_acc);
            n->grad_acc = NULL;
        }
    }
    npg_scope_end(scope);
    tl_bw_depth = saved_bw_depth;
    tl_no_grad_depth = saved_depth;
    (void)grad_was;
    free(order.p);
    free(stack.p);
    free(ready.p);
    return st;
}

npg_status npg_backward(npg_array *root, npg_array *grad) { return npg_backward_ex(root, grad, NULL); }

npg_status npg_backward_ex(npg_array *root, npg_array *grad, const npg_backward_opts *opts) {
    if (!root) {
        npg__null_arg("npg_backward");
        return npg_last_status();
    }
    bool create = opts && opts->create_graph;
    bool retain = create || (opts && opts->retain_graph);
    npg_array *grads[1] = {grad};
    return run_backward(&root, grad ? grads : NULL, 1, retain, create, NULL);
}

npg_status npg_grad_of(npg_array *const *outputs, int n_outputs, npg_array *const *grad_outputs,
                       npg_array *const *inputs, int n_inputs, npg_array **results, const npg_backward_opts *opts) {
    const char *fn = "npg_grad_of";
    if (!outputs || !inputs || !results) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    for (int k = 0; k < n_inputs; k++) results[k] = NULL;
    /* a NULL operand first: it carries the error that produced it */
    for (int k = 0; k < n_outputs + n_inputs; k++) {
        if (!(k < n_outputs ? outputs[k] : inputs[k - n_outputs])) {
            npg__null_arg(fn);
            return npg_last_status();
        }
    }
    if (n_outputs <= 0 || n_inputs <= 0)
        return npg__set_error(NPG_ERR_INVALID_ARG, "%s: need at least one output and one input", fn);
    for (int k = 0; k < n_inputs; k++)
        if (!inputs[k]->requires_grad)
            return npg__set_error(NPG_ERR_AUTOGRAD, "%s: input %d does not require grad", fn, k);
    bool create = opts && opts->create_graph;
    bool retain = create || (opts && opts->retain_graph);
    bw_capture cap = {n_inputs, inputs, results};
    npg_status st = run_backward(outputs, grad_outputs, n_outputs, retain, create, &cap);
    for (int k = 0; k < n_inputs; k++) {
        if (st != NPG_OK) {
            if (results[k]) npg__release(results[k]);
            results[k] = NULL;
            continue;
        }
        if (!results[k]) {
            results[k] = npg_zeros_like(inputs[k], NULL);
            if (!results[k]) st = npg_last_status();
        } else if (results[k]->scope_slot < 0 && npg__ref_count(&results[k]->refcount) == 1) {
            npg__scope_adopt(results[k]); /* the caller's reference, like any result */
        } else {
            /* shared (with the caller's own arrays or the graph): hand out an
             * array object of its own */
            npg_array *a = npg__alias(results[k]);
            npg__release(results[k]);
            results[k] = a;
            if (!a) st = npg_last_status();
        }
    }
    return st;
}

/* ------------------------------------------------------------------------
 * requires_grad, detach, zero_grad
 * ------------------------------------------------------------------------ */

npg_status npg_set_requires_grad(npg_array *x, bool requires_grad) {
    if (!x) {
        npg__null_arg("npg_set_requires_grad");
        return npg_last_status();
    }
    if (x->grad_fn)
        return npg__set_error(NPG_ERR_AUTOGRAD,
                              "npg_set_requires_grad: only leaves can be changed (this array was produced by '%s'; "
                              "use npg_detach)",
                              x->grad_fn->name);
    if (requires_grad && !npg_is_floating(x->dtype))
        return npg__set_error(NPG_ERR_DTYPE, "npg_set_requires_grad: only floating-point arrays can require grad (dtype %s)",
                              npg_dtype_name(x->dtype));
    x->requires_grad = requires_grad;
    return NPG_OK;
}

npg_array *npg_detach(npg_array *x) {
    if (!x) {
        npg__null_arg("npg_detach");
        return NULL;
    }
    return npg__view_raw(x, x->ndim, x->shape, x->strides, x->offset);
}

npg_status npg_zero_grad(npg_array *x) {
    if (!x) {
        npg__null_arg("npg_zero_grad");
        return npg_last_status();
    }
    if (x->grad) {
        npg__release(x->grad);
        x->grad = NULL;
    }
    return NPG_OK;
}

/* ------------------------------------------------------------------------
 * Gradient hooks
 * ------------------------------------------------------------------------ */

static int g_hook_id; /* handles; atomic */

int npg_register_hook(npg_array *x, npg_grad_hook hook, void *ctx, void (*ctx_free)(void *ctx)) {
    const char *fn = "npg_register_hook";
    npg_status st = NPG_OK;
    npg_hook *h = NULL, **list = NULL;
    if (!x) {
        npg__null_arg(fn);
        st = npg_last_status();
    } else if (!hook) {
        st = npg__set_error(NPG_ERR_NULL_ARG, "%s: hook is NULL", fn);
    } else if (!x->requires_grad) {
        st = npg__set_error(NPG_ERR_AUTOGRAD, "%s: the array does not require grad", fn);
    } else if (!(h = calloc(1, sizeof *h))) {
        st = npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
    } else if (x->grad_fn) {
        list = &x->grad_fn->hooks;
    } else {
        npg_leafacc *acc = leafacc_of(x);
        if (!acc) {
            st = npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
        } else {
            leafacc_release(acc); /* leafacc_of took a reference for an edge; the leaf keeps its own */
            list = &acc->hooks;
        }
    }
    if (st != NPG_OK) {
        free(h);
        if (ctx_free) ctx_free(ctx);
        return (int)st;
    }
    h->id = __atomic_add_fetch(&g_hook_id, 1, __ATOMIC_RELAXED);
    h->fn = hook;
    h->ctx = ctx;
    h->ctx_free = ctx_free;
    while (*list) list = &(*list)->next;
    *list = h;
    return h->id;
}

npg_status npg_remove_hook(npg_array *x, int handle) {
    const char *fn = "npg_remove_hook";
    if (!x) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    npg_hook **list = x->grad_fn ? &x->grad_fn->hooks : x->acc ? &x->acc->hooks : NULL;
    for (; list && *list; list = &(*list)->next) {
        if ((*list)->id != handle) continue;
        npg_hook *h = *list;
        *list = h->next;
        h->next = NULL;
        hooks_free(h);
        return NPG_OK;
    }
    return npg__set_error(NPG_ERR_INVALID_ARG, "%s: the array has no hook %d", fn, handle);
}
