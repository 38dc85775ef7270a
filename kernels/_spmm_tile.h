/* The power iteration of one tile of personalized PageRank columns, included by _spmm.c once per
 * storage type: F is the element type (float or double), SUFFIX names the instance.
 *
 * A tile holds W <= T columns node-major, x[i * T + k], so the T values a stored entry reads
 * are contiguous (T floats or doubles: one or a few cache lines). The iterate is kept
 * unnormalized: x holds y_t and the true iterate is y_t * inv[k] with inv[k] = 1 / sum_i y_t[i, k],
 * so one pass per iteration computes the product, the reset term, the column sums and the L1
 * change. The change against the normalized new iterate, sum_i |y_{t+1}[i] / s - x_t[i]|, differs
 * from the computed sum_i |y_{t+1}[i] - x_t[i]| by at most |1 - s| (the y are non-negative and sum
 * to s); only when the tolerance falls inside that band is the exact sum taken (a second pass).
 * A column is written out, normalized, at the first iteration its change is below the limit, as
 * the single-vector reference stops there; the tile iterates until all its columns have.
 *
 * A crew's members run this together on rows [crew->lo, crew->hi) each: every member reads the
 * whole iterate x (the gathers) but writes only its rows of y and of the output, and takes every
 * decision from the same chunk sums, so all members stop at the same iteration.
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define TILE_FN CAT(tile_body_, SUFFIX)
#define VEC CAT(vec_, SUFFIX)
#define LANES ((int)(32 / sizeof(F)))
#define IVEC CAT(ivec_, SUFFIX)
typedef F VEC __attribute__((vector_size(32)));
typedef FINT IVEC __attribute__((vector_size(32)));
#define ABS_MASK ((IVEC){0} + (FINT)(~(uint64_t)0 >> (65 - 8 * sizeof(F)))) /* all bits but the sign */

static inline __attribute__((always_inline)) int TILE_FN(const Problem *p, const Crew *crew, const F *restrict rt,
                                                         F *restrict x, F *restrict y, F *const *outs, Py_ssize_t w,
                                                         const int T, int *iters, double *errs) {
    const Py_ssize_t n = p->n, lo = crew->lo, hi = crew->hi;
    const int64_t *restrict indptr = p->indptr;
    const int32_t *restrict indices = p->indices;
    const F *restrict data = (const F *)p->data;
    const double d = p->damping;
    const int64_t nnz = indptr[n];
    double inv[MAX_TILE], mass[MAX_TILE], sum[MAX_TILE], err[MAX_TILE];
    F ds[MAX_TILE], cr[MAX_TILE], finv[MAX_TILE], psum[MAX_TILE], perr[MAX_TILE];
    int done[MAX_TILE];
    Py_ssize_t left = w;
    for (int k = 0; k < T; k++) {
        inv[k] = 1.0;
        done[k] = k >= w; /* padding columns (copies of the last real one) are never written out */
        errs[k] = INFINITY;
    }
    memcpy(x + lo * T, rt + lo * T, (size_t)(hi - lo) * T * sizeof(F));
    crew_wait(crew);
    for (int it = 1; it <= p->max_iter; it++) {
        double *chunk_sum = crew_part(crew, it, 0, T), *chunk_err = crew_part(crew, it, 1, T);
        for (int k = 0; k < T; k++) mass[k] = sum[k] = err[k] = 0.0;
        for (Py_ssize_t j = 0; j < p->n_dangling; j++) {
            const F *restrict xi = x + p->dangling[j] * T;
            for (int k = 0; k < T; k++) mass[k] += xi[k];
        }
        for (int k = 0; k < T; k++) {
            ds[k] = (F)(d * inv[k]);
            cr[k] = (F)(d * mass[k] * inv[k] + (1.0 - d));
            finv[k] = (F)inv[k];
            psum[k] = perr[k] = 0;
        }
        VEC vds[MAX_TILE / LANES], vcr[MAX_TILE / LANES], vinv[MAX_TILE / LANES];
        VEC vsum[MAX_TILE / LANES], vchg[MAX_TILE / LANES];
        if (T >= LANES) {
            memcpy(vds, ds, (size_t)T * sizeof(F));
            memcpy(vcr, cr, (size_t)T * sizeof(F));
            memcpy(vinv, finv, (size_t)T * sizeof(F));
            for (int q = 0; q < T / LANES; q++) vsum[q] = vchg[q] = (VEC){0};
        }
        for (Py_ssize_t i = lo; i < hi; i++) {
            F acc[MAX_TILE];
            VEC va[MAX_TILE / LANES];
            if (T >= LANES) { /* explicit 32-byte vectors: T / LANES registers of accumulators */
                for (int q = 0; q < T / LANES; q++) va[q] = (VEC){0};
                for (int64_t j = indptr[i]; j < indptr[i + 1]; j++) {
                    if (j + PREFETCH_AHEAD < nnz) {
                        const char *ahead = (const char *)(x + (Py_ssize_t)indices[j + PREFETCH_AHEAD] * T);
                        for (size_t line = 0; line < T * sizeof(F); line += 64) __builtin_prefetch(ahead + line);
                    }
                    const VEC v = (VEC){0} + data[j];
                    const F *restrict row = x + (Py_ssize_t)indices[j] * T;
                    for (int q = 0; q < T / LANES; q++) {
                        VEC part;
                        memcpy(&part, row + q * LANES, sizeof part);
                        va[q] += v * part;
                    }
                }
            } else {
                for (int k = 0; k < T; k++) acc[k] = 0;
                for (int64_t j = indptr[i]; j < indptr[i + 1]; j++) {
                    const F v = data[j];
                    const F *restrict row = x + (Py_ssize_t)indices[j] * T;
                    for (int k = 0; k < T; k++) acc[k] += v * row[k];
                }
            }
            const F *restrict ri = rt + i * T;
            const F *restrict xi = x + i * T;
            F *restrict yi = y + i * T;
            if (T >= LANES) {
                for (int q = 0; q < T / LANES; q++) {
                    VEC rq, xq;
                    memcpy(&rq, ri + q * LANES, sizeof rq);
                    memcpy(&xq, xi + q * LANES, sizeof xq);
                    const VEC val = vds[q] * va[q] + vcr[q] * rq;
                    memcpy(yi + q * LANES, &val, sizeof val);
                    vsum[q] += val;
                    vchg[q] += (VEC)((IVEC)(val - xq * vinv[q]) & ABS_MASK);
                }
            } else {
                for (int k = 0; k < T; k++) {
                    const F val = ds[k] * acc[k] + cr[k] * ri[k];
                    yi[k] = val;
                    psum[k] += val;
                    perr[k] += FABS(val - xi[k] * finv[k]);
                }
            }
            if ((i & (ROW_BLOCK - 1)) == ROW_BLOCK - 1 || i == n - 1) {
                if (T >= LANES) {
                    memcpy(psum, vsum, (size_t)T * sizeof(F));
                    memcpy(perr, vchg, (size_t)T * sizeof(F));
                    for (int q = 0; q < T / LANES; q++) vsum[q] = vchg[q] = (VEC){0};
                }
                for (int k = 0; k < T; k++) {
                    sum[k] += (double)psum[k];
                    err[k] += (double)perr[k];
                    psum[k] = perr[k] = 0;
                }
                if (i % CHUNK_ROWS == CHUNK_ROWS - 1 || i == hi - 1) { /* the chunk's partial sums */
                    const Py_ssize_t at = i / CHUNK_ROWS * T;
                    for (int k = 0; k < T; k++) {
                        chunk_sum[at + k] = sum[k];
                        chunk_err[at + k] = err[k];
                        sum[k] = err[k] = 0.0;
                    }
                }
            }
        }
        crew_wait(crew); /* every chunk summed, every row of y written */
        crew_total(crew, chunk_sum, T, sum);
        crew_total(crew, chunk_err, T, err);
        int undecided[MAX_TILE], n_undecided = 0;
        for (int k = 0; k < T; k++) {
            const double band = fabs(1.0 - sum[k]);
            if (!done[k] && err[k] - band < p->limit && err[k] + band >= p->limit) undecided[n_undecided++] = k;
        }
        if (n_undecided) { /* the change against the normalized new iterate, taken exactly */
            double *chunk_exact = crew_part(crew, it, 2, T), exact[MAX_TILE];
            for (Py_ssize_t c = lo / CHUNK_ROWS; lo < hi && c * CHUNK_ROWS < hi; c++) /* its own chunks */
                for (int u = 0; u < n_undecided; u++) {
                    const int k = undecided[u];
                    double e = 0.0;
                    const Py_ssize_t end = (c + 1) * CHUNK_ROWS < hi ? (c + 1) * CHUNK_ROWS : hi;
                    for (Py_ssize_t i = c * CHUNK_ROWS; i < end; i++)
                        e += fabs((double)y[i * T + k] / sum[k] - (double)x[i * T + k] * inv[k]);
                    chunk_exact[c * T + k] = e;
                }
            crew_wait(crew);
            crew_total(crew, chunk_exact, T, exact);
            for (int u = 0; u < n_undecided; u++) err[undecided[u]] = exact[undecided[u]];
        }
        int stop[MAX_TILE], n_stop = 0;
        double scale[MAX_TILE];
        for (int k = 0; k < T; k++) {
            if (done[k]) continue;
            const double s = sum[k], e = err[k];
            errs[k] = e;
            iters[k] = it;
            if (e < p->limit) {
                scale[n_stop] = 1.0 / s;
                stop[n_stop++] = k;
                done[k] = 1;
                left--;
            }
        }
        for (Py_ssize_t i = lo; n_stop && i < hi; i++) /* row by row: the converged columns written out */
            for (int c = 0; c < n_stop; c++) outs[stop[c]][i] = (F)((double)y[i * T + stop[c]] * scale[c]);
        if (left == 0) return 0;
        for (int k = 0; k < T; k++) inv[k] = 1.0 / sum[k];
        F *tmp = x;
        x = y;
        y = tmp;
    }
    return -1;
}

/* One clone per tile width, so that the loops over k have a constant trip count. */
#define TILE_WIDTH(TW)                                                                                    \
    CLONES static int CAT(CAT(solve_tile_, SUFFIX), TW)(const Problem *p, const Crew *crew, const F *rt, F *x,   \
                                                    F *y, F *const *outs, Py_ssize_t w, int *iters,      \
                                                    double *errs) {                                      \
        return TILE_FN(p, crew, rt, x, y, outs, w, TW, iters, errs);                                      \
    }
TILE_WIDTH(1)
TILE_WIDTH(4)
TILE_WIDTH(8)
TILE_WIDTH(16)
TILE_WIDTH(32)
TILE_WIDTH(64)

static int CAT(solve_tile_, SUFFIX)(const Problem *p, const Crew *crew, const F *rt, F *x, F *y, F *const *outs,
                                    Py_ssize_t w, int T, int *iters, double *errs) {
    switch (T) {
    case 1: return CAT(CAT(solve_tile_, SUFFIX), 1)(p, crew, rt, x, y, outs, w, iters, errs);
    case 4: return CAT(CAT(solve_tile_, SUFFIX), 4)(p, crew, rt, x, y, outs, w, iters, errs);
    case 8: return CAT(CAT(solve_tile_, SUFFIX), 8)(p, crew, rt, x, y, outs, w, iters, errs);
    case 16: return CAT(CAT(solve_tile_, SUFFIX), 16)(p, crew, rt, x, y, outs, w, iters, errs);
    case 32: return CAT(CAT(solve_tile_, SUFFIX), 32)(p, crew, rt, x, y, outs, w, iters, errs);
    default: return CAT(CAT(solve_tile_, SUFFIX), 64)(p, crew, rt, x, y, outs, w, iters, errs);
    }
}

#undef TILE_WIDTH
#undef TILE_FN
#undef VEC
#undef IVEC
#undef ABS_MASK
#undef LANES
