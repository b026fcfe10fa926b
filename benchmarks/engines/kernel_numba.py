"""The prototype's hot path for numba: arrivals and ends of visits over arrays (see journey_engines.py)."""
import numpy as np
from numba import njit


@njit(cache=True)
def _push(h_time, h_seq, h_item, size, t, seq, item):
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if h_time[parent] < t or (h_time[parent] == t and h_seq[parent] < seq):
            break
        h_time[i], h_seq[i], h_item[i] = h_time[parent], h_seq[parent], h_item[parent]
        i = parent
    h_time[i], h_seq[i], h_item[i] = t, seq, item
    return size + 1


@njit(cache=True)
def _pop(h_time, h_seq, h_item, size):
    size -= 1
    t, seq, item = h_time[size], h_seq[size], h_item[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and (h_time[child + 1] < h_time[child]
                                 or (h_time[child + 1] == h_time[child] and h_seq[child + 1] < h_seq[child])):
            child += 1
        if t < h_time[child] or (t == h_time[child] and seq < h_seq[child]):
            break
        h_time[i], h_seq[i], h_item[i] = h_time[child], h_seq[child], h_item[child]
        i = child
    h_time[i], h_seq[i], h_item[i] = t, seq, item
    return size


@njit(cache=True)
def run(arrive, pool, duration, servers, pools, horizon):
    n = len(arrive)
    start = np.full(n, np.nan)
    h_time, h_seq, h_item = np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64)
    size = seq = 0
    busy = np.zeros(pools, np.int64)
    head, tail = np.full(pools, -1), np.full(pools, -1)
    nxt = np.full(n, -1)
    for i in range(n + 1):
        t = arrive[i] if i < n else horizon
        while size > 0 and h_time[0] <= t:
            tf, v = h_time[0], h_item[0]
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
            head[p] = tail[p] = i
        else:
            nxt[tail[p]] = i
            tail[p] = i
    return start
