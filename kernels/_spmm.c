/* One power-iteration step of batched personalized PageRank (agentmem.kernels.ppr), float64.
 *
 * With P^T in CSR (indptr, indices, data), b personalization vectors side by side in the
 * row-major [n, b] arrays x (current scores) and r (normalized resets), and `dangling` a byte
 * per node (1: no out-edges), step() computes
 *
 *     m[k]      = sum_{i dangling} x[i, k]
 *     new[i, k] = d * (sum_{j in row i} data[j] * x[indices[j], k] + m[k] * r[i, k]) + (1 - d) * r[i, k]
 *
 * then divides each column of new by its sum and returns err[k] = sum_i |new[i, k] - x[i, k]|.
 * Each stored entry reads one contiguous row of x (b doubles), so b vectors cost little more
 * memory traffic than one; the arithmetic around the product is fused into two passes over
 * [n, b] instead of numpy's many temporaries. Columns are summed in blocks of at most BLOCK
 * so that the accumulators stay in registers. Summation order is fixed (stored-entry order),
 * so a column's result does not depend on b. The compiler vectorises the loops (an AVX2+FMA
 * clone is picked at run time where the CPU has it).
 *
 * The GIL is released during each call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define BLOCK 32

#if defined(__x86_64__) && defined(__GNUC__)
#define CLONES __attribute__((target_clones("avx2,fma", "default")))
#else
#define CLONES
#endif

CLONES static void step_rows(const int64_t *restrict indptr, const int64_t *restrict indices,
                             const double *restrict data, const uint8_t *restrict dangling,
                             const double *restrict x, const double *restrict r, double damping,
                             double *restrict out, double *restrict err, double *restrict mass,
                             double *restrict sum, Py_ssize_t n, Py_ssize_t b) {
    for (Py_ssize_t k = 0; k < b; k++) mass[k] = sum[k] = err[k] = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!dangling[i]) continue;
        for (Py_ssize_t k = 0; k < b; k++) mass[k] += x[i * b + k];
    }
    for (Py_ssize_t c0 = 0; c0 < b; c0 += BLOCK) {
        const Py_ssize_t w = b - c0 < BLOCK ? b - c0 : BLOCK;
        for (Py_ssize_t i = 0; i < n; i++) {
            double acc[BLOCK];
            for (Py_ssize_t k = 0; k < w; k++) acc[k] = 0.0;
            for (int64_t j = indptr[i]; j < indptr[i + 1]; j++) {
                const double v = data[j];
                const double *restrict row = x + indices[j] * b + c0;
                for (Py_ssize_t k = 0; k < w; k++) acc[k] += v * row[k];
            }
            const double *restrict ri = r + i * b + c0;
            double *restrict oi = out + i * b + c0;
            for (Py_ssize_t k = 0; k < w; k++) {
                const double val = damping * (acc[k] + mass[c0 + k] * ri[k]) + (1.0 - damping) * ri[k];
                oi[k] = val;
                sum[c0 + k] += val;
            }
        }
    }
    for (Py_ssize_t k = 0; k < b; k++) sum[k] = 1.0 / sum[k];
    for (Py_ssize_t i = 0; i < n; i++) {
        for (Py_ssize_t k = 0; k < b; k++) {
            const double val = out[i * b + k] * sum[k];
            out[i * b + k] = val;
            err[k] += fabs(val - x[i * b + k]);
        }
    }
}

static PyObject *step(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer indptr, indices, data, dangling, x, r, out, err;
    double damping;
    Py_ssize_t n, b;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*dw*w*nn", &indptr, &indices, &data, &dangling, &x, &r, &damping,
                          &out, &err, &n, &b))
        return NULL;
    PyObject *result = NULL;
    double *scratch = NULL;
    const Py_ssize_t cells = n * b * 8;
    if (n < 1 || b < 1 || indptr.len != (n + 1) * 8 || indices.len % 8 || data.len != indices.len ||
        dangling.len != n || x.len != cells || r.len != cells || out.len != cells || err.len != b * 8) {
        PyErr_SetString(PyExc_ValueError, "step: buffer sizes disagree with n and b");
        goto done;
    }
    const int64_t *ip = indptr.buf, *ix = indices.buf;
    const Py_ssize_t nnz = indices.len / 8;
    if (ip[0] != 0 || ip[n] != nnz) {
        PyErr_SetString(PyExc_ValueError, "step: indptr does not span the stored entries");
        goto done;
    }
    for (Py_ssize_t j = 0; j < nnz; j++) {
        if (ix[j] < 0 || ix[j] >= n) {
            PyErr_SetString(PyExc_ValueError, "step: a column index is out of range");
            goto done;
        }
    }
    scratch = malloc((size_t)(2 * b) * sizeof(double));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    step_rows(ip, ix, data.buf, dangling.buf, x.buf, r.buf, damping, out.buf, err.buf, scratch, scratch + b, n, b);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    free(scratch);
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&data);
    PyBuffer_Release(&dangling);
    PyBuffer_Release(&x);
    PyBuffer_Release(&r);
    PyBuffer_Release(&out);
    PyBuffer_Release(&err);
    return result;
}

static PyMethodDef methods[] = {
    {"step", step, METH_VARARGS,
     "step(indptr, indices, data, dangling, x, r, damping, out, err, n, b): one normalized power-iteration "
     "step of b personalized PageRank vectors (int64 CSR of P^T, uint8 dangling, float64 row-major [n, b])"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_spmm", "Batched personalized PageRank steps.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__spmm(void) { return PyModule_Create(&module); }
