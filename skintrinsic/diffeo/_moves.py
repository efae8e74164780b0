"""The deformation of sparse images: each active pixel moves by one pixel (Tomasini et al. 2023).

A smooth field barely moves an isolated pixel, and bilinear reading smears it;
for images made of a few active pixels the natural small deformation is a
one-pixel move of each of them.
"""

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._validation import check_real

_STEPS = {1: np.array([[-1], [1]]), 2: np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])}


def _spatial_layout(shape, spatial_ndim):
    """``(channels, spatial_shape)`` of samples of array shape ``shape`` = ``(n, ...)``."""
    ndim = len(shape)
    if spatial_ndim is None:
        if ndim == 2 or (ndim == 3 and shape[1] == 1):
            spatial_ndim = 1
        elif ndim in (3, 4):
            spatial_ndim = 2
        else:
            raise ValueError(
                f"cannot tell the spatial axes of an array of shape {shape}; pass spatial_ndim=1 "
                "for signals (n, length) / (n, channels, length), or 2 for images "
                "(n, height, width) / (n, channels, height, width)."
            )
    if spatial_ndim not in (1, 2):
        raise ValueError(f"spatial_ndim must be 1 or 2, got {spatial_ndim!r}.")
    if ndim - 1 not in (spatial_ndim, spatial_ndim + 1):
        raise ValueError(
            f"an array of shape {shape} does not hold {spatial_ndim}-D samples with an optional "
            "channel axis."
        )
    spatial = tuple(shape[-spatial_ndim:])
    channels = shape[1] if ndim - 1 == spatial_ndim + 1 else 1
    return channels, spatial


def sparse_moves(X, *, spatial_ndim=None, periodic=False, block_size=None, random_state=None):
    """Move every active (non-zero) pixel of each sample by one pixel in a random direction.

    Each active pixel, one after the other, picks uniformly among its allowed
    moves: the 2 neighbours of a 1-D signal or the 4 of an image, excluding
    sites outside the sample (unless ``periodic``), sites that another active
    pixel occupies, and, with ``block_size``, sites in another block.  Picking
    among the allowed moves is the same as proposing a random move and
    rejecting it until it is allowed.  A pixel with no allowed move stays.
    All channels of a pixel move together.

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n_samples, ...)
        ``(n, length)`` or ``(n, channels, length)`` signals, or
        ``(n, height, width)`` or ``(n, channels, height, width)`` images.
    spatial_ndim : {1, 2}, default=None
        Number of spatial axes; ``None`` infers it: 2-D arrays and
        ``(n, 1, length)`` are signals, other 3-D and 4-D arrays are images.
    periodic : bool, default=False
        Wrap moves around the edges.
    block_size : int, default=None
        1-D only: reject moves that change the block ``index // block_size``
        (task 2 of the 1-D scale-detection problem).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    moved : same type, shape and dtype as ``X``

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.diffeo import sparse_moves
    >>> x = np.zeros((1, 8)); x[0, 3] = 1.0
    >>> int(np.flatnonzero(sparse_moves(x, random_state=0)[0])[0]) in (2, 4)
    True
    """
    check_real(X, "X")
    is_tensor = torch.is_tensor(X)
    array = X.detach().cpu().numpy() if is_tensor else np.asarray(X)
    channels, spatial = _spatial_layout(array.shape, spatial_ndim)
    if block_size is not None and len(spatial) != 1:
        raise ValueError("block_size applies to 1-D signals only; pass block_size=None for images.")
    if block_size is not None and block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}.")
    rng = check_random_state(random_state)
    n = array.shape[0]
    out = array.reshape((n, channels) + spatial).copy()
    occupied = np.any(out != 0, axis=1)
    sample, *position = np.nonzero(occupied)
    position = np.stack(position, axis=1)
    # rank of each active pixel within its sample; pixels of equal rank move together
    first = np.searchsorted(sample, np.arange(n))
    rank = np.arange(sample.size) - first[sample]
    steps = _STEPS[len(spatial)]
    extent = np.array(spatial)
    for r in range(int(rank.max()) + 1 if rank.size else 0):
        sel = rank == r
        s, old = sample[sel], position[sel]
        new = old[:, None, :] + steps[None, :, :]
        if periodic:
            new %= extent
        allowed = np.all((new >= 0) & (new < extent), axis=2)
        new_c = np.clip(new, 0, extent - 1)
        allowed &= ~occupied[(s[:, None],) + tuple(new_c[..., a] for a in range(len(spatial)))]
        if block_size is not None:
            allowed &= (new_c[..., 0] // block_size) == (old[:, None, 0] // block_size)
        keys = np.where(allowed, rng.random_sample(allowed.shape), -1.0)
        choice = np.argmax(keys, axis=1)
        moves = keys[np.arange(s.size), choice] >= 0
        s, old = s[moves], old[moves]
        target = new_c[moves, choice[moves]]
        old_idx = (s, slice(None)) + tuple(old.T)
        new_idx = (s, slice(None)) + tuple(target.T)
        values = out[old_idx].copy()
        out[old_idx] = 0
        out[new_idx] = values
        occupied[(s,) + tuple(old.T)] = False
        occupied[(s,) + tuple(target.T)] = True
    out = out.reshape(array.shape)
    if is_tensor:
        return torch.from_numpy(out).to(X.device)
    return out
