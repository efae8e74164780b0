"""The constant-filter model: spec reference values, depth slopes, and a torch network as oracle."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from skintrinsic.diffeo import (
    DiffeoSensitivity,
    constant_filter_sensitivity,
    depth_scaling_exponents,
)
from skintrinsic.diffeo._constant_filter import THEORY


def torch_constant_cnn(n_layers, stride, periodic):
    """The model built from torch layers: convolutions with all-ones filters of size 2, ReLU."""

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = torch.nn.ModuleList()
            for _ in range(n_layers):
                conv = torch.nn.Conv1d(1, 1, 2, stride=stride, bias=False)
                torch.nn.init.ones_(conv.weight)
                self.convs.append(conv)
            self.relus = torch.nn.ModuleList(torch.nn.ReLU() for _ in range(n_layers))

        def forward(self, x):
            for conv, relu in zip(self.convs, self.relus):
                x = relu(conv(F.pad(x, (0, 1), mode="circular") if periodic else x))
            return x

    return Net().double()


def test_stride_two_reproduces_the_reference_values():
    ring = constant_filter_sensitivity(512, 5, stride=2, boundary="periodic")
    np.testing.assert_allclose(ring["D"], [0.502, 0.252, 0.127, 0.0645, 0.0333], rtol=2e-3)
    line = constant_filter_sensitivity(513, 6, stride=2, boundary="open")
    np.testing.assert_allclose(line["D"][:5], [0.502, 0.252, 0.127, 0.0645, 0.0333], rtol=0.02)
    # R falls by about 1/4 per layer once the finite-size effects of the first layers fade
    ratios = (line["R"].to_numpy()[3:6] / line["R"].to_numpy()[2:5])
    assert np.all((ratios > 0.2) & (ratios < 0.31))


@pytest.mark.parametrize("boundary, n_input", [("open", 513), ("periodic", 512)])
def test_stride_two_slopes(boundary, n_input):
    table = constant_filter_sensitivity(n_input, 6, stride=2, boundary=boundary)
    scale, theory = THEORY[2]
    got = depth_scaling_exponents(table, k_min=3, k_max=6, scale=scale)
    for name in ("D", "G", "R"):
        assert got[name] == pytest.approx(theory[name], abs=0.15), name


def test_stride_one_slopes_between_32_and_64():
    table = constant_filter_sensitivity(512, 64, stride=1, boundary="open")
    two_point = table.set_index("depth").loc[[32, 64]]
    slope = np.log(two_point.iloc[1] / two_point.iloc[0]) / math.log(2)
    # the spec's measured reference values
    assert slope["D"] == pytest.approx(-0.97, abs=0.02)
    assert slope["G"] == pytest.approx(0.43, abs=0.02)
    scale, theory = THEORY[1]
    got = depth_scaling_exponents(table, k_min=32, k_max=64, scale=scale)
    for name in ("D", "G", "R"):
        assert got[name] == pytest.approx(theory[name], abs=0.15), name
    # with a tiny input the finite-size effects give other slopes (the spec's warning)
    tiny = constant_filter_sensitivity(16, 12, stride=1, boundary="open")
    assert abs(depth_scaling_exponents(tiny, k_min=6, k_max=12, scale=scale)["D"] + 1.0) > 0.15


@pytest.mark.parametrize("stride", [2, 1])
def test_d_on_the_ring_matches_a_torch_network_probed_by_diffeo_sensitivity(stride):
    n, layers = 32, 4
    net = torch_constant_cnn(layers, stride, periodic=True)
    # on the ring both moves average alike, so one deterministic roll gives the exact D
    probe = DiffeoSensitivity(net, layers=[f"relus.{k}" for k in range(layers)],
                              perturbation=lambda x, random_state=None: np.roll(x, 1, -1),
                              random_state=0).fit(np.eye(n)[:, None, :])
    table = constant_filter_sensitivity(n, layers, stride=stride, boundary="periodic")
    np.testing.assert_allclose(probe.sensitivity_["D"].to_numpy()[:layers], table["D"], rtol=1e-12)


def test_d_on_the_open_line_matches_a_torch_network():
    n, layers = 32, 4
    with torch.no_grad():
        net = torch_constant_cnn(layers, 1, periodic=False)
        f = net(torch.eye(n, dtype=torch.float64)[:, None])
    f = f[:, 0].numpy()
    assert f.shape == (n, n - layers)
    step = ((f[1:] - f[:-1]) ** 2).sum(1)
    per_site = np.r_[step[0], (step[1:] + step[:-1]) / 2, step[-1]]  # end sites move inward only
    pairs = ((f[:, None] - f[None]) ** 2).sum(-1).mean()
    table = constant_filter_sensitivity(n, layers, stride=1, boundary="open")
    assert table["D"].iloc[-1] == pytest.approx(per_site.mean() / pairs, rel=1e-12)


def test_g_closed_form_matches_monte_carlo_with_rectified_matched_noise():
    n, layers, stride = 64, 3, 2
    net = torch_constant_cnn(layers, stride, periodic=True)
    rng = np.random.default_rng(0)
    eta = rng.standard_normal((4000, 1, n))
    eta *= math.sqrt(2) / np.linalg.norm(eta, axis=(1, 2), keepdims=True)  # ||tau x - x|| = sqrt 2
    x = np.zeros((4000, 1, n))
    x[np.arange(4000), 0, rng.integers(0, n, 4000)] = 1.0
    with torch.no_grad():
        diff = net(torch.from_numpy(x + np.maximum(eta, 0))) - net(torch.from_numpy(x))
    numerator = (diff.numpy() ** 2).sum(axis=(1, 2)).mean()
    f = net(torch.from_numpy(np.eye(n)[:, None])).detach().numpy()[:, 0]
    den = ((f[:, None] - f[None]) ** 2).sum(-1).mean()
    table = constant_filter_sensitivity(n, layers, stride=stride)
    assert table["G"].iloc[-1] == pytest.approx(numerator / den, rel=0.03)


def test_errors():
    with pytest.raises(ValueError, match="multiple of stride"):
        constant_filter_sensitivity(100, 5, stride=2, boundary="periodic")
    with pytest.raises(ValueError, match="no output"):
        constant_filter_sensitivity(8, 9, stride=1, boundary="open")
    table = constant_filter_sensitivity(64, 3)
    with pytest.raises(ValueError, match="at least 2 depths"):
        depth_scaling_exponents(table, k_min=3)
    with pytest.raises(ValueError, match="scale"):
        depth_scaling_exponents(table, scale="linear")
