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
 * matrix are all a pass touches, so a narrow tile's working set stays in a core's cache.
 *
 * Threads form teams of `crew` members. Teams are independent: each takes every stride-th tile
 * (no synchronisation between iterations). The members of a team share its tile: each computes
 * the rows of its whole chunks (CHUNK_ROWS rows), and they meet at a barrier once an iteration
 * (twice when the exact change is needed), so that only one tile's iterate is in the cache at
 * a time. Each chunk's float64 partial sums are kept apart and added in chunk order, and within
 * a row the summation order is the stored-entry order, so a vector's result does not depend on
 * b, T, the number of threads or the crew. An AVX2+FMA clone of each tile loop is picked at run
 * time where the CPU has it. The GIL is released while solving.
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
#define CHUNK_ROWS 1024 /* rows whose float64 partial sums are kept apart (a multiple of ROW_BLOCK) */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

/* The threads of one tile: each solves its rows [lo, hi), whole chunks of CHUNK_ROWS rows, and
 * keeps each chunk's partial sums apart; every member then adds the chunks in order, so the sums
 * (and the results) are the same whatever the number of members. */
typedef struct {
    pthread_barrier_t *barrier; /* NULL for a crew of one */
    double *part;               /* [2 iteration parities][3: sums, changes, exact changes][chunks][T] */
    Py_ssize_t chunks, lo, hi;
} Crew;

static void crew_wait(const Crew *c) {
    if (c->barrier != NULL) pthread_barrier_wait(c->barrier);
}

/* The chunk sums of one kind for iteration it: a member may run one iteration ahead of another
 * (never two: each iteration ends at a barrier), so consecutive iterations use separate halves. */
static double *crew_part(const Crew *c, int it, int kind, int T) {
    return c->part + (size_t)((it & 1) * 3 + kind) * (size_t)c->chunks * (size_t)T;
}

static void crew_total(const Crew *c, const double *part, int T, double *out) {
    for (int k = 0; k < T; k++) out[k] = 0.0;
    for (Py_ssize_t ch = 0; ch < c->chunks; ch++)
        for (int k = 0; k < T; k++) out[k] += part[ch * T + k];
}

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

/* A team solves every stride-th tile, from its first; its members split each tile's rows. */
typedef struct {
    const Problem *p;
    const double *r;     /* [b, n] row-major, unnormalized */
    const double *scale; /* [b]: 1 / sum of each row of r */
    char *out;           /* [b, n] row-major */
    Py_ssize_t b, chunks;
    int tile, first, stride, is_double, size;
    int *iters;          /* [b] */
    double *errs;        /* [b] */
    char *mem;           /* the tile's reset, iterate and next iterate, bytes each */
    size_t bytes, total;
    double *part;        /* Crew.part */
    pthread_barrier_t barrier; /* initialized when has_barrier */
    int has_barrier;
    int status;          /* 0 converged, -1 not converged */
} Team;

typedef struct {
    Team *team;
    int rank;
} Member;

/* Rows of member `rank` of `size`: whole chunks, split so that each member has about the same
 * number of stored entries plus rows. */
static Py_ssize_t member_start(const Problem *p, Py_ssize_t chunks, int rank, int size) {
    if (rank == 0) return 0;
    if (rank == size) return p->n;
    const double total = (double)(p->indptr[p->n] + p->n), want = total * rank / size;
    for (Py_ssize_t c = 1; c < chunks; c++) {
        const Py_ssize_t row = c * CHUNK_ROWS;
        if ((double)(p->indptr[row] + row) >= want) return row;
    }
    return p->n;
}

static void run_member(const Member *m) {
    Team *job = m->team;
    const Problem *p = job->p;
    const Py_ssize_t n = p->n, T = job->tile;
    Crew crew = {job->size > 1 ? &job->barrier : NULL, job->part, job->chunks,
                 member_start(p, job->chunks, m->rank, job->size), member_start(p, job->chunks, m->rank + 1, job->size)};
    char *rt = job->mem, *x = job->mem + job->bytes, *y = job->mem + 2 * job->bytes;
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
            outs[k] = k < w ? job->out + (size_t)(c0 + k) * n * (job->is_double ? 8 : 4) : NULL;
        }
        /* node-major: row i of the tile holds node i of its T columns, normalized */
        for (Py_ssize_t i = crew.lo; i < crew.hi; i++) {
            if (job->is_double)
                for (Py_ssize_t k = 0; k < T; k++) ((double *)rt)[i * T + k] = src[k][i] * scale[k];
            else
                for (Py_ssize_t k = 0; k < T; k++) ((float *)rt)[i * T + k] = (float)(src[k][i] * scale[k]);
        }
        const int st = job->is_double
                           ? solve_tile_f64(p, &crew, (const double *)rt, (double *)x, (double *)y,
                                            (double *const *)outs, w, (int)T, iters, errs)
                           : solve_tile_f32(p, &crew, (const float *)rt, (float *)x, (float *)y,
                                            (float *const *)outs, w, (int)T, iters, errs);
        if (m->rank == 0) {
            for (Py_ssize_t k = 0; k < w; k++) {
                job->iters[c0 + k] = iters[k];
                job->errs[c0 + k] = errs[k];
            }
            if (st != 0) job->status = st;
        }
    }
}

/* Threads wait at the gate until every thread has been created, then run; if one could not be,
 * they leave and the calling thread solves everything alone. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 waiting, 1 run, -1 leave */
} Gate;

typedef struct {
    Member member;
    Gate *gate;
} Worker;

static void *run_worker(void *arg) {
    Worker *wk = arg;
    pthread_mutex_lock(&wk->gate->mu);
    while (wk->gate->state == 0) pthread_cond_wait(&wk->gate->cv, &wk->gate->mu);
    const int state = wk->gate->state;
    pthread_mutex_unlock(&wk->gate->mu);
    if (state > 0) run_member(&wk->member);
    return NULL;
}

static int team_alloc(Team *job) {
    const size_t huge = (size_t)1 << 21, es = job->is_double ? sizeof(double) : sizeof(float);
    job->bytes = ((size_t)job->p->n * (size_t)job->tile * es + 63) / 64 * 64;
    job->total = (3 * job->bytes + huge - 1) / huge * huge;
    job->mem = aligned_alloc(huge, job->total);
    job->part = calloc((size_t)6 * (size_t)job->chunks * (size_t)job->tile, sizeof(double));
    if (job->mem == NULL || job->part == NULL) return -1;
#ifdef MADV_HUGEPAGE
    madvise(job->mem, job->total, MADV_HUGEPAGE); /* random gathers over megabytes: fewer TLB misses (advice only) */
#endif
    return 0;
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
    int tile, threads, crew, is_double;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*nnddiiiip", &indptr, &indices, &data, &dangling, &r, &scale, &out,
                          &p.n, &b, &p.damping, &p.limit, &p.max_iter, &tile, &threads, &crew, &is_double))
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
        crew < 1 || p.max_iter < 1) {
        PyErr_SetString(PyExc_ValueError,
                        "solve: tile must be 1, 4, 8, 16, 32 or 64; threads, crew and max_iter >= 1");
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
    const Py_ssize_t tiles = (b + tile - 1) / tile, chunks = (p.n + CHUNK_ROWS - 1) / CHUNK_ROWS;
    int size = crew < threads ? crew : threads, teams = threads / size;
    if (teams > tiles) teams = (int)tiles;
    if (teams > MAX_THREADS) teams = MAX_THREADS;
    if (size > MAX_THREADS / teams) size = MAX_THREADS / teams;
    Team jobs[MAX_THREADS];
    Worker workers[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int n_started = 0, failed = 0;
    for (int g = 0; g < teams; g++) {
        jobs[g] = (Team){&p, r.buf, scale.buf, out.buf, b, chunks, tile, g, teams, is_double, size, iters, errs,
                         NULL, 0, 0, NULL, {{0}}, 0, 0};
        if (team_alloc(&jobs[g]) < 0) failed = 1;
    }
    if (failed) {
        for (int g = 0; g < teams; g++) {
            free(jobs[g].mem);
            free(jobs[g].part);
        }
        PyErr_NoMemory();
        goto done;
    }
    Gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    Py_BEGIN_ALLOW_THREADS
    for (int g = 0; g < teams && !failed; g++) {
        if (size > 1) {
            jobs[g].has_barrier = pthread_barrier_init(&jobs[g].barrier, NULL, (unsigned)size) == 0;
            if (!jobs[g].has_barrier) jobs[g].size = 1; /* no barrier to be had: this team's tiles by one thread */
        }
        for (int k = 0; k < jobs[g].size && !failed; k++) {
            if (g == 0 && k == 0) continue; /* the calling thread */
            workers[n_started] = (Worker){{&jobs[g], k}, &gate};
            if (pthread_create(&ids[n_started], NULL, run_worker, &workers[n_started]) != 0)
                failed = 1;
            else
                n_started++;
        }
    }
    pthread_mutex_lock(&gate.mu);
    gate.state = failed ? -1 : 1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    if (!failed) {
        const Member lead = {&jobs[0], 0};
        run_member(&lead);
    }
    for (int t = 0; t < n_started; t++) pthread_join(ids[t], NULL);
    if (failed) { /* not every thread could be created: one thread solves every tile */
        Team *all = &jobs[0];
        all->first = 0;
        all->stride = 1;
        all->size = 1;
        all->status = 0;
        const Member lead = {all, 0};
        run_member(&lead);
    }
    Py_END_ALLOW_THREADS
    int status = 0, most = 0;
    double worst = 0.0;
    for (int g = 0; g < teams; g++) {
        if (jobs[g].status < status) status = jobs[g].status;
        if (jobs[g].has_barrier) pthread_barrier_destroy(&jobs[g].barrier);
        free(jobs[g].mem);
        free(jobs[g].part);
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
     "solve(indptr, indices, data, dangling, r, scale, out, n, b, damping, limit, max_iter, tile, threads, crew, "
     "is_double) -> (converged, iterations, worst_change): personalized PageRank of the b rows of r ([b, n] "
     "float64, row k normalized by scale[k]) into out ([b, n]); int64 indptr, int32 indices, int64 dangling node "
     "ids, float64 or float32 data and out"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_spmm", "Batched personalized PageRank.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__spmm(void) { return PyModule_Create(&module); }
