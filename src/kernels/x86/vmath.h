/* Vectorized exp, sigmoid-type activations and erf-GELU, written once over
 * the primitives of simd_avx512.h / simd_avx2.h (include one of those
 * first). Pure functions of their lanes; no state.
 *
 * Accuracy (measured against double-precision references over dense sweeps
 * by tests/unit/test_kernels_elt.c, see docs/KERNELS.md):
 *   vexp     ~1-2 ulp on [-87.3, 88]; exactly 0 below -87.34 (no subnormal
 *            results); saturates at exp(88) ~ 1.65e38 above 88 (callers use
 *            it for softmax (x <= 0) and 1 / (1 + exp(-y)), where that is
 *            harmless); NaN propagates.
 *   sigmoid forms (SiLU, tanh-GELU, quick-GELU): a few ulp.
 *   erf-GELU: relative error ~1e-7 for x > -1, growing to ~1e-6 in the far
 *            negative tail where GELU(x) itself is below 1e-4 |x|.
 *
 * exp: x = n ln2 + r with n = round(x / ln2), r by a two-constant Cody-Waite
 * reduction, e^r by a degree-6 polynomial (least-squares fit of the relative
 * error on [-ln2/2, ln2/2] in Chebyshev form, max 4.4e-9 in exact
 * arithmetic), then scaled by 2^n.
 * erfc(z), z >= 0: t = 1 / (1 + z/2), erfc(z) = t exp(-z^2 + R(t)) with R a
 * degree-11 polynomial fitted to ln(erfc(z) / t) + z^2 over z in [0, 10]
 * (abs error 1.5e-8 in exact arithmetic). GELU uses 1 + erf(z) = 2 - erfc(z)
 * for z >= 0 and erfc(-z) below, so no cancellation in the negative tail. */
#ifndef SDC_KERNELS_X86_VMATH_H
#define SDC_KERNELS_X86_VMATH_H

static inline vf vexp(vf x) {
    const vf lo = vset1(-87.33654f), hi = vset1(88.0f);
    vmask under = vlt(x, lo);
    vf xc = vmin(hi, vmax(lo, x)); /* operand order keeps NaN */
    vf n = vround(vmul(xc, vset1(1.44269504088896341f)));
    vf r = vfnmadd(n, vset1(0.693359375f), xc); /* ln2 = 0.693359375 - 2.12194440e-4 */
    r = vfnmadd(n, vset1(-2.12194440e-4f), r);
    vf p = vset1(1.382485032e-03f);
    p = vfmadd(p, r, vset1(8.371546865e-03f));
    p = vfmadd(p, r, vset1(4.166823626e-02f));
    p = vfmadd(p, r, vset1(1.666646004e-01f));
    p = vfmadd(p, r, vset1(4.999999404e-01f));
    p = vfmadd(p, r, vset1(1.0f));
    p = vfmadd(p, r, vset1(1.0f));
    return vselect(under, vzero(), vscale2(p, n));
}

/* x * sigmoid(k x) = x / (1 + exp(-k x)) */
static inline vf vx_sigmoid(vf x, vf kx) { return vdiv(x, vadd(vset1(1.0f), vexp(vsub(vzero(), kx)))); }

static inline vf vsilu(vf x) { return vx_sigmoid(x, x); }
static inline vf vquick_gelu(vf x) { return vx_sigmoid(x, vmul(vset1(1.702f), x)); }
/* 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3) */
static inline vf vgelu_tanh(vf x) {
    vf x2 = vmul(x, x);
    vf u = vmul(x, vfmadd(vset1(0.044715f), x2, vset1(1.0f)));
    return vx_sigmoid(x, vmul(vset1(2.0f * 0.7978845608028654f), u));
}

/* erfc(z) for z >= 0 */
static inline vf verfc_pos(vf z) {
    vf t = vdiv(vset1(1.0f), vfmadd(vset1(0.5f), z, vset1(1.0f)));
    vf p = vset1(-1.047777310e-01f);
    p = vfmadd(p, t, vset1(5.217540264e-01f));
    p = vfmadd(p, t, vset1(-8.884072304e-01f));
    p = vfmadd(p, t, vset1(2.516647279e-01f));
    p = vfmadd(p, t, vset1(1.030772209e+00f));
    p = vfmadd(p, t, vset1(-1.264093399e+00f));
    p = vfmadd(p, t, vset1(5.448435545e-01f));
    p = vfmadd(p, t, vset1(-3.341401219e-01f));
    p = vfmadd(p, t, vset1(1.404439062e-01f));
    p = vfmadd(p, t, vset1(3.668082952e-01f));
    p = vfmadd(p, t, vset1(1.000667453e+00f));
    p = vfmadd(p, t, vset1(-1.265535712e+00f));
    return vmul(t, vexp(vfnmadd(z, z, p))); /* t exp(R(t) - z^2), z^2 unrounded */
}

/* 0.5 x (1 + erf(x / sqrt 2)) */
static inline vf vgelu_erf(vf x) {
    vf z = vmul(x, vset1(0.7071067811865476f));
    vf e = verfc_pos(vabs(z));
    vf h = vselect(vlt(z, vzero()), e, vsub(vset1(2.0f), e));
    return vmul(vmul(vset1(0.5f), x), h);
}

#endif
