"""The big-M MILP of a Dense+ReLU chain on an input box, from its sparse matrices and its bounds, in HiGHS.

For the chain h_0 = x ∈ [lo, hi], z_k = h_{k−1} @ W_k + b_k, h_k = relu(z_k) and the bounds l_k ≤ z_k ≤ u_k
on the box (hw5.convert.bounds), each hidden neuron is, by its bounds:

    always active (l ≥ 0)     h = z                                   one equation, h ∈ [l, u]
    unstable (l < 0 < u)      h ≥ z,  h ≤ z − l·(1 − q),  h ≤ u·q       three rows, h ∈ [0, u], q ∈ {0, 1}
                              (q = 1: h = z ≥ 0; q = 0: h = 0 ≥ z)

and an always-inactive one (u ≤ 0) is not there (hw5.convert.bounds.pruned drops it). Only the unstable ones
cost a binary. Rows are written from the matrices' non-zeros only. A query (c, j) maximises
y_j − y_c = h_{L−1} @ (W_L[:, j] − W_L[:, c]) + b_L[j] − b_L[c], a linear objective on the last hidden layer,
and stops at the first point reaching −margin (HiGHS' objective_target): "sat"; "unsat" when HiGHS' dual bound
on the maximum is below −margin.

`BigMHighs(net, lo, hi)`: the model (net pruned, its bounds computed here); `.maximise(c, j, seconds)` → HiGHS'
maximum, bound and point (hw5.convert.engines' `highs` turns it into a query's answer); `.size` = (variables,
rows, binaries).
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp

from hw5.convert.bounds import dense_layers, interval_bounds, stable_masks


@contextmanager
def quiet_stdout():
    """File descriptor 1 sent to /dev/null (HiGHS prints its banner from C++ when a model is created)."""
    import sys

    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _rows(Wt, prev, h, which, q=None, q_coef=None) -> tuple:
    """COO (rows, cols, values) of h_i − Σ_r W_ri·prev_r (+ q_coef_i·q_i) for the neurons `which` (sorted), row i
    of the block for which[i]; Wt the layer's transposed matrix as COO, prev/h/q the columns' indices."""
    pick = np.isin(Wt.row, which)
    r = [np.searchsorted(which, Wt.row[pick]), np.arange(which.size)]
    c = [prev[Wt.col[pick]], h[which]]
    v = [-Wt.data[pick], np.ones(which.size)]
    if q is not None:
        r.append(np.arange(which.size))
        c.append(q)
        v.append(q_coef)
    return np.concatenate(r), np.concatenate(c), np.concatenate(v)


def _csr(W) -> sp.csr_matrix:
    return (W if sp.issparse(W) else sp.csr_matrix(np.asarray(W))).astype(np.float64).tocsr()


class BigMHighs:
    def __init__(self, net, lo, hi):
        import highspy

        self.hs = highspy
        bounds = interval_bounds(net, lo, hi)
        dense = dense_layers(net)
        with quiet_stdout():
            self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        n0 = len(lo)
        col_lo, col_hi = [np.asarray(lo, np.float64)], [np.asarray(hi, np.float64)]
        rows, row_lo, row_hi = [], [], []          # each a (coo of the global matrix, lower, upper)
        prev = np.arange(n0)
        ncols = n0
        binaries = 0
        for k, layer in enumerate(dense[:-1]):
            l_k, u_k = bounds.lower[k], bounds.upper[k]
            active, inactive = stable_masks(bounds)[k]
            if inactive.any():
                raise ValueError("net: always-inactive neurons left in it; prune it first (hw5.convert.bounds.pruned)")
            n = l_k.size
            h = np.arange(ncols, ncols + n)
            ncols += n
            unstable = np.flatnonzero(~active)
            q = np.arange(ncols, ncols + unstable.size)
            ncols += unstable.size
            binaries += unstable.size
            col_lo += [np.where(active, l_k, 0.0), np.zeros(unstable.size)]
            col_hi += [u_k, np.ones(unstable.size)]
            Wt = _csr(layer.W).T.tocoo()               # (n, fan_in): row i is neuron i's weights
            b = np.asarray(layer.b, np.float64)

            act = np.flatnonzero(active)
            rows.append(_rows(Wt, prev, h, act)), row_lo.append(b[act]), row_hi.append(b[act])          # h = z
            rows.append(_rows(Wt, prev, h, unstable))                                               # h ≥ z
            row_lo.append(b[unstable]), row_hi.append(np.full(unstable.size, np.inf))
            lu = l_k[unstable]                                                            # h − z − l·q ≤ −l
            rows.append(_rows(Wt, prev, h, unstable, q, -lu)), row_lo.append(np.full(unstable.size, -np.inf))
            row_hi.append(b[unstable] - lu)
            rows.append((np.arange(unstable.size).repeat(2), np.stack([h[unstable], q], 1).ravel(),   # h − u·q ≤ 0
                         np.stack([np.ones(unstable.size), -u_k[unstable]], 1).ravel()))
            row_lo.append(np.full(unstable.size, -np.inf)), row_hi.append(np.zeros(unstable.size))
            prev = h
        nrows = self._add(ncols, np.concatenate(col_lo), np.concatenate(col_hi), rows, row_lo, row_hi)
        if binaries:
            ints = np.flatnonzero(np.concatenate([np.zeros(n0, bool)] + [
                np.concatenate([np.zeros(lo_.size, bool), np.ones(int((lo_ < 0).sum()), bool)])
                for lo_, _ in bounds.hidden]))
            self.h.changeColsIntegrality(ints.size, ints.astype(np.int32),
                                         np.full(ints.size, int(highspy.HighsVarType.kInteger), np.uint8))
        self.h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        self.last, self.n0, self.bounds = prev, n0, bounds
        self.W, self.b = _csr(dense[-1].W).toarray(), np.asarray(dense[-1].b, np.float64)
        self.size = (ncols, nrows, binaries)

    def _add(self, ncols, col_lo, col_hi, rows, row_lo, row_hi) -> int:
        self.h.addCols(ncols, np.zeros(ncols), col_lo, col_hi, 0, np.zeros(ncols, np.int32),
                       np.zeros(0, np.int32), np.zeros(0))
        offset = 0
        r_all, c_all, v_all = [], [], []
        for r, c, v in rows:
            r_all.append(r + offset)
            c_all.append(c)
            v_all.append(v)
            offset += int(r.max(initial=-1)) + 1
        A = sp.csr_matrix((np.concatenate(v_all), (np.concatenate(r_all), np.concatenate(c_all))),
                          shape=(offset, ncols))
        inf = self.h.getInfinity()
        lower = np.clip(np.concatenate(row_lo), -inf, inf)
        upper = np.clip(np.concatenate(row_hi), -inf, inf)
        self.h.addRows(offset, lower, upper, A.nnz, A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32),
                       A.data)
        return offset

    def maximise(self, c: int, j: int, seconds: float, target: float = np.inf) -> tuple:
        """(status, best, bound, point): HiGHS' search for max y_j − y_c on the box, stopped at the first point
        reaching `target`, or out of `seconds`. best: the value at `point` (flat inputs), None without a
        feasible point; bound: HiGHS' dual bound on the maximum (None if infeasible)."""
        hs = self.hs
        cost = self.W[:, j] - self.W[:, c]
        self.h.changeColsCost(self.last.size, self.last.astype(np.int32), cost)
        self.h.changeObjectiveOffset(float(self.b[j] - self.b[c]))
        self.h.setOptionValue("time_limit", float(max(seconds, 0.01)))
        self.h.setOptionValue("objective_target", float(min(target, self.h.getInfinity())))
        self.h.run()
        status, info = self.h.getModelStatus(), self.h.getInfo()
        feasible = info.primal_solution_status == 2   # kSolutionStatusFeasible
        best = float(info.objective_function_value) if feasible else None
        bound = float(info.mip_dual_bound) if status != hs.HighsModelStatus.kInfeasible else None
        point = np.asarray(self.h.getSolution().col_value[:self.n0], np.float64) if feasible else None
        return self.h.modelStatusToString(status), best, bound, point

    def close(self) -> None:
        pass
