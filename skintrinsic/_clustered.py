"""Cluster-robust inference for least squares: the CR2 covariance and its degrees of freedom.

Used by :class:`~skintrinsic.ScalingLawRegressor` when runs come in groups (the
datasets of a study) whose errors are not independent.
"""

import numpy as np
import pandas as pd


def group_codes(groups, n):
    """Integer codes 0..G-1 of ``n`` group labels; at least two groups."""
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n:
        raise ValueError(
            f"groups must hold one label per sample (shape ({n},)), got shape {groups.shape}. "
            "Pass the dataset of each run, e.g. study.results['dataset']."
        )
    if pd.isna(groups).any():
        raise ValueError("groups holds missing values; give every run its dataset.")
    try:
        _, codes = np.unique(groups, return_inverse=True)
    except TypeError:
        raise TypeError("groups must be labels of one comparable type (e.g. dataset names).") \
            from None
    if codes.max() < 1:
        raise ValueError(
            "groups holds a single group: clustered intervals need at least 2 (in practice a "
            "few) datasets. Fit without groups, and read the intervals as within one dataset."
        )
    return codes.ravel()


def _inverse_sqrt_psd(M):
    """``M^(-1/2)`` of a symmetric positive semi-definite matrix (pseudo-inverse on its kernel)."""
    w, v = np.linalg.eigh(M)
    tol = max(M.shape) * np.finfo(float).eps * max(float(w.max(initial=0.0)), 1.0)
    inv = np.where(w > tol, 1.0 / np.sqrt(np.clip(w, tol, None)), 0.0)
    return (v * inv) @ v.T


def cluster_covariance(A, residual, codes, bread):
    """CR2 cluster-robust covariance and Bell-McCaffrey degrees of freedom per coefficient.

    CR2 (Bell & McCaffrey 2002) rescales each cluster's residuals by
    ``(I - H_gg)^(-1/2)``, which makes the variance estimator unbiased when the
    errors are independent and homoscedastic, and the degrees of freedom come
    from a Satterthwaite approximation of its law under that model.  With few
    clusters both matter: the plain sandwich (CR0/CR1) with ``G - 1`` degrees of
    freedom under-covers badly.  The number of runs is small (hundreds at
    most), so the ``n x n`` residual-maker matrix is affordable.
    """
    n, p = A.shape
    n_groups = int(codes.max() + 1)
    members = [np.flatnonzero(codes == g) for g in range(n_groups)]
    hat = A @ bread @ A.T
    adjust = [_inverse_sqrt_psd(np.eye(idx.size) - hat[np.ix_(idx, idx)]) for idx in members]
    meat = np.zeros((p, p))
    for idx, B in zip(members, adjust):
        score = A[idx].T @ (B @ residual[idx])
        meat += np.outer(score, score)
    cov = bread @ meat @ bread
    maker = np.eye(n) - hat
    dof = np.empty(p)
    for j in range(p):
        # c'Vc = sum_g (w_g' e_g)^2 with e = (I - H) eps: a quadratic form in eps
        columns = np.zeros((n, n_groups))
        for g, (idx, B) in enumerate(zip(members, adjust)):
            w = np.zeros(n)
            w[idx] = B @ (A[idx] @ bread[:, j])
            columns[:, g] = maker @ w
        lam = np.linalg.eigvalsh(columns.T @ columns)
        dof[j] = lam.sum() ** 2 / (lam ** 2).sum() if lam.sum() > 0 else 1.0
    return cov, dof
