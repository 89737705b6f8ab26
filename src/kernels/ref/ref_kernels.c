/* Scalar reference kernels: the definition of every op's meaning.
 *
 * Written for clarity, not speed: plain loops, sums in double so that the
 * reference is more accurate than any optimized version tested against it.
 * Work is still split over the pool by output rows, so model-level tests on
 * the reference path finish in reasonable time. Not vectorized on purpose
 * (built without ISA flags). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/ref/ref_kernels.h"

/* ---- weight access ---------------------------------------------------- */

static float load_w(sdc_dtype t, const void *base, int64_t idx) {
    switch (t) {
    case SDC_DTYPE_F16: return sdc_f16_to_f32(((const uint16_t *)base)[idx]);
    case SDC_DTYPE_BF16: return sdc_bf16_to_f32(((const uint16_t *)base)[idx]);
    default: return ((const float *)base)[idx];
    }
}

/* value as the arithmetic sees it: bf16 compute rounds operands to bf16 */
static float operand(sdc_compute c, float v) {
    return c == SDC_COMPUTE_BF16 ? sdc_bf16_to_f32(sdc_f32_to_bf16(v)) : v;
}

/* ---- GEMM --------------------------------------------------------------- */

#define ROWS_PER_TASK 16

static void gemm_task(void *varg, int task) {
    const sdc_gemm_args *a = varg;
    int64_t m0 = (int64_t)task * ROWS_PER_TASK, m1 = m0 + ROWS_PER_TASK;
    if (m1 > a->M) m1 = a->M;
    for (int64_t m = m0; m < m1; m++) {
        for (int64_t n = 0; n < a->N; n++) {
            double acc = 0.0;
            for (int64_t k = 0; k < a->K; k++)
                acc += (double)operand(a->compute, a->A[m * a->lda + k]) *
                       (double)operand(a->compute, load_w(a->b_type, a->B, n * a->ldb + k));
            if (a->bias) acc += a->bias[n];
            if (a->residual) acc += a->residual[m * a->ldr + n];
            a->C[m * a->ldc + n] = (float)acc;
        }
    }
}

void sdc_ref_gemm(sdc_pool *pool, const sdc_gemm_args *a) {
    sdc_pool_run(pool, (int)sdc_ceil_div_i64(a->M, ROWS_PER_TASK), gemm_task, (void *)a);
}

/* ---- convolution ---------------------------------------------------------- */

static void conv_task(void *varg, int task) {
    const sdc_conv2d_args *a = varg;
    int64_t OH = (a->H + a->pad_t + a->pad_b - a->kh) / a->stride + 1;
    int64_t OW = (a->W + a->pad_l + a->pad_r - a->kw) / a->stride + 1;
    int64_t b = task / OH, oh = task % OH;
    for (int64_t ow = 0; ow < OW; ow++) {
        float *y = a->y + ((b * OH + oh) * OW + ow) * a->Cout;
        const float *r = a->residual ? a->residual + ((b * OH + oh) * OW + ow) * a->Cout : NULL;
        for (int64_t co = 0; co < a->Cout; co++) {
            double acc = a->bias ? a->bias[co] : 0.0;
            for (int64_t i = 0; i < a->kh; i++) {
                int64_t ih = oh * a->stride + i - a->pad_t;
                if (ih < 0 || ih >= a->H) continue;
                for (int64_t j = 0; j < a->kw; j++) {
                    int64_t iw = ow * a->stride + j - a->pad_l;
                    if (iw < 0 || iw >= a->W) continue;
                    const float *x = a->x + ((b * a->H + ih) * a->W + iw) * a->Cin;
                    int64_t wbase = ((co * a->kh + i) * a->kw + j) * a->Cin;
                    for (int64_t c = 0; c < a->Cin; c++)
                        acc += (double)operand(a->compute, x[c]) *
                               (double)operand(a->compute, load_w(a->w_type, a->w, wbase + c));
                }
            }
            if (r) acc += r[co];
            y[co] = (float)acc;
        }
    }
}

void sdc_ref_conv2d(sdc_pool *pool, const sdc_conv2d_args *a) {
    int64_t OH = (a->H + a->pad_t + a->pad_b - a->kh) / a->stride + 1;
    sdc_pool_run(pool, (int)(a->B * OH), conv_task, (void *)a);
}

/* ---- attention ------------------------------------------------------------ */

static void attention_task(void *varg, int task) {
    const sdc_attention_args *a = varg;
    int64_t b = task / a->heads, h = task % a->heads;
    double *p = malloc((size_t)a->Tk * sizeof *p);
    if (!p) abort(); /* reference only: tests and debugging */
    for (int64_t i = 0; i < a->Tq; i++) {
        const float *q = a->q + (b * a->Tq + i) * a->ldq + h * a->D;
        int64_t nk = a->causal ? (i + 1 < a->Tk ? i + 1 : a->Tk) : a->Tk;
        double mx = -INFINITY;
        for (int64_t j = 0; j < nk; j++) {
            const float *k = a->k + (b * a->Tk + j) * a->ldk + h * a->D;
            double s = 0.0;
            for (int64_t d = 0; d < a->D; d++)
                s += (double)operand(a->compute, q[d]) * (double)operand(a->compute, k[d]);
            p[j] = s * a->scale;
            if (p[j] > mx) mx = p[j];
        }
        double sum = 0.0;
        for (int64_t j = 0; j < nk; j++) {
            p[j] = exp(p[j] - mx);
            sum += p[j];
        }
        float *o = a->out + (b * a->Tq + i) * a->ldo + h * a->D;
        for (int64_t d = 0; d < a->D; d++) {
            double acc = 0.0;
            for (int64_t j = 0; j < nk; j++) acc += p[j] * a->v[(b * a->Tk + j) * a->ldv + h * a->D + d];
            o[d] = (float)(acc / sum);
        }
    }
    free(p);
}

void sdc_ref_attention(sdc_pool *pool, const sdc_attention_args *a) {
    sdc_pool_run(pool, (int)(a->B * a->heads), attention_task, (void *)a);
}

/* ---- normalization ------------------------------------------------------- */

static float silu_f(float x) { return x / (1.0f + expf(-x)); }

static void group_norm_task(void *varg, int task) {
    const sdc_group_norm_args *a = varg;
    int64_t b = task / a->G, g = task % a->G, cg = a->C / a->G;
    const float *x = a->x + b * a->P * a->C + g * cg;
    float *y = a->y + b * a->P * a->C + g * cg;
    double sum = 0.0, n = (double)(a->P * cg);
    for (int64_t p = 0; p < a->P; p++)
        for (int64_t c = 0; c < cg; c++) sum += x[p * a->C + c];
    double mean = sum / n, var = 0.0;
    for (int64_t p = 0; p < a->P; p++)
        for (int64_t c = 0; c < cg; c++) {
            double d = x[p * a->C + c] - mean;
            var += d * d;
        }
    var /= n;
    double inv = 1.0 / sqrt(var + a->eps);
    for (int64_t p = 0; p < a->P; p++)
        for (int64_t c = 0; c < cg; c++) {
            int64_t ch = g * cg + c;
            float v = (float)((x[p * a->C + c] - mean) * inv * a->gamma[ch] + a->beta[ch]);
            y[p * a->C + c] = a->silu ? silu_f(v) : v;
        }
}

void sdc_ref_group_norm(sdc_pool *pool, const sdc_group_norm_args *a) {
    sdc_pool_run(pool, (int)(a->B * a->G), group_norm_task, (void *)a);
}

typedef struct {
    int64_t M, C;
    const float *x, *gamma, *beta;
    float eps;
    float *y;
} layer_norm_job;

static void layer_norm_task(void *varg, int task) {
    const layer_norm_job *j = varg;
    const float *x = j->x + task * j->C;
    float *y = j->y + task * j->C;
    double sum = 0.0, var = 0.0;
    for (int64_t c = 0; c < j->C; c++) sum += x[c];
    double mean = sum / (double)j->C;
    for (int64_t c = 0; c < j->C; c++) var += (x[c] - mean) * (x[c] - mean);
    double inv = 1.0 / sqrt(var / (double)j->C + j->eps);
    for (int64_t c = 0; c < j->C; c++)
        y[c] = (float)((x[c] - mean) * inv * (j->gamma ? j->gamma[c] : 1.0f) + (j->beta ? j->beta[c] : 0.0f));
}

void sdc_ref_layer_norm(sdc_pool *pool, int64_t M, int64_t C, const float *x, const float *gamma,
                        const float *beta, float eps, float *y) {
    layer_norm_job j = {M, C, x, gamma, beta, eps, y};
    sdc_pool_run(pool, (int)M, layer_norm_task, &j);
}

void sdc_ref_softmax(sdc_pool *pool, int64_t M, int64_t N, float *x) {
    (void)pool;
    for (int64_t m = 0; m < M; m++) {
        float *r = x + m * N;
        double mx = -INFINITY, sum = 0.0;
        for (int64_t n = 0; n < N; n++)
            if (r[n] > mx) mx = r[n];
        for (int64_t n = 0; n < N; n++) sum += exp(r[n] - mx);
        for (int64_t n = 0; n < N; n++) r[n] = (float)(exp(r[n] - mx) / sum);
    }
}

/* ---- element-wise ------------------------------------------------------------ */

float sdc_ref_act(sdc_act act, float x) {
    double v = x;
    switch (act) {
    case SDC_ACT_SILU: return (float)(v / (1.0 + exp(-v)));
    case SDC_ACT_GELU: return (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0))));
    case SDC_ACT_GELU_TANH:
        return (float)(0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v))));
    case SDC_ACT_QUICK_GELU: return (float)(v / (1.0 + exp(-1.702 * v)));
    }
    return x;
}

void sdc_ref_activation(sdc_pool *pool, sdc_act act, int64_t n, const float *x, float *y) {
    (void)pool;
    for (int64_t i = 0; i < n; i++) y[i] = sdc_ref_act(act, x[i]);
}

void sdc_ref_geglu(sdc_pool *pool, int64_t M, int64_t F, const float *x, float *y) {
    (void)pool;
    for (int64_t m = 0; m < M; m++)
        for (int64_t f = 0; f < F; f++)
            y[m * F + f] = (float)((double)x[m * 2 * F + f] * sdc_ref_act(SDC_ACT_GELU, x[m * 2 * F + F + f]));
}

void sdc_ref_add(sdc_pool *pool, int64_t n, const float *a, const float *b, int64_t period, float *y) {
    (void)pool;
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i % period];
}

void sdc_ref_mul(sdc_pool *pool, int64_t n, const float *a, const float *b, int64_t period, float *y) {
    (void)pool;
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i % period];
}

void sdc_ref_upsample_nearest(sdc_pool *pool, int64_t B, int64_t H, int64_t W, int64_t C, int64_t OH,
                              int64_t OW, const float *x, float *y) {
    (void)pool;
    for (int64_t b = 0; b < B; b++)
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t ih = oh * H / OH;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t iw = ow * W / OW;
                memcpy(y + ((b * OH + oh) * OW + ow) * C, x + ((b * H + ih) * W + iw) * C, (size_t)C * 4);
            }
        }
}

void sdc_ref_concat_rows(sdc_pool *pool, int64_t P, int64_t Ca, int64_t Cb, const float *a, const float *b,
                         float *y) {
    (void)pool;
    for (int64_t p = 0; p < P; p++) {
        memcpy(y + p * (Ca + Cb), a + p * Ca, (size_t)Ca * 4);
        memcpy(y + p * (Ca + Cb) + Ca, b + p * Cb, (size_t)Cb * 4);
    }
}

static const sdc_kernels k_ref = {
    .name = "ref",
    .gemm = sdc_ref_gemm,
    .conv2d = sdc_ref_conv2d,
    .attention = sdc_ref_attention,
    .group_norm = sdc_ref_group_norm,
    .layer_norm = sdc_ref_layer_norm,
    .softmax = sdc_ref_softmax,
    .activation = sdc_ref_activation,
    .geglu = sdc_ref_geglu,
    .add = sdc_ref_add,
    .mul = sdc_ref_mul,
    .upsample_nearest = sdc_ref_upsample_nearest,
    .concat_rows = sdc_ref_concat_rows,
};

const sdc_kernels *sdc_kernels_ref(void) { return &k_ref; }

void sdc_timestep_embedding(int64_t B, const float *t, int64_t dim, int flip_sin_to_cos, float shift,
                            float *emb) {
    /* float32 arithmetic in the same order as diffusers, so the embedding
     * matches it to the last bit or two */
    int64_t half = dim / 2;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < half; i++) {
            float expo = -9.21034049987792969f * (float)i; /* -ln(10000) as f32 */
            expo = expo / ((float)half - shift);
            float arg = t[b] * expf(expo);
            float s = sinf(arg), c = cosf(arg);
            emb[b * dim + i] = flip_sin_to_cos ? c : s;
            emb[b * dim + half + i] = flip_sin_to_cos ? s : c;
        }
    }
}
