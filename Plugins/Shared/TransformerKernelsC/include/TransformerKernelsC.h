// The Float32 packed product of TransformerKernels (see MatMul.swift) in C, for two things Swift SIMD cannot say:
// a software prefetch of the weights multiplied next, and AVX-512 code chosen at run time. Everything around it
// (packing, threading, the row-wise operations) stays in Swift.
#ifndef TRANSFORMER_KERNELS_C_H
#define TRANSFORMER_KERNELS_C_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// y[r * outputs + o] = Σₖ x[r * inputs + k] · w[o][k] (+ bias[o] when bias is not NULL) for every row r < rows and
/// every output o of panels [first_panel, end_panel), the weights packed as PackedMatrix lays them out: panels of 16
/// outputs, panel p at panels + p * inputs * 16, column-major inside (panel[k * 16 + lane]), the last panel padded
/// with zeros. Every output is one chain of fused multiply-adds over k in order, starting from zero, then the bias
/// added: bitwise the same whatever `rows`, the row block an output's row falls in, the panel range and the code path
/// (AVX2 or AVX-512). While a panel is multiplied, the next one is fetched from memory, spread over the passes.
/// Requires AVX2 and FMA. Any thread; calls on disjoint outputs may run at once.
void tk_gemm_f32(const float *x, size_t rows, size_t inputs, const float *panels, size_t outputs, const float *bias,
                 float *y, size_t first_panel, size_t end_panel);

/// Whether tk_gemm_f32 uses its AVX-512 code (on a CPU with AVX-512F; the default) or only AVX2: `enable` 0 or 1;
/// returns whether AVX-512 is in use afterwards. The results are bitwise identical, so this exists for the test that
/// proves it and for measuring one path against the other. Any thread, between products.
int tk_use_avx512(int enable);

#ifdef __cplusplus
}
#endif

#endif
