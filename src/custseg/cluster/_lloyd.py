"""Lloyd's K-Means as one fused pass over the rows per iteration, compiled by numba.

Each iteration reads ``X`` once: for every row the squared distance to each
centre, the nearest centre, and, for a row that changed cluster, its move
between the per-centre sums and counts (float64, whatever the dtype of ``X``).
From the same starting centres it finds scikit-learn's partition
(``KMeans(algorithm="lloyd")``, up to floating-point ties) and an inertia well
within 0.1% of scikit-learn's; ``benchmarks/kernel.py`` checks this and times
both.

Work split and determinism
--------------------------
The rows are cut into chunks of :data:`CHUNK_ROWS` rows at fixed boundaries.
One thread processes a chunk from start to end and owns its float64 partial
sums and counts; the partials are added up in chunk order. Threads only decide
*who* computes a chunk, never *what* is computed, so centres, labels and inertia
are bitwise identical for any number of threads.

Threads
-------
Chunks run on plain Python threads calling numba functions compiled with
``nogil=True``; numba's threading layer (``parallel=True`` / ``prange``) is not
used, because each layer has a catch here: ``workqueue`` aborts the process
when two threads launch parallel kernels at once, ``omp`` (GNU OpenMP on Linux)
terminates a forked child that runs a parallel kernel (``multiprocessing``
forks by default on Linux before Python 3.14) and is a second OpenMP runtime
beside scikit-learn's, and ``tbb`` is one more binary dependency. Plain threads
are safe when called from several threads at once, after ``fork`` and under
pytest-xdist. At 10 million rows they are as fast as ``prange``; on 0.05 to 1
million rows ``prange``, whose OpenMP threads spin while they wait, measured up
to 1.5 times faster per iteration, which is the price of that safety. Below
:data:`_PARALLEL_MIN_CHUNKS` chunks (about half a million rows) waking a thread
costs more than it saves and the calling thread does all the work. The thread
count is ``numba.get_num_threads()`` once numba's threads are set up (by
``numba.set_num_threads``), else ``NUMBA_NUM_THREADS`` (default: the CPUs
available).

Inner loop
----------
The inner loop is LLVM IR (a numba ``intrinsic``): numba's optimiser does not
vectorise it well (numba turns LLVM's SLP vectoriser off). Eight rows at a time,
each row's distances to eight centres, ``||c||^2 - 2 x.c`` with the centres laid
out ``(d, k)``, fill one AVX2 register through fused multiply-adds in the
precision of ``X`` (as scikit-learn's matrix product does); the 8 x 8 block is
transposed in registers and the argmin runs across registers. A row that keeps
its label costs nothing more. The returned inertia comes from exact differences
``(x - c)^2`` in float64, as scikit-learn computes it.

Compiled code is cached on disk (``cache=True``): one version per number of
features, per block of eight centres and per dtype, compiled on first use (a
few seconds each; ``benchmarks/kernel.py`` reports the figure).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

__all__ = ["CHUNK_ROWS", "KPP_SAMPLE_ROWS", "LloydResult", "assign", "kmeans", "lloyd"]

#: Rows per chunk. Results depend on it (it fixes the order of the float64 sums),
#: never on the number of threads.
CHUNK_ROWS = 32_768
#: ``kmeans`` seeds its runs by k-means++ on at most this many rows.
KPP_SAMPLE_ROWS = 100_000

#: Above this many features the kernels are not compiled: they are unrolled
#: for each feature count, and compiling them took 6 s at 1,024 features and
#: did not finish in 15 minutes at 5,000. Wide tables go to scikit-learn's
#: Lloyd and a blocked numpy assignment instead.
MAX_COMPILED_FEATURES = 256
_BLOCK_ROWS = 256  # rows per block inside a chunk: their old labels are kept
_LANES = 8  # centres per vector: eight float32 fill an AVX2 register
_GROUPS_PER_BLOCK = _BLOCK_ROWS // _LANES
_PARALLEL_MIN_CHUNKS = 16  # fewer chunks run on the calling thread only
_RANGES_PER_THREAD = 4  # chunk ranges handed out per thread and iteration

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LloydResult:
    """The outcome of a K-Means fit.

    Attributes
    ----------
    centers : ndarray of shape (n_clusters, n_features), float64
        The final centres.
    labels : ndarray of shape (n_samples,), int32
        Index of the centre nearest to each row (nearest to ``centers``).
    inertia : float
        Sum of the squared distances of the rows to their centre.
    n_iter : int
        Number of iterations run.
    """

    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int


# --------------------------------------------------------------------------
# LLVM IR building blocks (numba intrinsics)
# --------------------------------------------------------------------------

# Shuffle masks of an 8 x 8 transpose in three stages (unpack, shuffle, permute).
_UNPACK_LO = [0, 8, 1, 9, 4, 12, 5, 13]
_UNPACK_HI = [2, 10, 3, 11, 6, 14, 7, 15]
_PAIRS_LO = [0, 1, 8, 9, 4, 5, 12, 13]
_PAIRS_HI = [2, 3, 10, 11, 6, 7, 14, 15]
_HALVES_LO = [0, 1, 2, 3, 8, 9, 10, 11]
_HALVES_HI = [4, 5, 6, 7, 12, 13, 14, 15]


def _literal(value: Any, name: str) -> int:
    if not isinstance(value, types.IntegerLiteral):
        raise TypingError(f"{name} must be a compile-time integer constant")
    return int(value.literal_value)


def _i64(value: int) -> ir.Constant:
    return ir.Constant(ir.IntType(64), value)


def _i32(value: int) -> ir.Constant:
    return ir.Constant(ir.IntType(32), value)


class _Emitter:
    """Helpers to emit vector IR for one intrinsic's code generation."""

    def __init__(self, context: Any, builder: ir.IRBuilder, dtype: Any) -> None:
        self.context = context
        self.b = builder
        self.size = dtype.bitwidth // 8
        self.fty = context.get_value_type(dtype)
        self.vty = ir.VectorType(self.fty, _LANES)
        self.ivty = ir.VectorType(ir.IntType(32), _LANES)
        self.undef = ir.Constant(self.vty, ir.Undefined)
        suffix = "f32" if self.size == 4 else "f64"
        self.fma = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module,
            ir.FunctionType(self.vty, [self.vty] * 3),
            f"llvm.fma.v{_LANES}{suffix}",
        )
        mask = ir.IntType(_LANES)
        self.mask_ty = mask
        self.ctpop = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module, ir.FunctionType(mask, [mask]), f"llvm.ctpop.i{_LANES}"
        )

    def array(self, ty: Any, value: Any) -> Any:
        return self.context.make_array(ty)(self.context, self.b, value)

    def ptr(self, base: Any, index: Any) -> Any:
        if isinstance(index, int):
            index = _i64(index)
        return self.b.gep(base, [index], inbounds=True)

    def vload(self, base: Any, index: Any) -> Any:
        p = self.b.bitcast(self.ptr(base, index), self.vty.as_pointer())
        return self.b.load(p, align=self.size)

    def shuffle(self, a: Any, b: Any, mask: list[int]) -> Any:
        return self.b.shuffle_vector(a, b, ir.Constant(self.ivty, mask))

    def splat(self, value: Any) -> Any:
        v = self.b.insert_element(self.undef, value, _i32(0))
        return self.shuffle(v, self.undef, [0] * _LANES)

    def transpose8(self, rows: list[Any]) -> list[Any]:
        t = []
        for p in range(4):
            a, c = rows[2 * p], rows[2 * p + 1]
            t += [self.shuffle(a, c, _UNPACK_LO), self.shuffle(a, c, _UNPACK_HI)]
        u = []
        for h in range(2):
            t0, t1, t2, t3 = t[4 * h : 4 * h + 4]
            u += [
                self.shuffle(t0, t2, _PAIRS_LO),
                self.shuffle(t0, t2, _PAIRS_HI),
                self.shuffle(t1, t3, _PAIRS_LO),
                self.shuffle(t1, t3, _PAIRS_HI),
            ]
        cols: list[Any] = [None] * _LANES
        for q in range(4):
            cols[q] = self.shuffle(u[q], u[4 + q], _HALVES_LO)
            cols[q + 4] = self.shuffle(u[q], u[4 + q], _HALVES_HI)
        return cols


def _emit_nearest(
    e: _Emitter,
    x: Any,
    w: Any,
    cn: Any,
    start: Any,
    stop: Any,
    d: int,
    nb: int,
    store: Callable[[Any, Any, Any, int], Any],
) -> Any:
    """Emit the assignment loop over rows ``start:stop``; return the change count.

    ``store(first, rel, labels, n)`` writes the ``n`` labels (a vector when
    ``n == 8``, else a scalar) of the rows from ``first`` on (``rel`` rows after
    ``start``) and returns how many differ from what was there before (i64).
    """
    b = e.b
    kp = nb * _LANES
    cv = [e.vload(cn, blk * _LANES) for blk in range(nb)]
    count = b.sub(stop, start)
    changes = cgutils.alloca_once_value(b, _i64(0))  # type: ignore[no-untyped-call]
    n_groups = b.lshr(count, _i64(3))
    slots = [cgutils.alloca_once(b, e.vty) for _ in range(_LANES)]  # type: ignore[no-untyped-call]

    def distances(rows: list[Any], blk: int) -> list[Any]:
        # ||c||^2 - 2 x.c for the rows given, to the eight centres of block blk:
        # one vector per row. A loop over the features (LLVM unrolls it when
        # short), so that compile time does not grow with d.
        accs = slots[: len(rows)]
        for acc in accs:
            b.store(cv[blk], acc)
        with cgutils.for_range(b, _i64(d)) as jl:
            j = jl.index
            wj = e.vload(w, b.add(b.mul(j, _i64(kp)), _i64(blk * _LANES)))
            for row, acc in zip(rows, accs, strict=True):
                xj = e.splat(b.load(e.ptr(row, j), align=e.size))
                b.store(b.call(e.fma, [xj, wj, b.load(acc)]), acc)
        return [b.load(acc) for acc in accs]

    with cgutils.for_range(b, n_groups) as loop:
        rel = b.shl(loop.index, _i64(3))
        first = b.add(start, rel)
        rows = [e.ptr(x, b.mul(b.add(first, _i64(r)), _i64(d))) for r in range(_LANES)]
        best = best_idx = None
        for blk in range(nb):
            for lane, col in enumerate(e.transpose8(distances(rows, blk))):
                label = ir.Constant(e.ivty, [blk * _LANES + lane] * _LANES)
                if best is None:
                    best, best_idx = col, label
                else:
                    lt = b.fcmp_ordered("<", col, best)
                    best = b.select(lt, col, best)
                    best_idx = b.select(lt, label, best_idx)
        n_diff = store(first, rel, best_idx, _LANES)
        b.store(b.add(b.load(changes), n_diff), changes)

    # The last count % 8 rows, one at a time, with the same arithmetic.
    done = b.shl(n_groups, _i64(3))
    with cgutils.for_range(b, b.sub(count, done)) as loop:
        rel = b.add(done, loop.index)
        first = b.add(start, rel)
        row = e.ptr(x, b.mul(first, _i64(d)))
        best_s = best_i = None
        for blk in range(nb):
            (acc1,) = distances([row], blk)
            for lane in range(_LANES):
                val = b.extract_element(acc1, _i32(lane))
                idx = _i32(blk * _LANES + lane)
                if best_s is None:
                    best_s, best_i = val, idx
                else:
                    lt = b.fcmp_ordered("<", val, best_s)
                    best_s = b.select(lt, val, best_s)
                    best_i = b.select(lt, idx, best_i)
        n_diff = store(first, rel, best_i, 1)
        b.store(b.add(b.load(changes), n_diff), changes)
    return b.load(changes)


def _assign_rows_typer(
    typingctx: Any,
    X: Any,
    start: Any,
    stop: Any,
    W: Any,
    cn: Any,
    labels: Any,
    D: Any,
    NB: Any,
) -> Any:
    """``labels[start:stop]`` = nearest centre of those rows; returns the changes."""
    d = _literal(D, "D")
    nb = _literal(NB, "NB")
    sig = types.int64(X, types.int64, types.int64, W, cn, labels, D, NB)

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        e = _Emitter(context, builder, signature.args[0].dtype)
        xa = e.array(signature.args[0], args[0])
        wa = e.array(signature.args[3], args[3])
        ca = e.array(signature.args[4], args[4])
        la = e.array(signature.args[5], args[5])

        def store(first: Any, rel: Any, value: Any, n: int) -> Any:
            p = e.ptr(la.data, first)
            if n == _LANES:
                p = builder.bitcast(p, e.ivty.as_pointer())
                old = builder.load(p, align=4)
                builder.store(value, p, align=4)
                diff = builder.bitcast(builder.icmp_signed("!=", old, value), e.mask_ty)
                return builder.zext(builder.call(e.ctpop, [diff]), ir.IntType(64))
            old = builder.load(p, align=4)
            builder.store(value, p, align=4)
            return builder.zext(builder.icmp_signed("!=", old, value), ir.IntType(64))

        return _emit_nearest(
            e, xa.data, wa.data, ca.data, args[1], args[2], d, nb, store
        )

    return sig, codegen


_assign_rows: Any = intrinsic(_assign_rows_typer)


def _assign_rows_tracked_typer(
    typingctx: Any,
    X: Any,
    start: Any,
    stop: Any,
    W: Any,
    cn: Any,
    labels: Any,
    old: Any,
    moved: Any,
    D: Any,
    NB: Any,
) -> Any:
    """As ``_assign_rows``, and keeps what changed for the update of the sums.

    ``old[r]`` receives the previous label of row ``start + r`` and the bits of
    ``moved[g]`` say which rows of group ``g`` (eight rows) changed label.
    """
    d = _literal(D, "D")
    nb = _literal(NB, "NB")
    sig = types.int64(X, types.int64, types.int64, W, cn, labels, old, moved, D, NB)

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        e = _Emitter(context, builder, signature.args[0].dtype)
        xa = e.array(signature.args[0], args[0])
        wa = e.array(signature.args[3], args[3])
        ca = e.array(signature.args[4], args[4])
        la = e.array(signature.args[5], args[5])
        oa = e.array(signature.args[6], args[6])
        ma = e.array(signature.args[7], args[7])
        i8 = ir.IntType(8)
        i64 = ir.IntType(64)

        def store(first: Any, rel: Any, value: Any, n: int) -> Any:
            p = e.ptr(la.data, first)
            q = e.ptr(oa.data, rel)
            m = e.ptr(ma.data, builder.lshr(rel, _i64(3)))
            if n == _LANES:
                p = builder.bitcast(p, e.ivty.as_pointer())
                q = builder.bitcast(q, e.ivty.as_pointer())
                prev = builder.load(p, align=4)
                builder.store(prev, q, align=4)
                builder.store(value, p, align=4)
                bits = builder.bitcast(
                    builder.icmp_signed("!=", prev, value), e.mask_ty
                )
                builder.store(bits, m)
                return builder.zext(builder.call(e.ctpop, [bits]), i64)
            prev = builder.load(p, align=4)
            builder.store(prev, q, align=4)
            builder.store(value, p, align=4)
            changed = builder.icmp_signed("!=", prev, value)
            # Tail rows share one group: set this row's bit (the byte starts at 0).
            shift = builder.trunc(builder.and_(rel, _i64(7)), i8)
            bit = builder.shl(builder.zext(changed, i8), shift)
            builder.store(builder.or_(builder.load(m), bit), m)
            return builder.zext(changed, i64)

        return _emit_nearest(
            e, xa.data, wa.data, ca.data, args[1], args[2], d, nb, store
        )

    return sig, codegen


_assign_rows_tracked: Any = intrinsic(_assign_rows_tracked_typer)


def _emit_row_vector(e: _Emitter, x: Any, i: Any, d: int) -> Any:
    """Row ``i`` of ``x`` as a ``<d x double>`` vector."""
    b = e.b
    row = e.ptr(x, b.mul(i, _i64(d)))
    v = b.load(b.bitcast(row, ir.VectorType(e.fty, d).as_pointer()), align=e.size)
    if e.size == 4:
        v = b.fpext(v, ir.VectorType(ir.DoubleType(), d))
    return v


def _move_row_typer(
    typingctx: Any, X: Any, i: Any, S: Any, dst: Any, src: Any, D: Any
) -> Any:
    """``S[dst:dst+D] += X[i]`` and, when ``src >= 0``, ``S[src:src+D] -= X[i]``."""
    d = _literal(D, "D")
    sig = types.void(X, types.int64, S, types.int64, types.int64, D)

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        e = _Emitter(context, builder, signature.args[0].dtype)
        xa = e.array(signature.args[0], args[0])
        sa = e.array(signature.args[2], args[2])
        xv = _emit_row_vector(e, xa.data, args[1], d)
        dv = ir.VectorType(ir.DoubleType(), d).as_pointer()
        p = builder.bitcast(e.ptr(sa.data, args[3]), dv)
        builder.store(builder.fadd(builder.load(p, align=8), xv), p, align=8)
        with builder.if_then(builder.icmp_signed(">=", args[4], _i64(0))):
            q = builder.bitcast(e.ptr(sa.data, args[4]), dv)
            builder.store(builder.fsub(builder.load(q, align=8), xv), q, align=8)
        return context.get_dummy_value()

    return sig, codegen


_move_row: Any = intrinsic(_move_row_typer)


def _sq_distances_typer(
    typingctx: Any, X: Any, start: Any, stop: Any, C: Any, labels: Any, D: Any
) -> Any:
    """Sum over rows ``start:stop`` of ``||X[i] - C[labels[i]]||^2`` in float64."""
    d = _literal(D, "D")
    sig = types.float64(X, types.int64, types.int64, C, labels, D)

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        e = _Emitter(context, builder, signature.args[0].dtype)
        xa = e.array(signature.args[0], args[0])
        ca = e.array(signature.args[3], args[3])
        la = e.array(signature.args[4], args[4])
        dvec = ir.VectorType(ir.DoubleType(), d)
        zero = ir.Constant(dvec, [ir.Constant(ir.DoubleType(), 0.0)] * d)
        # Four running sums (rows i % 4) so that the additions do not wait on
        # each other; they are combined in a fixed order at the end.
        accs = [cgutils.alloca_once_value(builder, zero) for _ in range(4)]  # type: ignore[no-untyped-call]
        count = builder.sub(args[2], args[1])

        def add_row(i: Any, slot: int) -> None:
            xv = _emit_row_vector(e, xa.data, i, d)
            lab = builder.sext(builder.load(e.ptr(la.data, i), align=4), ir.IntType(64))
            cp = builder.bitcast(
                e.ptr(ca.data, builder.mul(lab, _i64(d))), dvec.as_pointer()
            )
            diff = builder.fsub(xv, builder.load(cp, align=8))
            acc = accs[slot]
            builder.store(
                builder.fadd(builder.load(acc), builder.fmul(diff, diff)), acc
            )

        n4 = builder.lshr(count, _i64(2))
        with cgutils.for_range(builder, n4) as loop:
            base = builder.add(args[1], builder.shl(loop.index, _i64(2)))
            for slot in range(4):
                add_row(builder.add(base, _i64(slot)), slot)
        done = builder.shl(n4, _i64(2))
        with cgutils.for_range(builder, builder.sub(count, done)) as loop:
            add_row(builder.add(args[1], builder.add(done, loop.index)), 0)
        total = builder.fadd(
            builder.fadd(builder.load(accs[0]), builder.load(accs[1])),
            builder.fadd(builder.load(accs[2]), builder.load(accs[3])),
        )
        parts = [builder.extract_element(total, _i32(j)) for j in range(d)]
        while len(parts) > 1:
            pairs = [
                builder.fadd(parts[q], parts[q + 1])
                for q in range(0, len(parts) - 1, 2)
            ]
            parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
        return parts[0]

    return sig, codegen


_sq_distances: Any = intrinsic(_sq_distances_typer)


# --------------------------------------------------------------------------
# Compiled kernels: each one processes chunks c0:c1 on the calling thread
# --------------------------------------------------------------------------


@functools.cache
def _kernels(d: int, nb: int) -> tuple[Any, Any, Any]:
    """Kernels for ``d`` features and ``nb`` blocks of eight centres.

    ``d`` and ``nb`` are compile-time constants of these closures; numba caches
    each pair (and dtype) on disk separately.
    """
    kp = nb * _LANES
    chunk = CHUNK_ROWS
    block = _BLOCK_ROWS
    groups = _GROUPS_PER_BLOCK

    @njit(cache=True, nogil=True)
    def iterate(
        X: np.ndarray,
        W: np.ndarray,
        cn: np.ndarray,
        labels: np.ndarray,
        sums: np.ndarray,
        counts: np.ndarray,
        changed: np.ndarray,
        full: bool,
        c0: int,
        c1: int,
    ) -> None:
        """One Lloyd step on chunks c0:c1: new labels, sums brought up to date.

        With ``full`` (first iteration) the sums are built from every row;
        otherwise only rows that changed label move between the sums.
        """
        n = X.shape[0]
        old = np.empty(block, np.int32)
        moved = np.zeros(groups, np.uint8)
        # Four interleaved copies of the sums for the full build (row i goes to
        # copy i % 4), so that rows of one cluster do not wait on each other.
        T = np.empty(4 * kp * d)
        NT = np.empty(4 * kp, np.int64)
        for c in range(c0, c1):
            s = c * chunk
            e = min(n, s + chunk)
            S = sums[c]
            N = counts[c]
            ch = 0
            if full:
                T[:] = 0.0
                NT[:] = 0
            for b0 in range(s, e, block):
                b1 = min(e, b0 + block)
                if full:
                    ch += _assign_rows(X, b0, b1, W, cn, labels, d, nb)
                    for i in range(b0, b1):
                        q = (i & 3) * kp + labels[i]
                        _move_row(X, i, T, q * d, -1, d)
                        NT[q] += 1
                    continue
                moved[:] = 0
                nc = _assign_rows_tracked(X, b0, b1, W, cn, labels, old, moved, d, nb)
                if nc == 0:
                    continue
                ch += nc
                for g in range((b1 - b0 + 7) // 8):
                    bits = moved[g]
                    if bits == 0:
                        continue
                    for r in range(8):
                        if (bits >> r) & 1:
                            rel = g * 8 + r
                            i = b0 + rel
                            lab = labels[i]
                            prev = old[rel]
                            _move_row(X, i, S, lab * d, prev * d, d)
                            N[lab] += 1
                            if prev >= 0:
                                N[prev] -= 1
            if full:
                m = kp * d
                for q in range(m):
                    S[q] = (T[q] + T[m + q]) + (T[2 * m + q] + T[3 * m + q])
                for q in range(kp):
                    N[q] = (NT[q] + NT[kp + q]) + (NT[2 * kp + q] + NT[3 * kp + q])
            changed[c] = ch

    @njit(cache=True, nogil=True)
    def assign_chunks(
        X: np.ndarray,
        W: np.ndarray,
        cn: np.ndarray,
        C: np.ndarray,
        labels: np.ndarray,
        parts: np.ndarray,
        c0: int,
        c1: int,
    ) -> None:
        """Labels of chunks c0:c1, and each chunk's inertia (exact, float64)."""
        n = X.shape[0]
        for c in range(c0, c1):
            s = c * chunk
            e = min(n, s + chunk)
            acc = 0.0
            for b0 in range(s, e, block):
                b1 = min(e, b0 + block)
                _assign_rows(X, b0, b1, W, cn, labels, d, nb)
                acc += _sq_distances(X, b0, b1, C, labels, d)
            parts[c] = acc

    @njit(cache=True, nogil=True)
    def inertia_chunks(
        X: np.ndarray,
        C: np.ndarray,
        labels: np.ndarray,
        parts: np.ndarray,
        c0: int,
        c1: int,
    ) -> None:
        """Inertia of each chunk c0:c1 for the labels given (exact, float64)."""
        n = X.shape[0]
        for c in range(c0, c1):
            s = c * chunk
            parts[c] = _sq_distances(X, s, min(n, s + chunk), C, labels, d)

    return iterate, assign_chunks, inertia_chunks


@njit(cache=True, nogil=True)
def _stats_chunks(
    X: np.ndarray, means: np.ndarray, m2s: np.ndarray, c0: int, c1: int
) -> None:
    """Per chunk: column means and sums of squared deviations (float64)."""
    n, d = X.shape
    for c in range(c0, c1):
        s = c * CHUNK_ROWS
        e = min(n, s + CHUNK_ROWS)
        for j in range(d):
            means[c, j] = 0.0
            m2s[c, j] = 0.0
        for i in range(s, e):
            for j in range(d):
                means[c, j] += X[i, j]
        for j in range(d):
            means[c, j] /= e - s
        for i in range(s, e):
            for j in range(d):
                t = X[i, j] - means[c, j]
                m2s[c, j] += t * t


@njit(cache=True, nogil=True)
def _farthest_chunks(
    X: np.ndarray,
    C: np.ndarray,
    labels: np.ndarray,
    m: int,
    cand_d: np.ndarray,
    cand_i: np.ndarray,
    c0: int,
    c1: int,
) -> None:
    """Per chunk, the ``m`` rows farthest from their centre, farthest first
    (ties: the lower row first)."""
    n, d = X.shape
    for c in range(c0, c1):
        for q in range(m):
            cand_d[c, q] = -1.0
            cand_i[c, q] = -1
        for i in range(c * CHUNK_ROWS, min(n, (c + 1) * CHUNK_ROWS)):
            lab = labels[i]
            dist = 0.0
            for j in range(d):
                t = np.float64(X[i, j]) - C[lab, j]
                dist += t * t
            if dist <= cand_d[c, m - 1]:
                continue
            q = m - 1
            while q > 0 and cand_d[c, q - 1] < dist:
                cand_d[c, q] = cand_d[c, q - 1]
                cand_i[c, q] = cand_i[c, q - 1]
                q -= 1
            cand_d[c, q] = dist
            cand_i[c, q] = i


# --------------------------------------------------------------------------
# Running the chunks on threads
# --------------------------------------------------------------------------


def _configured_threads() -> int:
    """``numba.get_num_threads()`` once numba's threads exist, else the default.

    Asking numba before then would start its thread pool, which we never use.
    """
    from numba.np.ufunc import parallel

    if getattr(parallel, "_is_initialized", False):
        return int(numba.get_num_threads())
    return int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))


class _Runner:
    """Runs ``fn(*args, c0, c1)`` over every chunk: the calling thread and helpers.

    The chunks are cut into ``_RANGES_PER_THREAD`` ranges per thread, taken in
    turn from a shared counter, so that a thread slowed down by the machine takes
    fewer of them. The results never depend on who took which range.
    """

    def __init__(self, n_chunks: int) -> None:
        self.n_chunks = n_chunks
        wanted = _configured_threads() if n_chunks >= _PARALLEL_MIN_CHUNKS else 1
        self.n_threads = max(1, min(wanted, n_chunks))
        n_ranges = min(n_chunks, _RANGES_PER_THREAD * self.n_threads)
        self.bounds = [n_chunks * r // n_ranges for r in range(n_ranges + 1)]
        self.pool = (
            ThreadPoolExecutor(self.n_threads - 1, thread_name_prefix="custseg-lloyd")
            if self.n_threads > 1
            else None
        )

    def __enter__(self) -> _Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def __call__(self, fn: Any, *args: Any) -> None:
        if self.pool is None:
            fn(*args, 0, self.n_chunks)
            return
        bounds = self.bounds
        counter = itertools.count()

        def work() -> None:
            while (r := next(counter)) < len(bounds) - 1:
                fn(*args, bounds[r], bounds[r + 1])

        helpers = [self.pool.submit(work) for _ in range(self.n_threads - 1)]
        try:
            work()
        finally:
            for helper in helpers:
                helper.result()


# --------------------------------------------------------------------------
# Checks and helpers
# --------------------------------------------------------------------------


def _n_chunks(n: int) -> int:
    return max(1, -(-n // CHUNK_ROWS))


def _check_X(X: Any) -> np.ndarray:
    """``X`` as a C-contiguous float32/float64 matrix, copied only if it is not."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D array (n_samples, n_features); got {X.ndim}-D "
            f"with shape {X.shape}."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(
            f"X must have at least one row and one column; got shape {X.shape}."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold numbers; got dtype {X.dtype}.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return np.ascontiguousarray(X)


def _check_centers(
    centers: Any, X: np.ndarray, name: str, *, fit: bool = True
) -> np.ndarray:
    C = np.array(centers, dtype=np.float64, order="C")
    if C.ndim != 2 or C.shape[1] != X.shape[1] or C.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (n_clusters, {X.shape[1]}) to match X; "
            f"got {C.shape}."
        )
    if not np.isfinite(C).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    if fit and C.shape[0] > X.shape[0]:
        raise ValueError(
            f"n_samples={X.shape[0]} should be >= n_clusters={C.shape[0]}."
        )
    return C


def _check_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _check_tol(tol: Any) -> float:
    if isinstance(tol, bool) or not isinstance(tol, int | float | np.number):
        raise ValueError(f"tol must be a number >= 0; got {tol!r}.")
    if not tol >= 0:
        raise ValueError(f"tol must be a number >= 0; got {tol!r}.")
    return float(tol)


def _check_finite(value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(
            "X contains NaN or infinity (or values so large that their squares "
            "overflow); impute or drop those rows first."
        )


def _pack(centers: np.ndarray, dtype: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Centres as the kernel reads them: ``-2 c`` laid out (d, k) and ``||c||^2``,
    in the dtype of ``X``, k padded to a multiple of eight with centres at
    infinity."""
    k, d = centers.shape
    nb = -(-k // _LANES)
    W = np.zeros((d, nb * _LANES), dtype=dtype)
    W[:, :k] = (-2.0 * centers).T
    cn = np.full(nb * _LANES, np.inf, dtype=dtype)
    cn[:k] = np.einsum("ij,ij->i", centers, centers)
    return W, cn, nb


def _tolerance(X: np.ndarray, tol: float, run: _Runner) -> float:
    """scikit-learn's tolerance: ``tol`` times the mean variance of the columns
    (float64, chunks combined in order)."""
    if tol == 0:
        return 0.0
    n, d = X.shape
    means = np.empty((run.n_chunks, d))
    m2s = np.empty((run.n_chunks, d))
    run(_stats_chunks, X, means, m2s)
    count = 0
    mean = np.zeros(d)
    m2 = np.zeros(d)
    for c in range(run.n_chunks):  # Chan et al.'s pairwise combination
        nc = min(n, (c + 1) * CHUNK_ROWS) - c * CHUNK_ROWS
        delta = means[c] - mean
        both = count + nc
        mean = mean + delta * (nc / both)
        m2 = m2 + m2s[c] + delta * delta * (count * nc / both)
        count = both
    _check_finite(float(m2.sum() + mean.sum()))
    return tol * float(np.mean(m2 / n))


def _relocate_empty(
    X: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    S: np.ndarray,
    N: np.ndarray,
    run: _Runner,
) -> None:
    """Give each empty cluster a row far from its centre, as scikit-learn does.

    The i-th empty cluster (by index) takes the i-th farthest row from its
    assigned centre (ties: the lower row). The row leaves its cluster's sum for
    this update only; its label changes at the next assignment if the new centre
    is nearer. ``S`` and ``N`` are changed in place.
    """
    empty = np.flatnonzero(N == 0)
    m = len(empty)
    cand_d = np.empty((run.n_chunks, m))
    cand_i = np.empty((run.n_chunks, m), dtype=np.int64)
    run(_farthest_chunks, X, centers, labels, m, cand_d, cand_i)
    dist, rows = cand_d.ravel(), cand_i.ravel()
    found = rows >= 0
    dist, rows = dist[found], rows[found]
    rows = rows[np.lexsort((rows, -dist))]
    for cluster, row in zip(empty, rows[:m], strict=False):
        x = X[row].astype(np.float64)
        owner = labels[row]
        S[owner] -= x
        N[owner] -= 1
        S[cluster] = x
        N[cluster] = 1


def _fit(
    X: np.ndarray,
    centers: np.ndarray,
    max_iter: int,
    tol_abs: float,
    run: _Runner,
    progress: Progress | None,
) -> LloydResult:
    """Lloyd iterations from ``centers``; the loop of scikit-learn's
    ``_kmeans_single_lloyd`` with the fused kernel."""
    if X.shape[1] > MAX_COMPILED_FEATURES:
        return _fit_wide(X, centers, max_iter, tol_abs)
    n, d = X.shape
    k = centers.shape[0]
    nb = -(-k // _LANES)
    iterate, assign_chunks, inertia_chunks = _kernels(d, nb)
    labels = np.full(n, -1, dtype=np.int32)
    sums = np.zeros((run.n_chunks, nb * _LANES * d))
    counts = np.zeros((run.n_chunks, nb * _LANES), dtype=np.int64)
    changed = np.zeros(run.n_chunks, dtype=np.int64)
    strict = False
    n_iter = 0
    for it in range(max_iter):
        W, cn, _ = _pack(centers, X.dtype)
        run(iterate, X, W, cn, labels, sums, counts, changed, it == 0)
        # Chunk partials added in chunk order (numpy sums axis 0 row by row).
        S = sums.reshape(run.n_chunks, -1, d)[:, :k].sum(axis=0)
        N = counts[:, :k].sum(axis=0)
        if it == 0:
            _check_finite(float(S.sum()))
        if (N == 0).any():
            _relocate_empty(X, centers, labels, S, N, run)
        new = centers.copy()
        filled = N > 0
        new[filled] = S[filled] / N[filled, None]
        shift = float(((new - centers) ** 2).sum())
        centers = new
        n_iter = it + 1
        if progress is not None:
            progress("K-Means iteration", n_iter, max_iter)
        if not changed.any():
            strict = True
            break
        if shift <= tol_abs:
            break
    parts = np.zeros(run.n_chunks)
    if strict:
        # The labels stopped changing: they are the partition whose means are
        # these centres, so only the inertia is left to compute.
        run(inertia_chunks, X, centers, labels, parts)
    else:
        W, cn, _ = _pack(centers, X.dtype)
        run(assign_chunks, X, W, cn, centers, labels, parts)
    return LloydResult(centers, labels, float(parts.sum()), n_iter)


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def lloyd(
    X: np.ndarray,
    init: np.ndarray,
    *,
    max_iter: int = 300,
    tol: float = 1e-4,
    progress: Progress | None = None,
) -> LloydResult:
    """Lloyd's K-Means from the given starting centres.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows to cluster. A C-contiguous float32 or float64 array is used in
        place, never copied; anything else is converted once (to float64 unless
        it is float32 already).
    init : array-like of shape (n_clusters, n_features)
        Starting centres.
    max_iter : int, default=300
        Maximum number of iterations.
    tol : float, default=1e-4
        Relative tolerance, as in scikit-learn: stop when the summed squared
        movement of the centres is at most ``tol`` times the mean variance of
        the columns of ``X``. The fit also stops when no label changes.
    progress : callable, optional
        Called as ``progress("K-Means iteration", i, max_iter)`` after
        iteration ``i``.

    Returns
    -------
    LloydResult
        Centres, and labels and inertia computed from those centres (a final
        assignment runs unless the labels had stopped changing).

    Raises
    ------
    ValueError
        If ``X`` is not a 2-D array of numbers, holds NaN or infinity, has fewer
        rows than ``init`` has centres, or a parameter is out of range.

    Notes
    -----
    A cluster that an iteration leaves empty takes the row farthest from its
    centre, as in scikit-learn. Results are bitwise identical for any number of
    threads.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> fit = lloyd(X, X[[0, 2]])
    >>> fit.labels.tolist(), fit.centers.tolist(), fit.inertia, fit.n_iter
    ([0, 0, 1, 1], [[0.0, 0.5], [10.0, 0.5]], 1.0, 2)
    """
    X = _check_X(X)
    centers = _check_centers(init, X, "init")
    max_iter = _check_int(max_iter, "max_iter")
    tol = _check_tol(tol)
    with _Runner(_n_chunks(X.shape[0])) as run:
        tol_abs = _tolerance(X, tol, run)
        return _fit(X, centers, max_iter, tol_abs, run, progress)


def _fit_wide(
    X: np.ndarray, centers: np.ndarray, max_iter: int, tol_abs: float
) -> LloydResult:
    """scikit-learn's Lloyd for tables too wide to compile a kernel for; the
    same iterations, tolerance and empty-cluster rule."""
    from sklearn.cluster import KMeans

    variance = float(np.mean(np.var(X, axis=0)))
    tol = tol_abs / variance if variance > 0 else 0.0
    fit = KMeans(
        centers.shape[0],
        init=centers.astype(X.dtype),
        n_init=1,
        max_iter=max_iter,
        tol=tol,
        algorithm="lloyd",
    ).fit(X)
    # scikit-learn ends with an assignment to the final centres, as _fit does.
    return LloydResult(
        fit.cluster_centers_.astype(np.float64),
        fit.labels_.astype(np.int32),
        float(fit.inertia_),
        int(fit.n_iter_),
    )


def _assign_wide(X: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, float]:
    """Nearest centres by blocks of rows with a matrix product (the lowest
    index on ties); the inertia from exact row-to-centre differences."""
    labels = np.empty(X.shape[0], dtype=np.int32)
    inertia = 0.0
    norms = np.einsum("ij,ij->i", C, C)
    for start in range(0, X.shape[0], 4096):
        block = np.asarray(X[start : start + 4096], dtype=np.float64)
        near = np.argmin(norms - 2.0 * block @ C.T, axis=1)
        labels[start : start + len(block)] = near
        inertia += float(((block - C[near]) ** 2).sum())
    return labels, inertia


def assign(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, float]:
    """The nearest centre of each row, and the inertia, in one pass.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows to assign (used in place when C-contiguous float32/float64).
    centers : array-like of shape (n_clusters, n_features)
        Centres, e.g. ``LloydResult.centers``.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int32
        Index of the nearest centre (the lowest index on ties).
    inertia : float
        Sum of the squared distances of the rows to their centre (float64).

    Examples
    --------
    >>> labels, inertia = assign(np.array([[0.0], [9.0]]), np.array([[1.0], [10.0]]))
    >>> labels.tolist(), inertia
    ([0, 1], 2.0)
    """
    X = _check_X(X)
    C = _check_centers(centers, X, "centers", fit=False)
    n, d = X.shape
    if d > MAX_COMPILED_FEATURES:
        labels, inertia = _assign_wide(X, C)
        _check_finite(inertia)
        return labels, inertia
    W, cn, nb = _pack(C, X.dtype)
    _, assign_chunks, _ = _kernels(d, nb)
    labels = np.empty(n, dtype=np.int32)
    with _Runner(_n_chunks(n)) as run:
        parts = np.zeros(run.n_chunks)
        run(assign_chunks, X, W, cn, C, labels, parts)
    inertia = float(parts.sum())
    _check_finite(inertia)
    return labels, inertia


def kmeans(
    X: np.ndarray,
    n_clusters: int,
    *,
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    random_state: int | np.random.RandomState | None = 0,
    progress: Progress | None = None,
) -> LloydResult:
    """K-Means: the best of ``n_init`` Lloyd fits, each started by k-means++.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows to cluster (used in place when C-contiguous float32/float64).
    n_clusters : int
        Number of clusters, at most ``n_samples``.
    n_init : int, default=1
        Number of fits; the one with the lowest inertia is returned (the first
        one on ties).
    max_iter, tol, progress
        As in :func:`lloyd` (``progress`` is called through every fit).
    random_state : int, RandomState or None, default=0
        Seeds the starting centres: one ``sklearn.utils.check_random_state``
        generator is drawn from fit after fit, as ``KMeans`` does.

    Returns
    -------
    LloydResult

    Notes
    -----
    Every fit starts from k-means++ (:mod:`custseg.cluster._kpp`, which picks
    the rows ``sklearn.cluster.kmeans_plusplus`` picks, faster). With at most
    :data:`KPP_SAMPLE_ROWS` rows it sees them all, and the starting centres are
    those ``KMeans(init="k-means++")`` picks for the same ``random_state``. With
    more rows it sees a uniform sample of :data:`KPP_SAMPLE_ROWS` rows, drawn
    once (its seed is the first draw from ``random_state``) and shared by the
    fits: on all rows k-means++ costs more than the whole Lloyd fit
    (about 10 s and 380 MB of temporaries at 10 million rows, 8 features and
    k = 8), while centres seeded from a sample are as good a start.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> fit = kmeans(X, 2, n_init=2, random_state=0)
    >>> sorted(np.bincount(fit.labels).tolist()), fit.inertia
    ([2, 2], 1.0)
    """
    from sklearn.utils import check_random_state

    from custseg.cluster._kpp import kmeans_plusplus

    X = _check_X(X)
    k = _check_int(n_clusters, "n_clusters")
    if k > X.shape[0]:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={k}.")
    n_init = _check_int(n_init, "n_init")
    max_iter = _check_int(max_iter, "max_iter")
    tol = _check_tol(tol)
    rs = check_random_state(random_state)
    n = X.shape[0]
    seeds_from = X
    if n > KPP_SAMPLE_ROWS:
        rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max))
        seeds_from = X[np.sort(rng.choice(n, KPP_SAMPLE_ROWS, replace=False))]
    best: LloydResult | None = None
    with _Runner(_n_chunks(n)) as run:
        tol_abs = _tolerance(X, tol, run)
        for _ in range(n_init):
            init = kmeans_plusplus(seeds_from, k, rs)
            fit = _fit(X, init, max_iter, tol_abs, run, progress)
            if best is None or fit.inertia < best.inertia:
                best = fit
    assert best is not None
    return best
