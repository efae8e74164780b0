"""Probes of how a CNN pools (Tomasini et al. 2023): channel shuffling and spatial-pooling share.

- :func:`shuffle_channels` permutes the input-channel axis of every conv
  weight (a fresh permutation per layer).  Each spatial filter survives, but
  which channel it reads is scrambled: the pooling across channels is gone
  while the spatial pooling stays.
- :func:`spatial_pooling_share` measures how much of each 3x3 filter lies on
  the constant eigenvector (eigenvalue 0) of the Laplacian of the 3x3 grid
  graph: an averaging filter has share 1, an edge detector share 0, and
  isotropic random filters 1/9 on average.
"""

import copy

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_random_state

from ._sensitivity import _resolve_module


def _conv_layers(module):
    return [(name, m) for name, m in module.named_modules()
            if isinstance(m, torch.nn.modules.conv._ConvNd)]


def shuffle_channels(model, *, random_state=None):
    """A copy of ``model`` whose conv weights have their input channels permuted, layer by layer.

    Parameters
    ----------
    model : torch.nn.Module or fitted skorch net
        Left untouched; a skorch net is copied whole, with its ``module_`` shuffled.
    random_state : int, RandomState instance or None, default=None
        Draws one permutation per conv layer.

    Returns
    -------
    shuffled : same type as ``model``

    Examples
    --------
    >>> import torch
    >>> from skintrinsic.diffeo import shuffle_channels
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(4, 2, 3))
    >>> new = shuffle_channels(net, random_state=0)
    >>> def sums(m):
    ...     return sorted(m[1].weight[0].sum((1, 2)).tolist())
    >>> sums(new) == sums(net)
    True
    """
    rng = check_random_state(random_state)
    shuffled = copy.deepcopy(model)
    module = _resolve_module(shuffled)
    with torch.no_grad():
        for _, conv in _conv_layers(module):
            # ConvTranspose weights are (in, out / groups, ...): their input axis is 0
            axis = 0 if conv.transposed else 1
            perm = torch.as_tensor(rng.permutation(conv.weight.shape[axis]),
                                   device=conv.weight.device)
            conv.weight.copy_(conv.weight.index_select(axis, perm))
    return shuffled


def grid_laplacian(side=3):
    """Laplacian ``L = deg - adjacency`` of the ``side x side`` 4-neighbour grid, row-major."""
    n = side * side
    adjacency = np.zeros((n, n))
    for y in range(side):
        for x in range(side):
            i = y * side + x
            if x + 1 < side:
                adjacency[i, i + 1] = adjacency[i + 1, i] = 1
            if y + 1 < side:
                adjacency[i, i + side] = adjacency[i + side, i] = 1
    return np.diag(adjacency.sum(axis=1)) - adjacency


def _constant_mode(side=3):
    values, vectors = np.linalg.eigh(grid_laplacian(side))
    # the grid is connected: exactly one zero eigenvalue, whose eigenvector is constant
    return vectors[:, np.argmin(values)]


def spatial_pooling_share(model, *, layers=None):
    """Mean share of the 3x3 filters of each conv layer on the Laplacian's constant eigenvector.

    For a filter ``w`` (one output channel, one input channel) the share is
    ``(w . u0)^2 / ||w||^2`` with ``u0`` the unit eigenvector of eigenvalue 0
    of the 3x3 grid-graph Laplacian; all-zero filters are left out.

    Parameters
    ----------
    model : torch.nn.Module or fitted skorch net
    layers : list of str, default=None
        Conv layers to read; ``None`` reads every ``Conv2d`` with 3x3 kernels.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``layer``, ``depth`` (1, 2, ... among the conv layers read),
        ``share`` and ``n_filters``.

    Examples
    --------
    >>> import torch
    >>> from skintrinsic.diffeo import spatial_pooling_share
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.fill_(1.0)
    >>> spatial_pooling_share(net)["share"].round(6).tolist()
    [1.0]
    """
    module = _resolve_module(model)
    convs = dict(_conv_layers(module))
    valid = [name for name, m in convs.items()
             if isinstance(m, torch.nn.Conv2d) and tuple(m.kernel_size) == (3, 3)]
    names = valid if layers is None else list(layers)
    for name in names:
        if name not in valid:
            raise ValueError(
                f"layer {name!r} is not a Conv2d with 3x3 kernels; the spatial-pooling share is "
                f"defined for those. 3x3 conv layers of this model: {valid}."
            )
    u0 = _constant_mode(3)
    rows = []
    for depth, name in enumerate(names, start=1):
        w = convs[name].weight.detach().cpu().double().numpy().reshape(-1, 9)
        norm2 = np.einsum("ij,ij->i", w, w)
        keep = norm2 > 0
        share = (w[keep] @ u0) ** 2 / norm2[keep]
        rows.append((name, depth, float(share.mean()) if share.size else np.nan, int(keep.sum())))
    return pd.DataFrame(rows, columns=["layer", "depth", "share", "n_filters"])
