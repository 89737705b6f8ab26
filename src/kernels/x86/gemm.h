/* GEMM engine shared by the x86 kernel tables: blocking, packing schedule
 * and threading live here (portable C, gemm.c); each instruction set plugs
 * in its packing routines and register-blocked micro-kernels through an
 * sdc_gemm_isa (gemm_avx512.c, gemm_avx2.c).
 *
 * Used for plain GEMM (kernels.h sdc_gemm_args) and for NHWC convolution as
 * an implicit GEMM: the A operand's rows are output pixels and its columns
 * the (tap, input channel) pairs, gathered block by block, never as a whole
 * im2col matrix.
 *
 * Packed formats:
 *   A (activations): row-major rows, rs_a elements apart, f32 (or f32 values
 *     rounded to bf16 precision), or bf16 for the native bf16 micro-kernel
 *     (element pairs k, k+1 adjacent: what vdpbf16ps broadcasts).
 *   B (weights): panels of NR output columns; inside a panel, for every k
 *     (f32) or k pair (bf16) the NR columns are contiguous:
 *       f32  panel[k][NR]         bf16  panel[k/2][NR][2]
 *     so one panel of Kp elements takes Kp * NR * esize bytes. Columns past
 *     N and k past K are zero. */
#ifndef SDC_KERNELS_X86_GEMM_H
#define SDC_KERNELS_X86_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"

typedef enum sdc_pack_fmt {
    SDC_PACK_F32 = 0,   /* exact f32 (f16/bf16 weights widened exactly) */
    SDC_PACK_F32_BF16R, /* f32 holding values rounded to bf16 (bf16 compute without vdpbf16ps) */
    SDC_PACK_BF16       /* bf16 pairs for vdpbf16ps */
} sdc_pack_fmt;

/* One micro-kernel call: C[0:mr, 0:nr] (+)= A[0:MR, 0:kc] * Bpanel[0:kc, 0:NR].
 * A always has MR readable rows (rows >= mr may hold anything finite). */
typedef struct sdc_ukr_args {
    int64_t kc;      /* elements of k (even for bf16) */
    const void *a;   /* row 0 of the A block at this k */
    int64_t rs_a;    /* A row stride, in elements */
    const void *b;   /* packed B panel at this k */
    float *c;
    int64_t ldc;
    int mr, nr;
    int first;         /* first k block: start from zero, then add bias and residual */
    const float *bias; /* at this tile's first column, or NULL */
    const float *res;  /* at this tile's [0, 0], or NULL; may alias c */
    int64_t ldr;
    /* memory to bring into cache meanwhile (a share of the next B
     * micro-panel, which may come from DRAM), or NULL */
    const char *pf;
    int64_t pf_len;
} sdc_ukr_args;

typedef struct sdc_gemm_isa {
    int mr, nr;
    int kc_f32, kc_bf16; /* k block: the B micro-panel (kc x NR) stays in L1 */
    int mc_panels;       /* A micro-panels per task row block (A block in L2) */
    int bf16_native;     /* ukr_bf16 may be used (CPU has AVX512_BF16) */
    /* Packs rows [0, nvalid) of B (one panel of NR columns, row 0 at B,
     * element type t, rows ldb apart) over k in [0, K) into dst in fmt, Kp
     * (>= K; even for bf16) elements long. */
    void (*pack_b)(const void *B, sdc_dtype t, int64_t ldb, int64_t nvalid, int64_t K, int64_t Kp,
                   sdc_pack_fmt fmt, void *dst);
    /* Converts n f32 values into dst in fmt (f32 / bf16-rounded f32 / bf16). */
    void (*pack_a_row)(const float *src, int64_t n, sdc_pack_fmt fmt, void *dst);
    void (*ukr_f32)(const sdc_ukr_args *u);  /* fmt F32 and F32_BF16R */
    void (*ukr_bf16)(const sdc_ukr_args *u); /* fmt BF16; NULL without bf16_native */
    /* Few-row GEMM without packing (memory-bound: each weight row is read
     * once): C[m, n] = A[m, :] . B[n, :] + bias[n] + residual[m, n] for
     * m < M <= SDC_GEMV_MAX_ROWS and n in [n0, n1). round: operands rounded
     * to bf16 (bf16 compute), products exact in f32. */
    void (*gemv)(const sdc_gemm_args *a, int64_t n0, int64_t n1, int round);
    /* Optional (NULL: none): a 3x3 stride-1 convolution by Winograd
     * F(2x2, 3x3) with bf16 products (winograd_avx512.c). panels: the
     * weights in this isa's bf16 panels (packed ahead, panel_bytes apart),
     * or NULL to pack a->w on the call. Returns false, having written
     * nothing, when it declines the shape or lacks scratch memory. */
    bool (*winograd)(const struct sdc_gemm_isa *isa, sdc_pool *pool, const sdc_conv2d_args *a, const void *panels,
                     int64_t panel_bytes);
} sdc_gemm_isa;

/* GEMMs with at most this many rows take the gemv path. */
#define SDC_GEMV_MAX_ROWS 4

/* Run a GEMM / convolution with the given ISA parts. On scratch allocation
 * failure they fall back to the reference kernel (same results within the
 * op's tolerance, only slower). Weights packed ahead of time (a->packed,
 * made by sdc_x86_pack_weights with the same isa and compute) are read in
 * place: no packing on the call, and the same results bit for bit as the
 * same call with plain weights. */
void sdc_x86_gemm(const sdc_gemm_isa *isa, sdc_pool *pool, const sdc_gemm_args *a);
void sdc_x86_conv2d(const sdc_gemm_isa *isa, sdc_pool *pool, const sdc_conv2d_args *a);

/* Ahead-of-time packing (kernels.h packed_size / pack_weights). Only the
 * native bf16 format is packed: its panels take the bytes of f16 weights,
 * while f32 panels would double an f16 model's memory. Returns 0 / NULL
 * for other formats. The packed form is a header followed by the whole
 * matrix's NR-column panels over Kp, as one call would pack them. */
size_t sdc_x86_packed_size(const sdc_gemm_isa *isa, int64_t N, int64_t K, sdc_dtype t, sdc_compute compute);
sdc_packed_weights *sdc_x86_pack_weights(const sdc_gemm_isa *isa, sdc_pool *pool, int64_t N, int64_t K, sdc_dtype t,
                                         const void *B, int64_t ldb, sdc_compute compute, void *dst);

#endif
