/* The first-level scan of the bounded sketch over int8 codes (agentmem.kernels.scan).
 *
 * Row codes are stored as unsigned bytes, the signed code plus 128 (a signed code is in
 * [-127, 127]; padding is 128, a zero); query codes are int8 in [-64, 64]. For rows i < n, with
 * terms[i] = (scale_i, perp_i, rounding_i):
 *
 *     out[i] = qt[0] * scale_i * (q . (codes[i] - 128)) + qt[1] * perp_i + qt[2] * rounding_i
 *
 * The dot product is exact in int32 (|255 * 64| * 512 < 2^31; the AVX2 path's pairwise int16
 * sums stay below 2^15), computed as q . codes[i] - 128 * sum(q) so that one AVX2 instruction
 * multiplies 32 unsigned codes by 32 signed ones; the three float32 products and two sums are
 * rounded as any float32 arithmetic (the caller's bound allows for it). An AVX2 path (picked at
 * run time) and a portable one compute the same integer dot products, so their outputs are
 * identical.
 *
 * The GIL is released during each call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define SCAN_X86 1
#include <immintrin.h>
#endif

#define MAX_WIDTH 512
#define QUERY_MAX 64
#define CODE_ZERO 128 /* a row code is its signed value plus 128 */

static inline float combine(const float *qt, const float *t, int32_t dot) {
    return qt[0] * t[0] * (float)dot + qt[1] * t[1] + qt[2] * t[2];
}

/* bias = CODE_ZERO * sum(q): what the offset of the row codes adds to every dot product */
static int32_t bias_of(const int8_t *q, Py_ssize_t width) {
    int32_t s = 0;
    for (Py_ssize_t j = 0; j < width; j++) s += q[j];
    return CODE_ZERO * s;
}

static void scan_portable(const uint8_t *codes, const float *terms, const int8_t *q, int32_t bias, const float *qt,
                          float *out, Py_ssize_t n, Py_ssize_t width) {
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * width;
        int32_t dot = 0;
        for (Py_ssize_t j = 0; j < width; j++) dot += (int32_t)c[j] * (int32_t)q[j];
        out[i] = combine(qt, terms + 3 * i, dot - bias);
    }
}

#ifdef SCAN_X86
/* 32 codes a step: unsigned codes times signed query codes, adjacent pairs summed to int16
 * (|255 * 64 * 2| < 2^15: no saturation), then to int32 */
__attribute__((target("avx2"))) static inline __m256i row_dot(const uint8_t *c, const int8_t *q, Py_ssize_t width) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    for (Py_ssize_t j = 0; j < width; j += 32) {
        __m256i pairs = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(c + j)),
                                             _mm256_loadu_si256((const __m256i *)(q + j)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
    }
    return acc;
}

/* the eight int32 sums of each of a[0..7], in order */
__attribute__((target("avx2"))) static inline __m256i sums8(const __m256i *a) {
    __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
    __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[4], a[5]), _mm256_hadd_epi32(a[6], a[7]));
    /* h0 = [lo-lane sums of 0..3 | hi-lane sums of 0..3], h1 the same for 4..7 */
    return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
}

/* the columns of eight rows of [n, 3] float32 terms: blends put each column's values in one
 * vector, a permutation orders them */
__attribute__((target("avx2"))) static inline void columns8(const float *t, __m256 *s, __m256 *p, __m256 *r) {
    __m256 v0 = _mm256_loadu_ps(t), v1 = _mm256_loadu_ps(t + 8), v2 = _mm256_loadu_ps(t + 16);
    __m256 a = _mm256_blend_ps(_mm256_blend_ps(v0, v1, 0x92), v2, 0x24); /* s0 s3 s6 s1 s4 s7 s2 s5 */
    __m256 b = _mm256_blend_ps(_mm256_blend_ps(v0, v1, 0x24), v2, 0x49); /* p5 p0 p3 p6 p1 p4 p7 p2 */
    __m256 c = _mm256_blend_ps(_mm256_blend_ps(v0, v1, 0x49), v2, 0x92); /* r2 r5 r0 r3 r6 r1 r4 r7 */
    *s = _mm256_permutevar8x32_ps(a, _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5));
    *p = _mm256_permutevar8x32_ps(b, _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6));
    *r = _mm256_permutevar8x32_ps(c, _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7));
}

/* width is a multiple of 32: eight rows at a time, their sums reduced together and combined
 * with their terms in the scalar path's order of operations (so the outputs are identical) */
__attribute__((target("avx2"))) static void scan_avx2(const uint8_t *codes, const float *terms, const int8_t *q,
                                                      int32_t bias, const float *qt, float *out, Py_ssize_t n,
                                                      Py_ssize_t width) {
    const __m256 q0 = _mm256_set1_ps(qt[0]), q1 = _mm256_set1_ps(qt[1]), q2 = _mm256_set1_ps(qt[2]);
    const __m256i b = _mm256_set1_epi32(bias);
    Py_ssize_t i = 0;
    __m256i acc[8];
    for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; k++) acc[k] = row_dot(codes + (i + k) * width, q, width);
        __m256 dot = _mm256_cvtepi32_ps(_mm256_sub_epi32(sums8(acc), b)), sc, pe, ro;
        columns8(terms + 3 * i, &sc, &pe, &ro);
        __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(q0, sc), dot), _mm256_mul_ps(q1, pe));
        _mm256_storeu_ps(out + i, _mm256_add_ps(v, _mm256_mul_ps(q2, ro)));
    }
    if (i < n) scan_portable(codes + i * width, terms + 3 * i, q, bias, qt, out + i, n - i, width);
}
#endif

typedef void (*scan_fn)(const uint8_t *, const float *, const int8_t *, int32_t, const float *, float *,
                        Py_ssize_t, Py_ssize_t);

#define BLOCK 64

static float max_portable(const float *x, Py_ssize_t n) {
    float m = x[0];
    for (Py_ssize_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

#ifdef SCAN_X86
__attribute__((target("avx2"))) static float max_avx2(const float *x) { /* BLOCK values */
    __m256 a = _mm256_max_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8));
    __m256 b = _mm256_max_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24));
    __m256 c = _mm256_max_ps(_mm256_loadu_ps(x + 32), _mm256_loadu_ps(x + 40));
    __m256 d = _mm256_max_ps(_mm256_loadu_ps(x + 48), _mm256_loadu_ps(x + 56));
    __m256 m = _mm256_max_ps(_mm256_max_ps(a, b), _mm256_max_ps(c, d));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}
#endif

/* the largest of x[0, n), n >= 1 (NaN never, the bounds are finite) */
static float max_of(const float *x, Py_ssize_t n) {
#ifdef SCAN_X86
    if (n == BLOCK && __builtin_cpu_supports("avx2")) return max_avx2(x);
#endif
    return max_portable(x, n);
}

/* the scan a block of BLOCK rows at a time, each block's largest output noted while it is in
 * the L1 cache */
static void scan_blocks(scan_fn fn, const uint8_t *codes, const float *terms, const int8_t *q, const float *qt,
                        float *out, float *block_max, Py_ssize_t n, Py_ssize_t width) {
    int32_t bias = bias_of(q, width);
    for (Py_ssize_t b = 0; b < n; b += BLOCK) {
        Py_ssize_t e = b + BLOCK < n ? b + BLOCK : n;
        fn(codes + b * width, terms + 3 * b, q, bias, qt, out + b, e - b, width);
        block_max[b / BLOCK] = max_of(out + b, e - b);
    }
}

static int use_avx2(Py_ssize_t width) {
#ifdef SCAN_X86
    return width % 32 == 0 && __builtin_cpu_supports("avx2");
#else
    (void)width;
    return 0;
#endif
}

static PyObject *scan(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer codes, terms, q, qt, out;
    int portable = 0;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*|p", &codes, &terms, &q, &qt, &out, &portable)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t width = q.len, n = out.len / 4;
    if (out.len % 4 || qt.len != 12 || width < 1 || width > MAX_WIDTH) {
        PyErr_SetString(PyExc_ValueError, "scan: query codes must be int8 (1 to 512), qt 3 float32, out float32");
    } else if (codes.len != n * width || terms.len != n * 12) {
        PyErr_Format(PyExc_ValueError, "scan: %zd rows of width %zd need %zd code bytes and %zd term bytes, got %zd and %zd",
                     n, width, n * width, n * 12, codes.len, terms.len);
    } else {
        const uint8_t *c = codes.buf;
        const float *t = terms.buf, *f = qt.buf;
        const int8_t *qq = q.buf;
        float *o = out.buf;
        scan_fn fn = scan_portable;
#ifdef SCAN_X86
        if (!portable && use_avx2(width)) fn = scan_avx2;
#endif
        Py_BEGIN_ALLOW_THREADS
        fn(c, t, qq, bias_of(qq, width), f, o, n, width);
        Py_END_ALLOW_THREADS
        Py_INCREF(Py_None);
        result = Py_None;
    }
    PyBuffer_Release(&codes);
    PyBuffer_Release(&terms);
    PyBuffer_Release(&q);
    PyBuffer_Release(&qt);
    PyBuffer_Release(&out);
    return result;
}

/* out[j] = mat[rows[j]] . q for float32 rows of width d: the exact rescoring of the rows the
 * bounds keep, without numpy's gathered copy (the rows come from memory, a few lines ahead) */
static void gather_portable(const float *mat, const int64_t *rows, Py_ssize_t m, const float *q, Py_ssize_t d,
                            float *out) {
    for (Py_ssize_t j = 0; j < m; j++) {
        const float *x = mat + rows[j] * d;
        float acc = 0.0f;
        for (Py_ssize_t t = 0; t < d; t++) acc += x[t] * q[t];
        out[j] = acc;
    }
}

#ifdef SCAN_X86
#define GATHER_AHEAD 8
/* d is a multiple of 32 */
__attribute__((target("avx2,fma"))) static void gather_avx2(const float *mat, const int64_t *rows, Py_ssize_t m,
                                                            const float *q, Py_ssize_t d, float *out) {
    for (Py_ssize_t j = 0; j < m; j++) {
        if (j + GATHER_AHEAD < m) {
            const char *next = (const char *)(mat + rows[j + GATHER_AHEAD] * d);
            for (Py_ssize_t b = 0; b < d * 4; b += 64) _mm_prefetch(next + b, _MM_HINT_T0);
        }
        const float *x = mat + rows[j] * d;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (Py_ssize_t t = 0; t < d; t += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + t), _mm256_loadu_ps(q + t), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + t + 8), _mm256_loadu_ps(q + t + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + t + 16), _mm256_loadu_ps(q + t + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + t + 24), _mm256_loadu_ps(q + t + 24), a3);
        }
        __m256 s8 = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
        s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
        out[j] = _mm_cvtss_f32(s4);
    }
}
#endif

static void gather(const float *mat, const int64_t *rows, Py_ssize_t m, const float *q, Py_ssize_t d, float *out) {
#ifdef SCAN_X86
    if (d % 32 == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        gather_avx2(mat, rows, m, q, d, out);
        return;
    }
#endif
    gather_portable(mat, rows, m, q, d, out);
}

/* (score, row) pairs ordered best first: higher score, then the lower row */
typedef struct {
    float score;
    int64_t row;
} hit;

static int worse(hit a, hit b) { return a.score < b.score || (a.score == b.score && a.row > b.row); }

/* a min-heap (the worst at the root) of at most cap hits: the best cap of those pushed */
static void heap_push(hit *h, Py_ssize_t *len, Py_ssize_t cap, hit x) {
    Py_ssize_t i;
    if (*len < cap) {
        i = (*len)++;
        while (i > 0 && worse(x, h[(i - 1) / 2])) {
            h[i] = h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h[i] = x;
        return;
    }
    if (!worse(h[0], x)) return;
    i = 0;
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= *len) break;
        if (c + 1 < *len && worse(h[c + 1], h[c])) c++;
        if (!worse(h[c], x)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static int best_first(const void *a, const void *b) {
    hit x = *(const hit *)a, y = *(const hit *)b;
    return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

/* rows i (ascending) with bounds[i] >= thr, written to rows; returns their count */
static Py_ssize_t rows_at_least(const float *bounds, const float *block_max, Py_ssize_t n, float thr,
                                int64_t *rows) {
    Py_ssize_t m = 0;
    for (Py_ssize_t b = 0; b * BLOCK < n; b++) {
        if (!(block_max[b] >= thr)) continue;
        Py_ssize_t e = (b + 1) * BLOCK < n ? (b + 1) * BLOCK : n;
        for (Py_ssize_t i = b * BLOCK; i < e; i++) {
            rows[m] = i;
            m += bounds[i] >= thr; /* branch-free: the slot is overwritten unless the row is kept */
        }
    }
    return m;
}

/* Scratch memory of the calling thread, kept between calls: a fresh 100k-row buffer per call
 * costs its page faults each time (~0.3 ms on a VM); grown when a larger one is needed. */
static _Thread_local char *scratch_buf;
static _Thread_local size_t scratch_size;

static char *scratch(size_t bytes) {
    if (bytes > scratch_size) {
        free(scratch_buf);
        scratch_buf = malloc(bytes);
        scratch_size = scratch_buf ? bytes : 0;
    }
    return scratch_buf;
}

/* The exact top-k of a single query over a sketch's int8 first level and the float32 corpus,
 * as topk_projected's Python loop does it (no mask, no second level): bounds of every row by
 * the scan; the largest bound of each of the `first` blocks (64 rows) with the largest maxima
 * are rescored, their k-th exact score is tau; every row whose bound reaches tau - slack is
 * rescored; the best k by (score, then the lower row). Returns the hits written, or -1 when
 * out of memory. */
static Py_ssize_t topk_one(const uint8_t *codes, const float *terms, const int8_t *q, const float *qt, double slack,
                           const float *mat, const float *qf, Py_ssize_t n, Py_ssize_t width, Py_ssize_t d,
                           Py_ssize_t k, Py_ssize_t first, float *out_s, int64_t *out_r) {
    Py_ssize_t nb = (n + BLOCK - 1) / BLOCK, len = 0, hl = 0;
    if (k > n) k = n;
    if (first > nb) first = nb;
    if (first < 1) first = 1;
    Py_ssize_t nh = k > first ? k : first;
    char *buf = scratch(sizeof(int64_t) * n + 2 * sizeof(float) * n + sizeof(float) * nb + sizeof(hit) * nh);
    if (!buf) return -1;
    int64_t *rows = (int64_t *)buf;
    hit *heap = (hit *)(rows + n);
    float *bounds = (float *)(heap + nh), *scores = bounds + n, *block_max = scores + n;
    scan_fn fn = scan_portable;
#ifdef SCAN_X86
    if (use_avx2(width)) fn = scan_avx2;
#endif
    scan_blocks(fn, codes, terms, q, qt, bounds, block_max, n, width);
    /* the blocks with the largest maxima, and the row of each maximum */
    for (Py_ssize_t b = 0; b < nb; b++) heap_push(heap, &len, first, (hit){block_max[b], b});
    for (Py_ssize_t j = 0; j < len; j++) {
        Py_ssize_t lo = heap[j].row * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n, arg = lo;
        for (Py_ssize_t i = lo + 1; i < hi; i++)
            if (bounds[i] > bounds[arg]) arg = i;
        rows[j] = arg;
    }
    gather(mat, rows, len, qf, d, scores);
    /* tau: the k-th best exact score among them; every row when they are fewer than k */
    float thr = -INFINITY;
    if (len >= k) {
        for (Py_ssize_t j = 0; j < len; j++) heap_push(heap, &hl, k, (hit){scores[j], rows[j]});
        double lim = (double)heap[0].score - slack;
        thr = (float)lim;
        if ((double)thr > lim) thr = nextafterf(thr, -INFINITY);
    }
    Py_ssize_t m = rows_at_least(bounds, block_max, n, thr, rows);
    gather(mat, rows, m, qf, d, scores);
    hl = 0;
    for (Py_ssize_t j = 0; j < m; j++) heap_push(heap, &hl, k, (hit){scores[j], rows[j]});
    qsort(heap, hl, sizeof(hit), best_first);
    for (Py_ssize_t j = 0; j < hl; j++) {
        out_s[j] = heap[j].score;
        out_r[j] = heap[j].row;
    }
    return hl;
}

static PyObject *topk(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer codes, terms, q, qt, mat, qf, out_s, out_r;
    double slack;
    Py_ssize_t first;
    if (!PyArg_ParseTuple(args, "y*y*y*y*dy*y*nw*w*", &codes, &terms, &q, &qt, &slack, &mat, &qf, &first, &out_s,
                          &out_r))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t width = q.len, n = codes.len / (width ? width : 1), d = qf.len / 4, k = out_s.len / 4;
    if (width < 1 || width > MAX_WIDTH || qt.len != 12 || codes.len != n * width ||
        terms.len != n * 12 || d < 1 || qf.len % 4 || mat.len != n * d * 4 || k < 1 || out_s.len % 4 ||
        out_r.len != k * 8) {
        PyErr_SetString(PyExc_ValueError,
                        "topk: uint8 codes [n, w], float32 terms [n, 3], int8 q [w], float32 qt [3], float32 mat "
                        "[n, d], float32 qf [d], out float32 [k] and int64 [k]");
    } else {
        Py_ssize_t got;
        Py_BEGIN_ALLOW_THREADS
        got = topk_one(codes.buf, terms.buf, q.buf, qt.buf, slack, mat.buf, qf.buf, n, width, d, k, first, out_s.buf,
                       out_r.buf);
        Py_END_ALLOW_THREADS
        result = got < 0 ? PyErr_NoMemory() : PyLong_FromSsize_t(got);
    }
    PyBuffer_Release(&codes);
    PyBuffer_Release(&terms);
    PyBuffer_Release(&q);
    PyBuffer_Release(&qt);
    PyBuffer_Release(&mat);
    PyBuffer_Release(&qf);
    PyBuffer_Release(&out_s);
    PyBuffer_Release(&out_r);
    return result;
}

static PyObject *gather_dot(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer mat, rows, q, out;
    int portable = 0;
    if (!PyArg_ParseTuple(args, "y*y*y*w*|p", &mat, &rows, &q, &out, &portable)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t d = q.len / 4, m = rows.len / 8, n = d ? mat.len / 4 / d : 0;
    int bad_row = 0;
    const int64_t *r = rows.buf;
    for (Py_ssize_t j = 0; j < m; j++) bad_row |= r[j] < 0 || r[j] >= n;
    if (d < 1 || q.len % 4 || rows.len % 8 || mat.len != n * d * 4 || out.len != m * 4) {
        PyErr_SetString(PyExc_ValueError, "gather_dot: float32 mat [n, d], int64 rows [m], float32 q [d], out [m]");
    } else if (bad_row) {
        PyErr_Format(PyExc_ValueError, "gather_dot: a row is outside [0, %zd)", n);
    } else {
        const float *x = mat.buf, *qq = q.buf;
        float *o = out.buf;
        Py_BEGIN_ALLOW_THREADS
        if (portable)
            gather_portable(x, r, m, qq, d, o);
        else
            gather(x, r, m, qq, d, o);
        Py_END_ALLOW_THREADS
        Py_INCREF(Py_None);
        result = Py_None;
    }
    PyBuffer_Release(&mat);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&q);
    PyBuffer_Release(&out);
    return result;
}

/* quantize(p, codes) -> (scale, error, norm): kernels.scan.quantize_query for one query, its
 * float64 coordinates p [r] to the int8 codes [width] (zero padded) */
static PyObject *quantize(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer p, codes;
    if (!PyArg_ParseTuple(args, "y*w*", &p, &codes)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t r = p.len / 8, width = codes.len;
    if (p.len % 8 || r > width) {
        PyErr_SetString(PyExc_ValueError, "quantize: float64 p [r], int8 codes [width >= r]");
    } else {
        const double *x = p.buf;
        int8_t *c = codes.buf;
        double peak = 0.0, err = 0.0, norm = 0.0;
        for (Py_ssize_t j = 0; j < r; j++) peak = fabs(x[j]) > peak ? fabs(x[j]) : peak;
        /* a float32 scale rounded up, so that |p| / scale <= QUERY_MAX */
        double s = peak > 0 ? (double)nextafterf((float)(peak / QUERY_MAX), INFINITY) : 1.0;
        for (Py_ssize_t j = 0; j < width; j++) {
            double v = j < r ? rint(x[j] / s) : 0.0, deq = v * s, e = j < r ? x[j] - deq : 0.0;
            c[j] = (int8_t)v;
            err += e * e;
            norm += deq * deq;
        }
        err = sqrt(err) * (1 + 0x1p-20);
        norm = sqrt(norm) * (1 + 0x1p-20);
        float norm32 = (float)norm;
        if ((double)norm32 < norm) norm32 = nextafterf(norm32, INFINITY);
        result = Py_BuildValue("ddd", s, err, (double)norm32);
    }
    PyBuffer_Release(&p);
    PyBuffer_Release(&codes);
    return result;
}

static PyObject *simd(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyBool_FromLong(use_avx2(32));
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(codes, terms, q, qt, out, portable=False): out[i] = qt0 * scale_i * (q . (codes_i - 128)) + qt1 * perp_i + qt2 * rounding_i"},
    {"gather_dot", gather_dot, METH_VARARGS,
     "gather_dot(mat, rows, q, out, portable=False): out[j] = mat[rows[j]] . q (float32 rows, int64 row numbers)"},
    {"topk", topk, METH_VARARGS,
     "topk(codes, terms, q, qt, slack, mat, qf, first, out_scores, out_rows) -> hits: one query's exact top-k "
     "over the int8 first level (see topk_one)"},
    {"quantize", quantize, METH_VARARGS,
     "quantize(p, codes) -> (scale, error, norm): one query's float64 coordinates to int8 codes (written to codes)"},
    {"simd", simd, METH_NOARGS, "Whether scan uses AVX2 on this CPU (for widths that are multiples of 32)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", "The int8 first-level scan of the sketch.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
