/* 3x3 stride-1 convolution by Winograd F(2x2, 3x3) with bf16 products, for
 * the AVX-512 GEMM engine (gemm.h sdc_gemm_isa.winograd) on CPUs with
 * AVX512_BF16.
 *
 * Each 2x2 block ("tile") of output pixels needs a 4x4 block d of input
 * pixels; with the weights g of an (output, input) channel pair,
 *   Y = A^T [ (G g G^T) o (B^T d B) ] A,   summed over input channels,
 * so the convolution becomes 16 GEMMs (one per element xi of the 4x4
 * transformed tile), [tiles, Cin] x [Cin, Cout], with 16 multiplies per
 * tile and channel pair instead of 36: 2.25x fewer products. Phases:
 *   weights  U[xi] = G g G^T of the bf16 weights (from the engine's bf16
 *            panels, packed ahead or per call), in f32, rounded to bf16,
 *            straight into the same panel layout (pairs of input channels
 *            never straddle taps when Cin is even);
 *   inputs   V[xi][tile][cin] = B^T d B in f32 (sums of 4 pixels), bf16;
 *   GEMMs    M[xi][tile][cout] = V[xi] U[xi]^T on the bf16 micro-kernel,
 *            f32 accumulation;
 *   outputs  y = A^T M A (sums of 9 values) + bias + residual.
 * Output channels are processed in chunks (bounded transformed-weight
 * scratch), tiles in chunks (bounded V and M). Every value is computed by
 * one task in a fixed order: bitwise identical for any thread count.
 *
 * Rounding differs from the direct bf16 convolution: the transformed
 * operands are rounded to bf16 (instead of the pixels and weights), so
 * errors are ~1.6x larger in RMS on SD convolutions (measured with
 * PyTorch in double); the bound is derived in tests/unit/test_kernels_gemm.c.
 * SDC_WINOGRAD=0 in the environment turns the path off.
 *
 * Does not: handle other kernel sizes or strides, odd Cin, or few tiles
 * (the direct convolution is as fast there); declines them. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kernels/x86/gemm.h"
#include "kernels/x86/scratch.h"
#include "kernels/x86/x86_kernels.h"

#define MR 14
#define NR 32
#define WG_MIN_TILES 64 /* fewer tiles: weight transform and tiny GEMMs cost more than they save */
#define WG_MIN_CIN 16
#define WG_U_BYTES ((size_t)12 << 20)    /* transformed weights of one chunk of output channels */
#define WG_VM_BYTES ((size_t)4 << 20) /* V and M of one chunk of tiles: within L2 + L3 share; 16 MiB made the
                                       * 64-128 channel VAE / TAESD convolutions ~20% slower */
#define WG_MC_PANELS 8                   /* micro-panels per GEMM row tile */
#define WG_C_TILE_BYTES ((int64_t)384 << 10) /* C tile of a task over several K blocks */
#define WG_TILE_TASK 16                  /* tiles per transform task */

/* Chunk budgets; tests shrink them to exercise the chunk loops. */
static size_t g_u_bytes = WG_U_BYTES, g_vm_bytes = WG_VM_BYTES;

void sdc_avx512_winograd_set_budgets(size_t u_bytes, size_t vm_bytes) {
    g_u_bytes = u_bytes ? u_bytes : WG_U_BYTES;
    g_vm_bytes = vm_bytes ? vm_bytes : WG_VM_BYTES;
}

typedef struct wg_job {
    const sdc_gemm_isa *isa;
    const sdc_conv2d_args *a;
    int64_t OH, OW, th, tw, T;  /* output size, tiles per column and row, all tiles */
    int64_t Cin, Cout, kc;      /* K = Cin, in blocks of kc */
    const char *w;              /* direct bf16 panels: [Cout/32][9 Cin/2][32][2] */
    int64_t w_panel;            /* bytes per direct panel */
    int64_t u_panel;            /* bytes per transformed panel (Cin/2 x 32 pairs) */
    /* current chunks: output channels [n0, n0 + nn), tiles [t0, t0 + tc) */
    int64_t n0, nn, t0, tc, tc_pad;
    char *U;                    /* [16][nn/32 panels][u_panel] */
    uint16_t *V;                /* [16][tc_pad][ldv] */
    float *M;                   /* [16][tc_pad][ldm] */
    int64_t ldv, ldm;
    int64_t mcp, m_tiles, ncp, n_tiles; /* GEMM tiling of one chunk */
} wg_job;

static inline __mmask16 lanes(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* 16 bf16 at p as f32 */
static inline __m512 bf16_to_f32(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

/* ---- weights ------------------------------------------------------------------ */

typedef struct pack_w_job {
    const sdc_gemm_isa *isa;
    const sdc_conv2d_args *a;
    char *dst;
    int64_t panel, K, Kp;
} pack_w_job;

static void pack_w_task(void *v, int t) {
    const pack_w_job *j = v;
    int64_t n = (int64_t)t * NR, es = j->a->w_type == SDC_DTYPE_F32 ? 4 : 2;
    j->isa->pack_b((const char *)j->a->w + n * j->K * es, j->a->w_type, j->K, SDC_MIN(NR, j->a->Cout - n), j->K,
                   j->Kp, SDC_PACK_BF16, j->dst + t * j->panel);
}

/* U[xi] for one 32-channel panel p of the chunk: G g G^T per element of the
 * [Cin/2][32][2] panel layout, 16 lanes at a time (9 tap slices in, 16
 * transformed slices out). G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. */
static void u_task(void *v, int p) {
    const wg_job *j = v;
    const char *src = j->w + ((j->n0 / NR) + p) * j->w_panel;
    int64_t slice = j->Cin / 2 * NR * 2; /* elements of one tap's slice */
    __m512 h = _mm512_set1_ps(0.5f);
    for (int64_t e = 0; e < slice; e += 16) {
        __m512 g[9], t[4][3];
        for (int k = 0; k < 9; k++) g[k] = bf16_to_f32((const uint16_t *)src + k * slice + e);
        for (int c = 0; c < 3; c++) { /* rows: t = G g */
            t[0][c] = g[c];
            t[1][c] = _mm512_mul_ps(_mm512_add_ps(_mm512_add_ps(g[c], g[3 + c]), g[6 + c]), h);
            t[2][c] = _mm512_mul_ps(_mm512_add_ps(_mm512_sub_ps(g[c], g[3 + c]), g[6 + c]), h);
            t[3][c] = g[6 + c];
        }
        for (int r = 0; r < 4; r++) { /* columns: U = t G^T */
            __m512 u[4] = {t[r][0], _mm512_mul_ps(_mm512_add_ps(_mm512_add_ps(t[r][0], t[r][1]), t[r][2]), h),
                           _mm512_mul_ps(_mm512_add_ps(_mm512_sub_ps(t[r][0], t[r][1]), t[r][2]), h), t[r][2]};
            for (int c = 0; c < 4; c++) {
                uint16_t *d = (uint16_t *)(j->U + ((int64_t)(r * 4 + c) * sdc_ceil_div(j->nn, NR) + p) * j->u_panel);
                _mm256_storeu_si256((__m256i *)(d + e), (__m256i)_mm512_cvtneps_pbh(u[c]));
            }
        }
    }
}

/* image, tile row and tile column of row r of the current tile chunk */
static inline void tile_at(const wg_job *j, int64_t r, int64_t *b, int64_t *ty, int64_t *tx) {
    int64_t tile = j->t0 + r;
    *b = tile / (j->th * j->tw), *ty = (tile / j->tw) % j->th, *tx = tile % j->tw;
}

/* ---- inputs --------------------------------------------------------------------- */

/* V rows of tiles [t0 + 16 task, ...): B^T d B per 16 channels, d the 4x4
 * input pixels of the tile (zero outside the image).
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
static void v_task(void *v, int task) {
    const wg_job *j = v;
    const sdc_conv2d_args *a = j->a;
    int64_t r0 = (int64_t)task * WG_TILE_TASK, r1 = SDC_MIN(r0 + WG_TILE_TASK, j->tc);
    for (int64_t r = r0; r < r1; r++) {
        int64_t b, ty, tx;
        tile_at(j, r, &b, &ty, &tx);
        int64_t iy = 2 * ty - a->pad_t, ix = 2 * tx - a->pad_l;
        const float *px[16];
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) {
                bool in = iy + y >= 0 && iy + y < a->H && ix + x >= 0 && ix + x < a->W;
                px[y * 4 + x] = in ? a->x + ((b * a->H + iy + y) * a->W + ix + x) * a->Cin : NULL;
            }
        for (int64_t c = 0; c < j->Cin; c += 16) {
            __mmask16 m = lanes(j->Cin - c);
            __m512 d[16], t[16];
            for (int i = 0; i < 16; i++) d[i] = px[i] ? _mm512_maskz_loadu_ps(m, px[i] + c) : _mm512_setzero_ps();
            for (int x = 0; x < 4; x++) { /* rows: t = B^T d */
                t[x] = _mm512_sub_ps(d[x], d[8 + x]);
                t[4 + x] = _mm512_add_ps(d[4 + x], d[8 + x]);
                t[8 + x] = _mm512_sub_ps(d[8 + x], d[4 + x]);
                t[12 + x] = _mm512_sub_ps(d[4 + x], d[12 + x]);
            }
            for (int y = 0; y < 4; y++) { /* columns: V = t B */
                __m512 vv[4] = {_mm512_sub_ps(t[y * 4], t[y * 4 + 2]), _mm512_add_ps(t[y * 4 + 1], t[y * 4 + 2]),
                                _mm512_sub_ps(t[y * 4 + 2], t[y * 4 + 1]), _mm512_sub_ps(t[y * 4 + 1], t[y * 4 + 3])};
                for (int x = 0; x < 4; x++) {
                    uint16_t *dst = j->V + ((int64_t)(y * 4 + x) * j->tc_pad + r) * j->ldv + c;
                    _mm256_mask_storeu_epi16(dst, m, (__m256i)_mm512_cvtneps_pbh(vv[x]));
                }
            }
        }
    }
}

/* ---- GEMMs ------------------------------------------------------------------------- */

/* Task = (xi, row tile, column tile): M[xi] rows x columns over all K blocks. */
static void gemm_task(void *v, int t) {
    const wg_job *j = v;
    int64_t per = j->m_tiles * j->n_tiles, xi = t / per, mt = (t % per) / j->n_tiles, nt = t % j->n_tiles;
    int64_t m0 = mt * j->mcp * MR, m1 = SDC_MIN(m0 + j->mcp * MR, j->tc);
    int64_t c0 = nt * j->ncp * NR, c1 = SDC_MIN(c0 + j->ncp * NR, j->nn);
    const uint16_t *V = j->V + xi * j->tc_pad * j->ldv;
    const char *U = j->U + xi * sdc_ceil_div(j->nn, NR) * j->u_panel;
    float *M = j->M + xi * j->tc_pad * j->ldm;
    int64_t nm = sdc_ceil_div(m1 - m0, MR);
    for (int64_t k0 = 0; k0 < j->Cin; k0 += j->kc) {
        int64_t kcur = SDC_MIN(j->kc, j->Cin - k0), bytes = kcur * NR * 2;
        int64_t share = (sdc_ceil_div(bytes, nm) + 63) / 64 * 64;
        for (int64_t n = c0; n < c1; n += NR) {
            const char *bp = U + (n / NR) * j->u_panel + k0 * NR * 2;
            const char *next = n + NR < c1 ? bp + j->u_panel : NULL;
            for (int64_t m = m0; m < m1; m += MR) {
                int64_t off = ((m - m0) / MR) * share;
                sdc_ukr_args u = {
                    .kc = kcur, .a = V + m * j->ldv + k0, .rs_a = j->ldv, .b = bp, .c = M + m * j->ldm + n,
                    .ldc = j->ldm, .mr = (int)SDC_MIN(MR, m1 - m), .nr = (int)SDC_MIN(NR, c1 - n), .first = k0 == 0,
                    .pf = next && off < bytes ? next + off : NULL, .pf_len = SDC_MIN(share, bytes - off),
                };
                j->isa->ukr_bf16(&u);
            }
        }
    }
}

/* ---- outputs --------------------------------------------------------------------- */

/* y for tiles [t0 + 16 task, ...), channels of the chunk: A^T M A + bias
 * + residual. A^T = [1 1 1 0; 0 1 -1 -1]. */
static void out_task(void *v, int task) {
    const wg_job *j = v;
    const sdc_conv2d_args *a = j->a;
    int64_t r0 = (int64_t)task * WG_TILE_TASK, r1 = SDC_MIN(r0 + WG_TILE_TASK, j->tc);
    for (int64_t r = r0; r < r1; r++) {
        int64_t b, ty, tx;
        tile_at(j, r, &b, &ty, &tx);
        for (int64_t c = 0; c < j->nn; c += 16) {
            __mmask16 mk = lanes(j->nn - c);
            __m512 m[16], s[8];
            for (int i = 0; i < 16; i++) m[i] = _mm512_maskz_loadu_ps(mk, j->M + (i * j->tc_pad + r) * j->ldm + c);
            for (int x = 0; x < 4; x++) { /* rows: s = A^T m */
                s[x] = _mm512_add_ps(_mm512_add_ps(m[x], m[4 + x]), m[8 + x]);
                s[4 + x] = _mm512_sub_ps(_mm512_sub_ps(m[4 + x], m[8 + x]), m[12 + x]);
            }
            __m512 bias = a->bias ? _mm512_maskz_loadu_ps(mk, a->bias + j->n0 + c) : _mm512_setzero_ps();
            for (int y = 0; y < 2; y++) {
                int64_t oy = 2 * ty + y;
                if (oy >= j->OH) break;
                __m512 out[2] = {_mm512_add_ps(_mm512_add_ps(s[y * 4], s[y * 4 + 1]), s[y * 4 + 2]),
                                 _mm512_sub_ps(_mm512_sub_ps(s[y * 4 + 1], s[y * 4 + 2]), s[y * 4 + 3])};
                for (int x = 0; x < 2; x++) {
                    int64_t ox = 2 * tx + x;
                    if (ox >= j->OW) break;
                    int64_t off = ((b * j->OH + oy) * j->OW + ox) * j->Cout + j->n0 + c;
                    __m512 val = _mm512_add_ps(out[x], bias);
                    if (a->residual) val = _mm512_add_ps(val, _mm512_maskz_loadu_ps(mk, a->residual + off));
                    _mm512_mask_storeu_ps(a->y + off, mk, val);
                }
            }
        }
    }
}

/* ---- driver ----------------------------------------------------------------------- */

bool sdc_avx512_winograd_fits(const sdc_conv2d_args *a) {
    static int enabled = -1;
    if (enabled < 0) {
        const char *e = getenv("SDC_WINOGRAD");
        enabled = !(e && e[0] == '0');
    }
    if (!enabled || a->compute != SDC_COMPUTE_BF16 || a->kh != 3 || a->kw != 3 || a->stride != 1) return false;
    if (a->Cin < WG_MIN_CIN || a->Cin % 2) return false;
    int64_t OH = a->H + a->pad_t + a->pad_b - 2, OW = a->W + a->pad_l + a->pad_r - 2;
    return OH > 0 && OW > 0 && a->B * sdc_ceil_div(OH, 2) * sdc_ceil_div(OW, 2) >= WG_MIN_TILES;
}

/* GEMM tiling of the current chunks: row tiles of up to 8 micro-panels; C
 * tiles within L2 when K spans several blocks. */
static void plan_gemm(wg_job *j) {
    int64_t pm = j->tc_pad / MR, pn = sdc_ceil_div(j->nn, NR);
    j->m_tiles = sdc_ceil_div(pm, WG_MC_PANELS);
    j->mcp = sdc_ceil_div(pm, j->m_tiles);
    j->ncp = pn;
    if (j->Cin > j->kc) j->ncp = SDC_MIN(pn, SDC_MAX(1, WG_C_TILE_BYTES / (j->mcp * MR * NR * 4)));
    j->n_tiles = sdc_ceil_div(pn, j->ncp);
    j->ncp = sdc_ceil_div(pn, j->n_tiles);
}

static void run_tiles(wg_job *j, sdc_pool *pool, bool v_ready) {
    j->tc_pad = sdc_ceil_div(j->tc, MR) * MR;
    if (!v_ready) {
        sdc_pool_run(pool, (int)sdc_ceil_div(j->tc, WG_TILE_TASK), v_task, j);
        for (int xi = 0; xi < 16; xi++) /* rows the micro-kernel reads past the last tile */
            memset(j->V + (xi * j->tc_pad + j->tc) * j->ldv, 0, (size_t)((j->tc_pad - j->tc) * j->ldv) * 2);
    }
    plan_gemm(j);
    sdc_pool_run(pool, (int)(16 * j->m_tiles * j->n_tiles), gemm_task, j);
    sdc_pool_run(pool, (int)sdc_ceil_div(j->tc, WG_TILE_TASK), out_task, j);
}

bool sdc_avx512_conv_winograd(const sdc_gemm_isa *isa, sdc_pool *pool, const sdc_conv2d_args *a, const void *panels,
                              int64_t panel_bytes) {
    if (!isa->bf16_native || !sdc_avx512_winograd_fits(a) || (!panels && !a->w)) return false;
    wg_job j = {.isa = isa, .a = a, .Cin = a->Cin, .Cout = a->Cout};
    j.OH = a->H + a->pad_t + a->pad_b - 2, j.OW = a->W + a->pad_l + a->pad_r - 2;
    j.th = sdc_ceil_div(j.OH, 2), j.tw = sdc_ceil_div(j.OW, 2), j.T = a->B * j.th * j.tw;
    int64_t nkb = sdc_ceil_div(j.Cin, isa->kc_bf16), K = 9 * j.Cin, n_panels = sdc_ceil_div(j.Cout, NR);
    j.kc = (sdc_ceil_div(j.Cin, nkb) + 1) / 2 * 2;
    j.ldv = j.Cin * 2 % 2048 ? j.Cin : j.Cin + 32; /* rows 2 KiB apart share L1 sets */
    j.u_panel = (int64_t)sdc_round64((size_t)(j.Cin * NR * 2));
    j.w_panel = panels ? panel_bytes : (int64_t)sdc_round64((size_t)(K * NR * 2));
    /* chunks: output channels by the transformed-weight budget, tiles by V + M */
    int64_t nn = SDC_MAX(1, (int64_t)(g_u_bytes / (size_t)(16 * j.u_panel))) * NR;
    nn = SDC_MIN(nn, n_panels * NR);
    int64_t per_tile = 16 * (j.ldv * 2 + nn * 4);
    int64_t tc = SDC_MAX(MR, (int64_t)(g_vm_bytes / (size_t)per_tile) / MR * MR);
    tc = SDC_MIN(tc, j.T);
    j.ldm = nn;
    size_t wb = panels ? 0 : (size_t)(n_panels * j.w_panel), ub = (size_t)(16 * sdc_ceil_div(nn, NR) * j.u_panel);
    size_t tpad = (size_t)(sdc_ceil_div(tc, MR) * MR);
    size_t vb = sdc_round64(16 * tpad * (size_t)j.ldv * 2), mb = sdc_round64(16 * tpad * (size_t)nn * 4);
    char *base = sdc_x86_scratch(wb + ub + vb + mb);
    if (!base) return false;
    if (!panels) { /* this call's weights in the engine's bf16 panels first */
        pack_w_job pj = {isa, a, base, j.w_panel, K, K};
        sdc_pool_run(pool, (int)n_panels, pack_w_task, &pj);
    }
    j.w = panels ? panels : base;
    j.U = base + wb;
    j.V = (uint16_t *)(base + wb + ub);
    j.M = (float *)(base + wb + ub + vb);
    bool one_tile_chunk = tc == j.T;
    if (one_tile_chunk) { /* V once for all channel chunks */
        j.t0 = 0, j.tc = j.T, j.tc_pad = sdc_ceil_div(j.T, MR) * MR;
        sdc_pool_run(pool, (int)sdc_ceil_div(j.tc, WG_TILE_TASK), v_task, &j);
        for (int xi = 0; xi < 16; xi++)
            memset(j.V + (xi * j.tc_pad + j.tc) * j.ldv, 0, (size_t)((j.tc_pad - j.tc) * j.ldv) * 2);
    }
    for (j.n0 = 0; j.n0 < j.Cout; j.n0 += nn) {
        j.nn = SDC_MIN(nn, j.Cout - j.n0);
        sdc_pool_run(pool, (int)sdc_ceil_div(j.nn, NR), u_task, &j);
        for (j.t0 = 0; j.t0 < j.T; j.t0 += tc) {
            j.tc = SDC_MIN(tc, j.T - j.t0);
            run_tiles(&j, pool, one_tile_chunk);
        }
    }
    return true;
}
