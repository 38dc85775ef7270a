/* Batched personalized PageRank by power iteration (agentmem.kernels.ppr), float32 or float64.
 *
 * With P^T in CSR (int64 indptr, int32 indices, data), the dangling nodes (no out-edges) listed
 * by index and b normalized personalization vectors r_k, solve() iterates for every k
 *
 *     m         = sum_{i dangling} x[i]
 *     new[i]    = d * (sum_{j in row i} data[j] * x[indices[j]] + m * r[i]) + (1 - d) * r[i]
 *     x        <- new / sum(new)
 *
 * from x = r until the L1 change is below `limit` (the reference's stopping rule, tested per
 * vector), and writes each vector's normalized scores at the iteration it stops.
 *
 * The b vectors are solved in tiles of T columns (_spmm_tile.h): a tile is stored node-major
 * so that each stored entry reads T contiguous values, and the tile's iterate, reset and the
 * matrix are all a pass touches, so a narrow tile's working set stays in a core's cache. Tiles
 * are independent: with two threads each takes every other tile (no synchronisation between
 * iterations). The summation order is the stored-entry order for every tile width, so a
 * vector's result does not depend on b or T. An AVX2+FMA clone of each tile loop is picked at
 * run time where the CPU has it. The GIL is released while solving.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MAX_TILE 64
#define MAX_THREADS 64
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 16 /* stored entries: the gathers are latency-bound once x outgrows L2 */
#endif
#define ROW_BLOCK 16 /* rows whose column sums are added in the storage type before a float64 total */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

typedef struct {
    const int64_t *indptr;
    const int32_t *indices;
    const void *data;
    const int64_t *dangling;
    Py_ssize_t n, n_dangling;
    double damping, limit;
    int max_iter;
} Problem;

#define F float
#define FINT int32_t
#define FABS fabsf
#define SUFFIX f32
#include "_spmm_tile.h"
#undef F
#undef FINT
#undef FABS
#undef SUFFIX

#define F double
#define FINT int64_t
#define FABS fabs
#define SUFFIX f64
#include "_spmm_tile.h"
#undef F
#undef FINT
#undef FABS
#undef SUFFIX

typedef struct {
    const Problem *p;
    const double *r;     /* [b, n] row-major, unnormalized */
    const double *scale; /* [b]: 1 / sum of each row of r */
    char *out;     /* [b, n] row-major */
    Py_ssize_t b;
    int tile, first, stride, is_double;
    int *iters;    /* [b] */
    double *errs;  /* [b] */
    int status;    /* 0 converged, -1 not converged, -2 out of memory */
} Job;

static void *run_job(void *arg) {
    Job *job = arg;
    const Problem *p = job->p;
    const Py_ssize_t n = p->n, T = job->tile;
    const size_t es = job->is_double ? sizeof(double) : sizeof(float);
    const size_t huge = (size_t)1 << 21, bytes = ((size_t)n * T * es + 63) / 64 * 64;
    const size_t total = (3 * bytes + huge - 1) / huge * huge;
    char *mem = aligned_alloc(huge, total);
    job->status = 0;
    if (mem == NULL) {
        job->status = -2;
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    madvise(mem, total, MADV_HUGEPAGE); /* random gathers over megabytes: fewer TLB misses (advice only) */
#endif
    char *rt = mem, *x = mem + bytes, *y = mem + 2 * bytes;
    const Py_ssize_t tiles = (job->b + T - 1) / T;
    for (Py_ssize_t t = job->first; t < tiles; t += job->stride) {
        const Py_ssize_t c0 = t * T, w = job->b - c0 < T ? job->b - c0 : T;
        void *outs[MAX_TILE];
        int iters[MAX_TILE];
        double errs[MAX_TILE];
        const double *src[MAX_TILE];
        double scale[MAX_TILE];
        for (Py_ssize_t k = 0; k < T; k++) {
            const Py_ssize_t col = c0 + (k < w ? k : w - 1); /* padding repeats the last column */
            src[k] = job->r + (size_t)col * n;
            scale[k] = job->scale[col];
            outs[k] = k < w ? job->out + (size_t)(c0 + k) * n * es : NULL;
        }
        /* node-major: row i of the tile holds node i of its T columns, normalized */
        for (Py_ssize_t i = 0; i < n; i++) {
            if (job->is_double)
                for (Py_ssize_t k = 0; k < T; k++) ((double *)rt)[i * T + k] = src[k][i] * scale[k];
            else
                for (Py_ssize_t k = 0; k < T; k++) ((float *)rt)[i * T + k] = (float)(src[k][i] * scale[k]);
        }
        const int st = job->is_double
                           ? solve_tile_f64(p, (const double *)rt, (double *)x, (double *)y, (double *const *)outs,
                                            w, (int)T, iters, errs)
                           : solve_tile_f32(p, (const float *)rt, (float *)x, (float *)y, (float *const *)outs, w,
                                            (int)T, iters, errs);
        for (Py_ssize_t k = 0; k < w; k++) {
            job->iters[c0 + k] = iters[k];
            job->errs[c0 + k] = errs[k];
        }
        if (st != 0) job->status = st;
    }
    free(mem);
    return NULL;
}

static int check_graph(const Problem *p, Py_ssize_t nnz) {
    const int64_t *ip = p->indptr;
    if (ip[0] != 0 || ip[p->n] != nnz) {
        PyErr_SetString(PyExc_ValueError, "solve: indptr does not span the stored entries");
        return -1;
    }
    for (Py_ssize_t i = 0; i < p->n; i++) {
        if (ip[i + 1] < ip[i]) {
            PyErr_SetString(PyExc_ValueError, "solve: indptr is not non-decreasing");
            return -1;
        }
    }
    for (Py_ssize_t j = 0; j < nnz; j++) {
        if (p->indices[j] < 0 || p->indices[j] >= p->n) {
            PyErr_SetString(PyExc_ValueError, "solve: a column index is out of range");
            return -1;
        }
    }
    for (Py_ssize_t j = 0; j < p->n_dangling; j++) {
        if (p->dangling[j] < 0 || p->dangling[j] >= p->n) {
            PyErr_SetString(PyExc_ValueError, "solve: a dangling node is out of range");
            return -1;
        }
    }
    return 0;
}

static PyObject *solve(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer indptr, indices, data, dangling, r, scale, out;
    Problem p;
    Py_ssize_t b;
    int tile, threads, is_double;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*nnddiiip", &indptr, &indices, &data, &dangling, &r, &scale, &out, &p.n,
                          &b, &p.damping, &p.limit, &p.max_iter, &tile, &threads, &is_double))
        return NULL;
    PyObject *result = NULL;
    int *iters = NULL;
    double *errs = NULL;
    const Py_ssize_t es = is_double ? 8 : 4, nnz = indices.len / 4;
    if (p.n < 1 || b < 1 || indptr.len != (p.n + 1) * 8 || indices.len % 4 || data.len != nnz * es ||
        dangling.len % 8 || r.len != p.n * b * 8 || scale.len != b * 8 || out.len != p.n * b * es) {
        PyErr_SetString(PyExc_ValueError, "solve: buffer sizes disagree with n, b and the dtype");
        goto done;
    }
    if (!(tile == 1 || tile == 4 || tile == 8 || tile == 16 || tile == 32 || tile == 64) || threads < 1 ||
        p.max_iter < 1) {
        PyErr_SetString(PyExc_ValueError, "solve: tile must be 1, 4, 8, 16, 32 or 64; threads and max_iter >= 1");
        goto done;
    }
    p.indptr = indptr.buf;
    p.indices = indices.buf;
    p.data = data.buf;
    p.dangling = dangling.buf;
    p.n_dangling = dangling.len / 8;
    if (check_graph(&p, nnz) < 0) goto done;
    iters = calloc((size_t)b, sizeof(int));
    errs = calloc((size_t)b, sizeof(double));
    if (iters == NULL || errs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const Py_ssize_t tiles = (b + tile - 1) / tile;
    const int nth = (int)(tiles < threads ? tiles : (threads < MAX_THREADS ? threads : MAX_THREADS));
    Job jobs[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS];
    Py_BEGIN_ALLOW_THREADS
    for (int t = 0; t < nth; t++) {
        jobs[t] = (Job){&p, r.buf, scale.buf, out.buf, b, tile, t, nth, is_double, iters, errs, 0};
        started[t] = t > 0 && pthread_create(&ids[t], NULL, run_job, &jobs[t]) == 0;
    }
    run_job(&jobs[0]);
    for (int t = 1; t < nth; t++) {
        if (started[t])
            pthread_join(ids[t], NULL);
        else
            run_job(&jobs[t]); /* no thread to be had: this one does the work */
    }
    Py_END_ALLOW_THREADS
    int status = 0, most = 0;
    double worst = 0.0;
    for (int t = 0; t < nth; t++)
        if (jobs[t].status < status) status = jobs[t].status;
    if (status == -2) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < b; k++) {
        if (iters[k] > most) most = iters[k];
        if (errs[k] > worst) worst = errs[k];
    }
    result = Py_BuildValue("Oid", status == 0 ? Py_True : Py_False, most, worst);
done:
    free(iters);
    free(errs);
    PyBuffer_Release(&indptr);
    PyBuffer_Release(&indices);
    PyBuffer_Release(&data);
    PyBuffer_Release(&dangling);
    PyBuffer_Release(&r);
    PyBuffer_Release(&scale);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"solve", solve, METH_VARARGS,
     "solve(indptr, indices, data, dangling, r, scale, out, n, b, damping, limit, max_iter, tile, threads, "
     "is_double) -> (converged, iterations, worst_change): personalized PageRank of the b rows of r ([b, n] "
     "float64, row k normalized by scale[k]) into out ([b, n]); int64 indptr, int32 indices, int64 dangling node "
     "ids, float64 or float32 data and out"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_spmm", "Batched personalized PageRank.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__spmm(void) { return PyModule_Create(&module); }
