"""Pooling probes: channel shuffling and the Laplacian spatial-pooling share of 3x3 filters."""

import numpy as np
import pytest
import torch

from skintrinsic.diffeo import shuffle_channels, spatial_pooling_share
from skintrinsic.diffeo._pooling import grid_laplacian


def net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 4, 1), torch.nn.Flatten(),
    )


def recover_permutation(new, old):
    """The permutation p with new[:, j] == old[:, p[j]], found by matching filters."""
    perm = []
    for j in range(new.shape[1]):
        match = [k for k in range(old.shape[1]) if torch.equal(new[:, j], old[:, k])]
        assert len(match) == 1
        perm.append(match[0])
    return perm


def test_shuffle_permutes_input_channels_with_a_fresh_permutation_per_layer():
    model = net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    new = shuffle_channels(model, random_state=0)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # untouched
    perms = [recover_permutation(new[i].weight, model[i].weight) for i in (0, 2, 4)]
    for p, layer in zip(perms, (0, 2, 4)):
        assert sorted(p) == list(range(model[layer].in_channels))
        # every output filter gets the same permutation: spatial filters kept, channels moved
        np.testing.assert_array_equal(new[layer].weight.detach().numpy(),
                                      model[layer].weight.detach().numpy()[:, p])
        assert torch.equal(new[layer].bias, model[layer].bias)
    assert perms[1] != list(range(16)) and perms[2] != list(range(16)) and perms[1] != perms[2]
    # the second layer now reads the first layer's channels in another order
    x = torch.randn(2, 3, 7, 7)
    h = model[1](model[0](x))
    # new[:, j] = old[:, p[j]]: the shuffled layer is the old one reading channel p^-1(k) as k
    inv = torch.as_tensor(np.argsort(perms[1]))
    with torch.no_grad():
        got = new[2](h)
        reordered = torch.nn.functional.conv2d(h[:, inv], model[2].weight, model[2].bias)
        unchanged = model[2](h)
    torch.testing.assert_close(got, reordered)
    assert not torch.allclose(got, unchanged)
    again = shuffle_channels(model, random_state=0)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
                                                 new.state_dict().values()))


def test_shuffle_a_skorch_like_net_copies_it_whole():
    class Fake:
        def __init__(self, module):
            self.module_ = module

    fake = Fake(net())
    out = shuffle_channels(fake, random_state=1)
    assert isinstance(out, Fake) and out.module_ is not fake.module_
    assert not torch.equal(out.module_[2].weight, fake.module_[2].weight)


def test_grid_laplacian_and_share_closed_form():
    L = grid_laplacian(3)
    assert np.allclose(L, L.T) and np.allclose(L.sum(axis=1), 0)
    assert L[4, 4] == 4 and L[0, 0] == 2 and L[1, 1] == 3  # centre, corner, edge degrees
    values = np.linalg.eigvalsh(L)
    assert np.sum(np.abs(values) < 1e-12) == 1
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 5, 3))
    w = model[0].weight.detach().double().numpy().reshape(-1, 9)
    expected = np.mean(w.sum(1) ** 2 / (9 * (w**2).sum(1)))  # u0 = 1/3: (sum w)^2 / (9 ||w||^2)
    table = spatial_pooling_share(model)
    assert table.loc[0, "share"] == pytest.approx(expected, rel=1e-12)
    assert table.loc[0, "n_filters"] == 10


def test_share_of_averaging_edge_and_random_filters():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Conv2d(2, 3000, 3),
                                torch.nn.Conv2d(3000, 1, 5))
    with torch.no_grad():
        model[0].weight[0] = 1.0
        model[0].weight[1] = torch.tensor([[0., 1., 0.], [1., -4., 1.], [0., 1., 0.]])
        torch.nn.init.normal_(model[1].weight)
    table = spatial_pooling_share(model)
    assert list(table["layer"]) == ["0", "1"]  # the 5x5 conv is not read
    assert table.loc[0, "share"] == pytest.approx(0.5)  # mean of 1 (averaging) and 0 (Laplacian)
    # isotropic Gaussian filters: share ~ Beta(1/2, 4), mean 1/9
    assert table.loc[1, "share"] == pytest.approx(1 / 9, abs=0.01)
    with pytest.raises(ValueError, match="not a Conv2d with 3x3 kernels"):
        spatial_pooling_share(model, layers=["2"])
