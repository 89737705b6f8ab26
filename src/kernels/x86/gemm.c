/* GEMM / implicit-GEMM convolution driver (see gemm.h): blocking, packing
 * schedule and threading, independent of the instruction set.
 *
 * Schedule, for C[M, N] = A[M, K] * B[N, K]^T:
 *   1. The weights B are packed once per call into NR-column panels in the
 *      calling thread's scratch (parallel over panels). When the packed
 *      weights would exceed B_CHUNK_BYTES, columns are processed in chunks
 *      so the scratch stays bounded. With few rows (M <= 16 micro-panels)
 *      there is no shared copy: each task packs the panels of its columns
 *      per K block into its private slice, where they stay in L2 (a shared
 *      copy would go to memory and back for one or two row tiles).
 *   2. C is cut into tiles of mc rows x nc columns (whole micro-tiles), one
 *      task per tile, claimed dynamically by the pool's threads. A task
 *      walks K in blocks of kc: it packs its A block (mc x kc: bf16
 *      rounding, or the convolution's gathered input pixels) into a private
 *      slice, then for every NR panel of its columns (B micro-panel kc x NR
 *      kept in L1) runs the micro-kernel down its rows (A block kept in L2).
 *      Plain f32 GEMM reads A in place (no packing) except for a last
 *      partial micro-panel, which is copied so the micro-kernel always sees
 *      MR rows.
 *   Weights packed ahead of time (sdc_x86_pack_weights, at model load) skip
 *   step 1 and the small-M in-task packing: tasks read the panels in place.
 *   3. Every C element is produced by exactly one task, its K blocks
 *      summed in a fixed order that depends on the shapes only, so results
 *      are bitwise identical for any thread count (the tiling itself may
 *      follow the thread count: it only decides who computes an element). The first K
 *      block adds bias and residual (read before C is written, so the
 *      residual may alias C).
 *
 * Does not: handle quantized weights (ops.c rejects them). */
#include "kernels/x86/gemm.h"

#include <string.h>

#include "base/util.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels/x86/scratch.h"

/* Minimum number of tasks per call when the shapes allow: enough that
 * dynamic claiming keeps 2-4 threads busy. */
#define MIN_TASKS 8
/* Minimum A micro-panels per row tile when splitting for parallelism. */
#define MIN_M_PANELS 2
/* GEMMs with at most this many A micro-panels (2 row tiles) pack B inside
 * their tasks (see run_job). */
#define OWN_B_M_PANELS 16
/* Largest C tile of a task whose K spans several blocks (L2 is 1 MiB on
 * current cores; the A block and B panels need the rest). */
#define C_TILE_BYTES ((int64_t)384 << 10)
/* Bound on the packed-weight scratch (per chunk of columns). */
#define B_CHUNK_BYTES ((size_t)16 << 20)

/* The packed form of sdc_x86_pack_weights: this header, then the panels at
 * PACKED_HEADER bytes. */
typedef struct x86_packed {
    sdc_packed_weights pub;
    const sdc_gemm_isa *isa;
    sdc_pack_fmt fmt;
    int64_t Kp, panel_bytes, n_panels;
} x86_packed;
#define PACKED_HEADER ((sizeof(x86_packed) + 63) / 64 * 64)

typedef struct gemm_job {
    const sdc_gemm_isa *isa;
    sdc_pack_fmt fmt;
    int64_t esize;          /* bytes per packed element */
    int64_t M, N, K, Kp, kc; /* Kp: K padded for the format; kc: k block */
    /* A source: plain rows (A, lda) or a convolution's input pixels */
    const float *A;
    int64_t lda;
    const sdc_conv2d_args *conv;
    int64_t OH, OW;
    int direct_a; /* micro-kernel reads A in place */
    const void *B;
    sdc_dtype b_type;
    int64_t ldb;
    const x86_packed *pk; /* B packed ahead of time, or NULL */
    const float *bias, *res;
    int64_t ldr;
    float *C;
    int64_t ldc;
    /* current column chunk [n0, n1) and its packed panels */
    int64_t n0, n1;
    char *bpack;
    int64_t panel_bytes;
    /* tiling of the chunk */
    int64_t mc, nc, n_tiles;
    int own_b;        /* small M: tasks pack their own B panels per K block */
    int threads;      /* of the pool (tiling only; see choose_tiles) */
    int64_t a_bytes;  /* of a private A block (the rest of the slice: own B panels) */
    sdc_slices apriv; /* per-task A blocks (and B panels when own_b) */
} gemm_job;

static int64_t dtype_bytes(sdc_dtype t) { return t == SDC_DTYPE_F32 ? 4 : 2; }

/* ---- phase 1: pack weight panels ------------------------------------------ */

static void pack_b_task(void *v, int t) {
    gemm_job *j = v;
    int64_t n = j->n0 + (int64_t)t * j->isa->nr;
    int64_t nvalid = SDC_MIN((int64_t)j->isa->nr, j->N - n);
    const char *src = (const char *)j->B + n * j->ldb * dtype_bytes(j->b_type);
    j->isa->pack_b(src, j->b_type, j->ldb, nvalid, j->K, j->Kp, j->fmt, j->bpack + t * j->panel_bytes);
}

/* ---- A blocks ---------------------------------------------------------------- */

/* One row of the A block: columns [k0, k0 + kcur) of GEMM row m, zero past K. */
static void fill_a_row_plain(const gemm_job *j, int64_t m, int64_t k0, int64_t kcur, char *dst) {
    int64_t n = SDC_MIN(kcur, j->K - k0);
    if (n > 0) j->isa->pack_a_row(j->A + m * j->lda + k0, n, j->fmt, dst);
    if (n < kcur) memset(dst + SDC_MAX(n, 0) * j->esize, 0, (size_t)(kcur - SDC_MAX(n, 0)) * (size_t)j->esize);
}

/* The same for a convolution: GEMM row m is output pixel (b, oh, ow);
 * column k is (tap, input channel) in the weights' [kh, kw, Cin] order, so
 * each tap contributes one contiguous run of input channels, or zeros where
 * the tap falls in the padding. */
static void fill_a_row_conv(const gemm_job *j, int64_t m, int64_t k0, int64_t kcur, char *dst) {
    const sdc_conv2d_args *a = j->conv;
    int64_t ow = m % j->OW, oh = (m / j->OW) % j->OH, b = m / (j->OW * j->OH);
    int64_t kend = SDC_MIN(k0 + kcur, j->K);
    int64_t k = k0;
    while (k < kend) {
        int64_t tap = k / a->Cin, c = k % a->Cin;
        int64_t len = SDC_MIN(a->Cin - c, kend - k);
        int64_t ih = oh * a->stride + tap / a->kw - a->pad_t;
        int64_t iw = ow * a->stride + tap % a->kw - a->pad_l;
        char *d = dst + (k - k0) * j->esize;
        if (ih >= 0 && ih < a->H && iw >= 0 && iw < a->W)
            j->isa->pack_a_row(a->x + ((b * a->H + ih) * a->W + iw) * a->Cin + c, len, j->fmt, d);
        else
            memset(d, 0, (size_t)(len * j->esize));
        k += len;
    }
    if (kend - k0 < kcur) memset(dst + (kend - k0) * j->esize, 0, (size_t)((kcur - (kend - k0)) * j->esize));
}

/* Rows [m0, m1) of the A block at k0 into dst (rows kcur elements apart),
 * then zero rows up to the next multiple of MR. */
static void fill_a_block(const gemm_job *j, int64_t m0, int64_t m1, int64_t k0, int64_t kcur, char *dst) {
    int64_t mr = j->isa->mr, rows = sdc_ceil_div(m1 - m0, mr) * mr;
    int64_t row_bytes = kcur * j->esize;
    for (int64_t m = m0; m < m1; m++) {
        char *d = dst + (m - m0) * row_bytes;
        if (j->conv)
            fill_a_row_conv(j, m, k0, kcur, d);
        else
            fill_a_row_plain(j, m, k0, kcur, d);
    }
    if (rows > m1 - m0) memset(dst + (m1 - m0) * row_bytes, 0, (size_t)((rows - (m1 - m0)) * row_bytes));
}

/* ---- phase 2: tiles -------------------------------------------------------- */

/* own_b: panels of columns [c0, c1) over k in [k0, k0 + kcur) into dst. */
static void pack_b_block(const gemm_job *j, int64_t c0, int64_t c1, int64_t k0, int64_t kcur, char *dst) {
    int64_t NR = j->isa->nr, kvalid = SDC_MIN(kcur, j->K - k0);
    for (int64_t n = c0; n < c1; n += NR) {
        const char *src = (const char *)j->B + (n * j->ldb + k0) * dtype_bytes(j->b_type);
        j->isa->pack_b(src, j->b_type, j->ldb, SDC_MIN(NR, j->N - n), kvalid, kcur, j->fmt,
                       dst + ((n - c0) / NR) * kcur * NR * j->esize);
    }
}

static void compute_task(void *v, int t) {
    gemm_job *j = v;
    const sdc_gemm_isa *isa = j->isa;
    int64_t MR = isa->mr, NR = isa->nr;
    int64_t m0 = (t / j->n_tiles) * j->mc, m1 = SDC_MIN(m0 + j->mc, j->M);
    int64_t c0 = j->n0 + (t % j->n_tiles) * j->nc, c1 = SDC_MIN(c0 + j->nc, j->n1);
    int64_t m_full = m0 + (m1 - m0) / MR * MR; /* first row of a partial micro-panel */
    int slot = sdc_slices_claim(&j->apriv);
    char *abuf = sdc_slice_ptr(&j->apriv, slot);
    void (*ukr)(const sdc_ukr_args *) = j->fmt == SDC_PACK_BF16 ? isa->ukr_bf16 : isa->ukr_f32;
    int64_t k0 = 0;
    do {
        int64_t kcur = SDC_MIN(j->kc, j->Kp - k0);
        const char *ablk;
        int64_t rs;
        if (j->direct_a) {
            ablk = (const char *)(j->A + m0 * j->lda + k0);
            rs = j->lda;
            if (m_full < m1) fill_a_block(j, m_full, m1, k0, kcur, abuf);
        } else {
            fill_a_block(j, m0, m1, k0, kcur, abuf);
            ablk = abuf;
            rs = kcur;
        }
        char *own = abuf + j->a_bytes; /* own_b: this K block's panels, kcur x NR each */
        bool own_pack = j->own_b && !j->pk;
        if (own_pack) pack_b_block(j, c0, c1, k0, kcur, own);
        /* each micro-kernel call of a panel prefetches its share of the next
         * panel (shared or packed-ahead weights, read from L3 or DRAM) */
        int64_t nm = sdc_ceil_div(m1 - m0, MR), bytes = kcur * NR * j->esize;
        int64_t share = (sdc_ceil_div(bytes, nm) + 63) / 64 * 64;
        for (int64_t n = c0; n < c1; n += NR) {
            const char *bp = own_pack ? own + ((n - c0) / NR) * kcur * NR * j->esize
                                      : j->bpack + ((n - j->n0) / NR) * j->panel_bytes + k0 * NR * j->esize;
            const char *next = !own_pack && n + NR < c1 ? bp + j->panel_bytes : NULL;
            for (int64_t m = m0; m < m1; m += MR) {
                int64_t off = ((m - m0) / MR) * share;
                sdc_ukr_args u = {
                    .kc = kcur, .a = ablk + (m - m0) * rs * j->esize, .rs_a = rs, .b = bp,
                    .c = j->C + m * j->ldc + n, .ldc = j->ldc,
                    .mr = (int)SDC_MIN(MR, m1 - m), .nr = (int)SDC_MIN(NR, c1 - n), .first = k0 == 0,
                    .bias = j->bias ? j->bias + n : NULL,
                    .res = j->res ? j->res + m * j->ldr + n : NULL, .ldr = j->ldr,
                    .pf = next && off < bytes ? next + off : NULL, .pf_len = SDC_MIN(share, bytes - off),
                };
                if (j->direct_a && m >= m_full) {
                    u.a = abuf;
                    u.rs_a = kcur;
                }
                ukr(&u);
            }
        }
        k0 += kcur;
    } while (k0 < j->Kp);
    sdc_slices_release(&j->apriv, slot);
}

/* Row and column tiles for a chunk of `cols` columns. Row tiles of
 * mc_panels micro-panels keep an A block in L2 and reuse each B micro-panel
 * (read from L3) that many times, so columns are split first to reach
 * MIN_TASKS tasks, and row tiles shrink only when the columns run out.
 * With own_b, a task packs the A block once per K block for all its
 * columns, so there are just two column tiles per thread (fewer A gathers;
 * 8x8 U-Net level 8% faster than 14 smaller tiles).
 * The tiling may depend on the thread count: which task computes an element
 * never changes how it is computed (same packed values, same K blocks, same
 * order), so results stay bitwise identical for any thread count. */
/* own_b: column panels per task for pn panels, two tasks per thread. */
static int64_t own_b_col_panels(int64_t pn, int threads) {
    return sdc_ceil_div(pn, SDC_MIN(pn, 2 * (int64_t)threads));
}

static void choose_tiles(gemm_job *j, int64_t cols, int64_t *n_tasks) {
    int64_t MR = j->isa->mr, NR = j->isa->nr;
    int64_t pm = sdc_ceil_div(j->M, MR), pn = sdc_ceil_div(cols, NR);
    if (j->own_b) { /* all rows per task */
        int64_t ncp = own_b_col_panels(pn, j->threads);
        j->mc = pm * MR;
        j->nc = ncp * NR;
        j->n_tiles = sdc_ceil_div(pn, ncp);
        *n_tasks = j->n_tiles;
        return;
    }
    int64_t mcp = j->isa->mc_panels, n_tiles;
    for (;;) {
        int64_t m_tiles = sdc_ceil_div(pm, mcp);
        n_tiles = SDC_MIN(pn, sdc_ceil_div(MIN_TASKS, m_tiles));
        if (m_tiles * n_tiles >= MIN_TASKS || mcp <= MIN_M_PANELS) break;
        mcp--;
    }
    int64_t m_tiles = sdc_ceil_div(pm, mcp);
    mcp = sdc_ceil_div(pm, m_tiles); /* even out the tiles */
    /* Several K blocks: the task's C tile is read back and added to once
     * per block, so it should stay in L2. */
    int64_t cap = SDC_MAX(1, C_TILE_BYTES / (mcp * MR * NR * 4));
    if (j->Kp > j->kc && sdc_ceil_div(pn, n_tiles) > cap) n_tiles = sdc_ceil_div(pn, cap);
    int64_t ncp = sdc_ceil_div(pn, n_tiles);
    j->mc = mcp * MR;
    j->nc = ncp * NR;
    j->n_tiles = sdc_ceil_div(pn, ncp);
    *n_tasks = sdc_ceil_div(pm, mcp) * j->n_tiles;
}

/* Sizes the scratch: one chunk of packed panels (none when own_b) plus a
 * private slice per thread: an A block, and when own_b the task's B panels
 * for one K block. Returns false when the sizes overflow or memory is short. */
static bool setup_scratch(gemm_job *j, sdc_pool *pool, int64_t chunk_cols) {
    const sdc_gemm_isa *isa = j->isa;
    size_t panel, bbytes = 0, ablock, bown = 0, slice, total;
    if (!sdc_mul_ok((size_t)j->Kp, (size_t)isa->nr * (size_t)j->esize, &panel)) return false;
    j->panel_bytes = (int64_t)sdc_round64(panel);
    bool shared = !j->own_b && !j->pk; /* a packed copy of B in the scratch */
    if (shared && !sdc_mul_ok((size_t)j->panel_bytes, (size_t)(chunk_cols / isa->nr), &bbytes)) return false;
    /* rows of the largest row tile: mc_panels micro-panels, or all of M (own_b) */
    size_t rows = (size_t)(j->own_b ? sdc_ceil_div(j->M, isa->mr) : isa->mc_panels) * (size_t)isa->mr;
    if (!sdc_mul_ok(rows, (size_t)j->kc * (size_t)j->esize, &ablock)) return false;
    ablock = sdc_round64(ablock);
    if (j->own_b && !j->pk) { /* columns of the widest column tile (see choose_tiles) */
        int64_t ncp = own_b_col_panels(sdc_ceil_div(j->N, isa->nr), j->threads);
        if (!sdc_mul_ok((size_t)(ncp * isa->nr), (size_t)j->kc * (size_t)j->esize, &bown)) return false;
    }
    int nt = SDC_MAX(1, SDC_MIN(sdc_pool_threads(pool), 64));
    if (!sdc_add_ok(ablock, bown, &slice) || !(slice = sdc_round64(slice)) || !sdc_mul_ok(slice, (size_t)nt, &total) ||
        !sdc_add_ok(total, bbytes, &total))
        return false;
    char *base = sdc_x86_scratch(total);
    if (!base) return false;
    j->bpack = j->pk ? (char *)j->pk + PACKED_HEADER : base;
    j->a_bytes = (int64_t)ablock;
    memset(&j->apriv, 0, sizeof j->apriv);
    j->apriv.base = base + bbytes;
    j->apriv.bytes = slice;
    j->apriv.n = nt;
    return true;
}

static sdc_pack_fmt format_for(const sdc_gemm_isa *isa, sdc_compute compute) {
    return compute == SDC_COMPUTE_F32 ? SDC_PACK_F32 : isa->bf16_native ? SDC_PACK_BF16 : SDC_PACK_F32_BF16R;
}

/* The packed form when it was made by this isa for this format and shape. */
static const x86_packed *usable_packed(const sdc_gemm_isa *isa, const sdc_packed_weights *p, sdc_compute compute,
                                       int64_t N, int64_t K) {
    const x86_packed *x = (const x86_packed *)p;
    if (!x || x->isa != isa || x->fmt != format_for(isa, compute) || x->pub.N != N || x->pub.K != K) return NULL;
    return x;
}

/* Runs a prepared job (A source and operands filled in). Returns false when
 * scratch memory could not be had (nothing written then). */
static bool run_job(gemm_job *j, sdc_pool *pool, sdc_compute compute) {
    const sdc_gemm_isa *isa = j->isa;
    j->fmt = format_for(isa, compute);
    j->esize = j->fmt == SDC_PACK_BF16 ? 2 : 4;
    j->Kp = j->fmt == SDC_PACK_BF16 ? (j->K + 1) / 2 * 2 : j->K;
    int64_t kcmax = j->fmt == SDC_PACK_BF16 ? isa->kc_bf16 : isa->kc_f32;
    int64_t nkb = SDC_MAX(1, sdc_ceil_div(j->Kp, kcmax));
    j->kc = sdc_ceil_div(j->Kp, nkb);
    if (j->fmt == SDC_PACK_BF16) j->kc = (j->kc + 1) / 2 * 2;
    j->kc = SDC_MAX(j->kc, 2);
    /* Read f32 A in place, unless its rows are a multiple of 2 KiB apart:
     * then the 14 rows of a micro-panel fall into few L1 sets and evict
     * each other (1024x1024x1024 ran 20% slower), so pack it like bf16. */
    j->direct_a = j->fmt == SDC_PACK_F32 && !j->conv && j->lda % 512 != 0;
    /* Few rows (at most OWN_B_M_PANELS micro-panels): a shared packed copy of
     * B would be written to memory and read back by one or two row tiles,
     * so each task packs the panels it needs per K block instead; they
     * never leave L2 (the 8x8 U-Net level, M = 128, ran ~40% faster). */
    j->own_b = sdc_ceil_div(j->M, isa->mr) <= OWN_B_M_PANELS;
    int64_t per_panel = SDC_MAX(j->Kp, 1) * isa->nr * j->esize;
    int64_t chunk_cols = SDC_MAX(1, (int64_t)(B_CHUNK_BYTES / (size_t)per_panel)) * isa->nr;
    chunk_cols = SDC_MIN(chunk_cols, sdc_ceil_div(j->N, isa->nr) * isa->nr);
    if (j->own_b || j->pk) chunk_cols = sdc_ceil_div(j->N, isa->nr) * isa->nr; /* nothing to pack: one chunk */
    j->threads = sdc_pool_threads(pool);
    if (!setup_scratch(j, pool, chunk_cols)) return false;
    for (j->n0 = 0; j->n0 < j->N; j->n0 += chunk_cols) {
        j->n1 = SDC_MIN(j->n0 + chunk_cols, j->N);
        if (!j->own_b && !j->pk) sdc_pool_run(pool, (int)sdc_ceil_div(j->n1 - j->n0, isa->nr), pack_b_task, j);
        int64_t tasks;
        choose_tiles(j, j->n1 - j->n0, &tasks);
        sdc_pool_run(pool, (int)tasks, compute_task, j);
    }
    return true;
}

/* ---- few rows: no packing ---------------------------------------------------- */

/* Columns per gemv task: a multiple of 4 (the kernel's column group). */
#define GEMV_COLS 64

typedef struct gemv_job {
    const sdc_gemm_isa *isa;
    const sdc_gemm_args *a;
} gemv_job;

static void gemv_task(void *v, int t) {
    const gemv_job *j = v;
    int64_t n0 = (int64_t)t * GEMV_COLS;
    j->isa->gemv(j->a, n0, SDC_MIN(n0 + GEMV_COLS, j->a->N), j->a->compute == SDC_COMPUTE_BF16);
}

/* ---- fallback with packed-only weights ---------------------------------------- */

/* Element (n, k) of the packed weights (bf16 format). */
static float packed_elem(const gemm_job *j, int64_t n, int64_t k) {
    int64_t NR = j->isa->nr;
    const uint16_t *p = (const uint16_t *)((const char *)j->pk + PACKED_HEADER + (n / NR) * j->pk->panel_bytes);
    return sdc_bf16_to_f32(p[((k / 2) * NR + n % NR) * 2 + (k & 1)]);
}

/* Element (m, k) of the A operand, rounded to bf16 (plain rows or a
 * convolution's input pixel). */
static float a_elem(const gemm_job *j, int64_t m, int64_t k) {
    float v = 0.0f;
    if (!j->conv) {
        v = j->A[m * j->lda + k];
    } else {
        const sdc_conv2d_args *a = j->conv;
        int64_t ow = m % j->OW, oh = (m / j->OW) % j->OH, b = m / (j->OW * j->OH), tap = k / a->Cin;
        int64_t ih = oh * a->stride + tap / a->kw - a->pad_t, iw = ow * a->stride + tap % a->kw - a->pad_l;
        if (ih >= 0 && ih < a->H && iw >= 0 && iw < a->W) v = a->x[((b * a->H + ih) * a->W + iw) * a->Cin + k % a->Cin];
    }
    return sdc_bf16_to_f32(sdc_f32_to_bf16(v));
}

/* Scalar product over packed weights, for when the scratch cannot be had
 * and there are no plain weights to give the reference kernel: the
 * reference's arithmetic (double sums of bf16 operands), one thread. */
static void packed_ref(const gemm_job *j) {
    for (int64_t m = 0; m < j->M; m++)
        for (int64_t n = 0; n < j->N; n++) {
            double acc = j->bias ? j->bias[n] : 0.0;
            for (int64_t k = 0; k < j->K; k++) acc += (double)a_elem(j, m, k) * (double)packed_elem(j, n, k);
            if (j->res) acc += j->res[m * j->ldr + n];
            j->C[m * j->ldc + n] = (float)acc;
        }
}

/* ---- entry points ------------------------------------------------------------------ */

void sdc_x86_gemm(const sdc_gemm_isa *isa, sdc_pool *pool, const sdc_gemm_args *a) {
    if (a->M <= 0 || a->N <= 0) return;
    const x86_packed *pk = usable_packed(isa, a->packed, a->compute, a->N, a->K);
    if (!pk && !a->B) return; /* packed for another table / compute: ops.c never passes that */
    if (a->M <= SDC_GEMV_MAX_ROWS && a->B) { /* packing the weights would cost more than the product */
        gemv_job j = {isa, a};
        sdc_pool_run(pool, (int)sdc_ceil_div(a->N, GEMV_COLS), gemv_task, &j);
        return;
    }
    gemm_job j = {
        .isa = isa, .M = a->M, .N = a->N, .K = a->K, .A = a->A, .lda = a->lda,
        .B = a->B, .b_type = a->b_type, .ldb = a->ldb, .pk = pk, .bias = a->bias, .res = a->residual,
        .ldr = a->ldr, .C = a->C, .ldc = a->ldc,
    };
    if (run_job(&j, pool, a->compute)) return;
    if (a->B) sdc_ref_gemm(pool, a);
    else packed_ref(&j);
}

void sdc_x86_conv2d(const sdc_gemm_isa *isa, sdc_pool *pool, const sdc_conv2d_args *a) {
    int64_t OH = (a->H + a->pad_t + a->pad_b - a->kh) / a->stride + 1;
    int64_t OW = (a->W + a->pad_l + a->pad_r - a->kw) / a->stride + 1;
    if (a->B <= 0 || OH <= 0 || OW <= 0 || a->Cout <= 0) return;
    int64_t K = a->kh * a->kw * a->Cin;
    const x86_packed *pk = usable_packed(isa, a->packed, a->compute, a->Cout, K);
    if (!pk && !a->w) return; /* as in sdc_x86_gemm */
    if (isa->winograd && isa->winograd(isa, pool, a, pk ? (const char *)pk + PACKED_HEADER : NULL,
                                       pk ? pk->panel_bytes : 0))
        return;
    gemm_job j = {
        .isa = isa, .M = a->B * OH * OW, .N = a->Cout, .K = K,
        .B = a->w, .b_type = a->w_type, .ldb = K, .pk = pk, .bias = a->bias, .res = a->residual,
        .ldr = a->Cout, .C = a->y, .ldc = a->Cout,
    };
    int pointwise = a->kh == 1 && a->kw == 1 && a->stride == 1 && a->pad_t == 0 && a->pad_l == 0 &&
                    a->pad_b == 0 && a->pad_r == 0;
    if (pointwise) { /* a 1x1 convolution is a plain GEMM over the pixels */
        j.A = a->x;
        j.lda = a->Cin;
    } else {
        j.conv = a;
        j.OH = OH;
        j.OW = OW;
    }
    if (run_job(&j, pool, a->compute)) return;
    if (a->w) sdc_ref_conv2d(pool, a);
    else packed_ref(&j);
}

/* ---- packing ahead of time ------------------------------------------------------------ */

size_t sdc_x86_packed_size(const sdc_gemm_isa *isa, int64_t N, int64_t K, sdc_dtype t, sdc_compute compute) {
    if (N <= 0 || K <= 0 || format_for(isa, compute) != SDC_PACK_BF16) return 0;
    if (t != SDC_DTYPE_F32 && t != SDC_DTYPE_F16 && t != SDC_DTYPE_BF16) return 0;
    size_t panel, all, total;
    int64_t Kp = (K + 1) / 2 * 2;
    if (!sdc_mul_ok((size_t)Kp, (size_t)isa->nr * 2, &panel) || !(panel = sdc_round64(panel)) ||
        !sdc_mul_ok(panel, (size_t)sdc_ceil_div(N, isa->nr), &all) || !sdc_add_ok(all, PACKED_HEADER, &total))
        return 0;
    return total;
}

typedef struct pack_job {
    const sdc_gemm_isa *isa;
    const x86_packed *p;
    const char *B;
    sdc_dtype t;
    int64_t ldb;
} pack_job;

static void pack_ahead_task(void *v, int i) {
    const pack_job *j = v;
    int64_t NR = j->isa->nr, n = (int64_t)i * NR, es = j->t == SDC_DTYPE_F32 ? 4 : 2;
    j->isa->pack_b(j->B + n * j->ldb * es, j->t, j->ldb, SDC_MIN(NR, j->p->pub.N - n), j->p->pub.K, j->p->Kp,
                   j->p->fmt, (char *)j->p + PACKED_HEADER + i * j->p->panel_bytes);
}

sdc_packed_weights *sdc_x86_pack_weights(const sdc_gemm_isa *isa, sdc_pool *pool, int64_t N, int64_t K, sdc_dtype t,
                                         const void *B, int64_t ldb, sdc_compute compute, void *dst) {
    if (!sdc_x86_packed_size(isa, N, K, t, compute)) return NULL;
    x86_packed *p = dst;
    memset(p, 0, PACKED_HEADER);
    p->pub.compute = compute;
    p->pub.N = N;
    p->pub.K = K;
    p->isa = isa;
    p->fmt = SDC_PACK_BF16;
    p->Kp = (K + 1) / 2 * 2;
    p->panel_bytes = (int64_t)sdc_round64((size_t)p->Kp * (size_t)isa->nr * 2);
    p->n_panels = sdc_ceil_div(N, isa->nr);
    pack_job j = {isa, p, B, t, ldb};
    sdc_pool_run(pool, (int)p->n_panels, pack_ahead_task, &j);
    return &p->pub;
}
