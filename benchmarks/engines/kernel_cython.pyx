# cython: boundscheck=False, wraparound=False, cdivision=True, language_level=3
"""The prototype's hot path for Cython: the same algorithm as kernel_numba.py."""
import numpy as np
cimport numpy as cnp


cdef inline Py_ssize_t _push(double[::1] h_time, long long[::1] h_seq, long long[::1] h_item, Py_ssize_t size,
                             double t, long long seq, long long item) noexcept nogil:
    cdef Py_ssize_t i = size, parent
    while i > 0:
        parent = (i - 1) >> 1
        if h_time[parent] < t or (h_time[parent] == t and h_seq[parent] < seq):
            break
        h_time[i] = h_time[parent]; h_seq[i] = h_seq[parent]; h_item[i] = h_item[parent]
        i = parent
    h_time[i] = t; h_seq[i] = seq; h_item[i] = item
    return size + 1


cdef inline Py_ssize_t _pop(double[::1] h_time, long long[::1] h_seq, long long[::1] h_item,
                            Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t i = 0, child
    size -= 1
    cdef double t = h_time[size]
    cdef long long seq = h_seq[size], item = h_item[size]
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and (h_time[child + 1] < h_time[child]
                                 or (h_time[child + 1] == h_time[child] and h_seq[child + 1] < h_seq[child])):
            child += 1
        if t < h_time[child] or (t == h_time[child] and seq < h_seq[child]):
            break
        h_time[i] = h_time[child]; h_seq[i] = h_seq[child]; h_item[i] = h_item[child]
        i = child
    h_time[i] = t; h_seq[i] = seq; h_item[i] = item
    return size


def run(double[::1] arrive, long long[::1] pool, double[::1] duration, long long servers, long long pools,
        double horizon):
    cdef Py_ssize_t n = arrive.shape[0], i, size = 0
    cdef long long seq = 0, p, w, v
    cdef double t, tf
    start_a = np.full(n, np.nan)
    cdef double[::1] start = start_a
    cdef double[::1] h_time = np.empty(n)
    cdef long long[::1] h_seq = np.empty(n, np.int64), h_item = np.empty(n, np.int64)
    cdef long long[::1] busy = np.zeros(pools, np.int64), head = np.full(pools, -1, np.int64)
    cdef long long[::1] tail = np.full(pools, -1, np.int64), nxt = np.full(n, -1, np.int64)
    with nogil:
        for i in range(n + 1):
            t = arrive[i] if i < n else horizon
            while size > 0 and h_time[0] <= t:
                tf = h_time[0]; v = h_item[0]
                size = _pop(h_time, h_seq, h_item, size)
                p = pool[v]
                w = head[p]
                if w >= 0:
                    head[p] = nxt[w]
                    start[w] = tf
                    size = _push(h_time, h_seq, h_item, size, tf + duration[w], seq, w)
                    seq += 1
                else:
                    busy[p] -= 1
            if i == n:
                break
            p = pool[i]
            if busy[p] < servers:
                busy[p] += 1
                start[i] = t
                size = _push(h_time, h_seq, h_item, size, t + duration[i], seq, i)
                seq += 1
            elif head[p] < 0:
                head[p] = i; tail[p] = i
            else:
                nxt[tail[p]] = i
                tail[p] = i
    return start_a
