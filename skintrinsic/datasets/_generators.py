"""Point clouds of known intrinsic dimension, the oracles for every dimension estimator."""

import math
import numbers

import numpy as np
from scipy.stats import ortho_group
from sklearn.utils import check_random_state

from .._validation import check_memory, is_integer


def _embed(Z, ambient_dim, rng):
    """Rotate ``Z`` (n, m) into ``ambient_dim`` dimensions by a random orthonormal map."""
    n, m = Z.shape
    if ambient_dim < m:
        raise ValueError(
            f"ambient_dim={ambient_dim} is smaller than the {m} coordinates the manifold needs; "
            f"pass ambient_dim >= {m}."
        )
    if ambient_dim == m:
        return Z
    basis = ortho_group.rvs(ambient_dim, random_state=rng)[:, :m] if ambient_dim <= 512 else \
        np.linalg.qr(rng.standard_normal((ambient_dim, m)))[0]
    return Z @ basis.T


def _check(n_samples, dimension, ambient_dim, coordinates):
    """Positive ints, and an output (with its work copies) that fits in memory."""
    for name, value in (("n_samples", n_samples), ("dimension", dimension),
                        ("ambient_dim", ambient_dim)):
        if name == "ambient_dim" and value is None:
            continue
        if not is_integer(value) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
    width = max(coordinates, ambient_dim or 0)
    check_memory(3 * 8 * n_samples * width,
                 what=f"{n_samples} samples of {width} coordinates",
                 fix="Pass a smaller n_samples or ambient_dim.")


def make_hypercube(n_samples, dimension, ambient_dim=None, *, random_state=None):
    """Uniform samples of the unit ``dimension``-cube, isometrically embedded in ``ambient_dim``.

    Parameters
    ----------
    n_samples : int
    dimension : int
        Intrinsic dimension d.
    ambient_dim : int, default=None
        Embedding dimension D >= d (a random rotation); ``None`` means D = d.
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_samples, ambient_dim)

    Examples
    --------
    >>> from skintrinsic.datasets import make_hypercube
    >>> make_hypercube(100, 3, 10, random_state=0).shape
    (100, 10)
    """
    _check(n_samples, dimension, ambient_dim, dimension)
    rng = check_random_state(random_state)
    Z = rng.uniform(size=(n_samples, dimension))
    return _embed(Z, ambient_dim or dimension, rng)


def make_sphere(n_samples, dimension, ambient_dim=None, *, random_state=None):
    """Uniform samples of the unit ``dimension``-sphere S^d (in R^(d+1)), embedded in ``ambient_dim``.

    Parameters
    ----------
    n_samples : int
    dimension : int
        Intrinsic dimension d of the sphere S^d.
    ambient_dim : int, default=None
        Embedding dimension D >= d + 1; ``None`` means D = d + 1.
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_samples, ambient_dim)

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.datasets import make_sphere
    >>> X = make_sphere(50, 2, random_state=0)
    >>> np.allclose(np.linalg.norm(X, axis=1), 1)
    True
    """
    _check(n_samples, dimension, ambient_dim, dimension + 1 if is_integer(dimension) else 1)
    rng = check_random_state(random_state)
    Z = rng.standard_normal((n_samples, dimension + 1))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    return _embed(Z, ambient_dim or dimension + 1, rng)


def make_linear_manifold(n_samples, dimension, ambient_dim, *, noise=0.0, random_state=None):
    """Gaussian samples of a random ``dimension``-dimensional linear subspace of R^ambient_dim.

    Parameters
    ----------
    n_samples : int
    dimension : int
    ambient_dim : int
    noise : float, default=0.0
        Standard deviation of isotropic Gaussian noise added in all ambient directions.
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_samples, ambient_dim)

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.datasets import make_linear_manifold
    >>> X = make_linear_manifold(40, 3, 8, random_state=0)
    >>> int(np.linalg.matrix_rank(X))
    3
    """
    _check(n_samples, dimension, ambient_dim, dimension)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) \
            or not 0 <= noise < math.inf:
        raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise!r}.")
    rng = check_random_state(random_state)
    X = _embed(rng.standard_normal((n_samples, dimension)), ambient_dim, rng)
    if noise:
        X = X + noise * rng.standard_normal(X.shape)
    return X
