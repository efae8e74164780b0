"""Random diffeomorphisms, matched noise and sparse moves against closed forms and oracles."""

import math

import numpy as np
import pytest
import torch
from sklearn.utils import check_random_state

from skintrinsic.diffeo import (
    matched_noise,
    random_diffeo,
    sparse_moves,
    temperature_range,
    typical_displacement,
    typical_temperature,
)
from skintrinsic.diffeo._sampler import _draw_coefficients, _modes, _remap


# ------------------------------------------------------------------ oracles written from the spec

def reference_field(coeffs, n, temperature):
    """Per image, per component, per pixel: sqrt(T) n sum_ij C_ij sin(i pi x) sin(j pi y)."""
    grid = [k / (n - 1) for k in range(n)]
    out = np.zeros(coeffs.shape[:2] + (n, n))
    for b in range(coeffs.shape[0]):
        for comp in range(2):
            for i in range(coeffs.shape[2]):
                for j in range(coeffs.shape[3]):
                    c = coeffs[b, comp, i, j]
                    if c == 0.0:
                        continue
                    sx = np.array([math.sin((i + 1) * math.pi * u) for u in grid])
                    sy = np.array([math.sin((j + 1) * math.pi * u) for u in grid])
                    out[b, comp] += c * sy[:, None] * sx[None, :]
    out[:, :, 0, :] = out[:, :, -1, :] = out[:, :, :, 0] = out[:, :, :, -1] = 0.0
    return out * math.sqrt(temperature) * n


def reference_bilinear(image, dx, dy):
    """out[y, x] = image at (y - dy, x - dx), coordinates clamped to the image, bilinear."""
    h, w = image.shape
    out = np.empty_like(image)
    for y in range(h):
        for x in range(w):
            xs = min(max(x - dx[y, x], 0.0), w - 1.0)
            ys = min(max(y - dy[y, x], 0.0), h - 1.0)
            x0, y0 = int(math.floor(xs)), int(math.floor(ys))
            x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
            ax, ay = xs - x0, ys - y0
            out[y, x] = ((1 - ay) * (1 - ax) * image[y0, x0] + (1 - ay) * ax * image[y0, x1]
                         + ay * (1 - ax) * image[y1, x0] + ay * ax * image[y1, x1])
    return out


# ------------------------------------------------------------------ closed forms of the spec

@pytest.mark.parametrize("n, c, t_min, t_max", [(32, 3, 2.830e-4, 1.305e-2)])
def test_temperature_range_matches_spec_table(n, c, t_min, t_max):
    lo, hi = temperature_range(n, c)
    assert lo == pytest.approx(t_min, rel=2e-4)
    assert hi == pytest.approx(t_max, rel=5e-4)
    assert lo == pytest.approx(1 / (math.pi * n**2 * math.log(c)), rel=1e-14)
    assert hi == pytest.approx(4 / (math.pi**3 * c**2 * math.log(c)), rel=1e-14)


@pytest.mark.parametrize("n, value", [(32, 1.1318e-3), (28, 1.4783e-3)])
def test_typical_temperature_matches_spec_table(n, value):
    assert typical_temperature(1, 3, n) == pytest.approx(value, rel=1e-4)
    # T_min is the temperature of a half-pixel displacement
    assert typical_temperature(0.5, 3, n) == pytest.approx(temperature_range(n, 3)[0], rel=1e-12)
    assert typical_displacement(typical_temperature(2.5, 5, n), 5, n) == pytest.approx(2.5)


@pytest.mark.parametrize("cutoff, count", [(3, 6), (5, 19), (15, 172)])
def test_mode_counts(cutoff, count):
    i, j = _modes(cutoff)
    assert i.size == count
    brute = sum(1 for a in range(1, 40) for b in range(1, 40) if math.hypot(a, b) < cutoff + 0.5)
    assert brute == count


def test_coefficient_variances_recovered_by_discrete_sine_transform():
    """Fields projected on the sine basis: variance 1/(i^2+j^2) in the mode set, 0 outside."""
    n, c, T = 16, 3, 1.0
    X = np.zeros((3000, 1, n, n))
    _, disp = random_diffeo(X, T, c, random_state=0, return_displacement=True)
    u = np.arange(n) / (n - 1)
    k = np.arange(1, 6)
    S = np.sin(np.pi * u[:, None] * k[None, :])  # discrete orthogonality: S^T S = (n-1)/2 I
    coeffs = np.einsum("bcyx,xi,yj->bcij", disp, S, S) * (2 / (n - 1)) ** 2 / (math.sqrt(T) * n)
    var = coeffs.var(axis=(0, 1))
    inside = np.hypot(k[:, None], k[None, :]) < c + 0.5
    expected = 1.0 / (k[:, None] ** 2 + k[None, :] ** 2)
    np.testing.assert_allclose(var[inside], expected[inside], rtol=0.08)
    np.testing.assert_allclose(var[~inside], 0.0, atol=1e-20)


def test_rms_displacement_at_spec_reference_point():
    n, c = 32, 3
    T = typical_temperature(1, c, n)
    _, disp = random_diffeo(np.zeros((4000, 1, n, n)), T, c, random_state=1,
                            return_displacement=True)
    sq = (disp**2).sum(axis=1)
    centre = math.sqrt(sq[:, 15:17, 15:17].mean())
    overall = math.sqrt(sq.mean())
    assert centre == pytest.approx(1.26, rel=0.05)
    assert overall == pytest.approx(0.81, rel=0.05)


def test_boundary_pixels_never_move_and_zero_temperature_is_identity():
    rng = np.random.default_rng(0)
    X = rng.random((20, 2, 9, 9))
    T = temperature_range(9, 3)[1] * 4
    Y, disp = random_diffeo(X, T, 3, random_state=0, return_displacement=True)
    for edge in (np.s_[..., 0, :], np.s_[..., -1, :], np.s_[..., :, 0], np.s_[..., :, -1]):
        assert np.all(disp[edge] == 0.0)
        assert np.array_equal(Y[edge], X[edge])
    assert np.abs(disp).max() > 0.5
    Z = random_diffeo(X, 0.0, 3, random_state=0)
    assert np.array_equal(Z, X) and Z is not X


# ------------------------------------------------------------------ vectorized vs per image

@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_vectorized_sampler_matches_per_image_reference(dtype, tol):
    n, c, seed = 11, 5, 3
    T = temperature_range(n, c)[1] * 2
    X = np.random.default_rng(1).random((4, 2, n, n)).astype(dtype)
    Y, disp = random_diffeo(X, T, c, random_state=seed, return_displacement=True)
    assert Y.dtype == dtype
    coeffs = _draw_coefficients(4, c, check_random_state(seed))
    ref_disp = reference_field(coeffs, n, T)
    np.testing.assert_allclose(disp, ref_disp, atol=tol * 10, rtol=tol)
    for b in range(4):
        for ch in range(2):
            ref = reference_bilinear(X[b, ch].astype(np.float64), ref_disp[b, 0], ref_disp[b, 1])
            np.testing.assert_allclose(Y[b, ch], ref, atol=tol, rtol=tol)


def test_remap_matches_hand_written_bilinear_including_clamping():
    rng = np.random.default_rng(2)
    img = rng.random((3, 1, 7, 7))
    disp = rng.normal(scale=3.0, size=(3, 2, 7, 7))  # large: many reads fall outside and clamp
    field = torch.from_numpy(disp).permute(0, 2, 3, 1)  # _remap takes the components last
    out = _remap(torch.from_numpy(img), field, "bilinear").numpy()
    for b in range(3):
        np.testing.assert_allclose(out[b, 0], reference_bilinear(img[b, 0], disp[b, 0], disp[b, 1]),
                                   atol=1e-12)


def test_nearest_reads_the_closest_clamped_pixel():
    rng = np.random.default_rng(3)
    img = rng.random((2, 1, 6, 6))
    disp = rng.uniform(-2.3, 2.3, size=(2, 2, 6, 6))
    disp[np.abs(disp - np.round(disp) - 0.5) < 1e-3] += 0.01  # no exact half-pixel ties
    out = _remap(torch.from_numpy(img), torch.from_numpy(disp).permute(0, 2, 3, 1),
                 "nearest").numpy()
    ys, xs = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
    for b in range(2):
        sx = np.clip(np.rint(xs - disp[b, 0]), 0, 5).astype(int)
        sy = np.clip(np.rint(ys - disp[b, 1]), 0, 5).astype(int)
        np.testing.assert_array_equal(out[b, 0], img[b, 0][sy, sx])


def test_one_field_per_image_shared_by_channels():
    n = 12
    T = typical_temperature(1.5, 3, n)
    base = np.random.default_rng(4).random((5, 1, n, n))
    X = np.repeat(base, 3, axis=1)
    Y, disp = random_diffeo(X, T, 3, random_state=5, return_displacement=True)
    assert np.array_equal(Y[:, 0], Y[:, 1]) and np.array_equal(Y[:, 0], Y[:, 2])
    np.testing.assert_allclose(Y[:, :1], random_diffeo(base, T, 3, random_state=5))
    # fields of different images are different draws
    flat = disp.reshape(5, -1)
    assert np.min(np.linalg.norm(flat[:, None] - flat[None], axis=2)[np.triu_indices(5, 1)]) > 0.1
    # a (n, H, W) batch is one channel
    np.testing.assert_allclose(random_diffeo(base[:, 0], T, 3, random_state=5), Y[:, 0])


def test_random_state_tensor_round_trip_and_input_untouched():
    X = np.random.default_rng(6).random((3, 1, 10, 10)).astype(np.float32)
    before = X.copy()
    T = typical_temperature(1, 3, 10)
    a = random_diffeo(X, T, 3, random_state=0)
    b = random_diffeo(X, T, 3, random_state=0)
    c = random_diffeo(X, T, 3, random_state=1)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert np.array_equal(X, before)
    t = random_diffeo(torch.from_numpy(X), T, 3, random_state=0)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), a)
    Xd = torch.from_numpy(X.astype(np.float64))
    assert random_diffeo(Xd, T, 3, random_state=0).dtype == torch.float64


@pytest.mark.parametrize("kwargs, match", [
    (dict(temperature=1e-3, cutoff=1), "cutoff must be >= 2"),
    (dict(temperature=1e-3, cutoff=1.99), "cutoff must be >= 2"),
    (dict(temperature=-1e-3, cutoff=3), "temperature must be a finite number >= 0"),
    (dict(temperature=float("nan"), cutoff=3), "temperature must be"),
    (dict(temperature=1e-3, cutoff=3, interpolation="cubic"), "interpolation"),
])
def test_errors_on_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_diffeo(np.zeros((2, 8, 8)), **kwargs)


@pytest.mark.parametrize("shape, match", [
    ((2, 8, 9), "square"),
    ((2, 1, 2, 2), "at least 3x3"),
    ((8, 8), "shape"),
    ((2, 1, 1, 8, 8), "shape"),
])
def test_errors_on_bad_images(shape, match):
    with pytest.raises(ValueError, match=match):
        random_diffeo(np.zeros(shape), 1e-3, 3)


def test_temperature_helpers_reject_bad_cutoff_size_and_delta():
    with pytest.raises(ValueError, match="cutoff must be >= 2"):
        temperature_range(32, 1)
    with pytest.raises(ValueError, match="at least 3x3"):
        typical_temperature(1, 3, 2)
    with pytest.raises(ValueError, match="delta"):
        typical_temperature(-1, 3, 32)


# ------------------------------------------------------------------ matched noise

def test_matched_noise_norms_are_exact_in_float64():
    rng = np.random.default_rng(7)
    X = rng.random((50, 3, 8, 8))
    Y = random_diffeo(X, typical_temperature(1, 3, 8), 3, random_state=0)
    Y[0] = X[0]  # a zero perturbation gets zero noise
    eta = matched_noise(X, Y, random_state=1)
    target = np.linalg.norm((Y - X).reshape(50, -1), axis=1)
    np.testing.assert_allclose(np.linalg.norm(eta.reshape(50, -1), axis=1), target, rtol=1e-10,
                               atol=1e-14)
    assert np.all(eta[0] == 0)
    # Gaussian direction: isotropic, uncorrelated with the deformation
    flat_eta, flat_move = eta[1:].reshape(49, -1), (Y - X)[1:].reshape(49, -1)
    cos = np.einsum("ij,ij->i", flat_eta, flat_move) / target[1:] ** 2
    assert np.abs(cos).mean() < 0.1
    t = matched_noise(torch.from_numpy(X).float(), torch.from_numpy(Y).float(), random_state=1)
    assert t.dtype == torch.float32
    with pytest.raises(ValueError, match="same shape"):
        matched_noise(X, Y[:3])


# ------------------------------------------------------------------ sparse moves

def test_sparse_moves_are_uniform_one_pixel_steps():
    X = np.zeros((4000, 1, 7, 7))
    X[:, 0, 3, 3] = 5.0
    Y = sparse_moves(X, random_state=0)
    pos = np.argwhere(Y[:, 0] != 0)
    assert pos.shape == (4000, 3) and np.all(Y[Y != 0] == 5.0)
    step = pos[:, 1:] - 3
    assert np.all(np.abs(step).sum(axis=1) == 1)
    counts = np.unique(step, axis=0, return_counts=True)[1]
    assert counts.size == 4 and np.all(np.abs(counts - 1000) < 4 * math.sqrt(750))


def test_sparse_moves_respect_edges_occupancy_blocks_and_periodicity():
    X = np.zeros((300, 1, 5, 5))
    X[:, 0, 0, 0] = 1.0
    X[:, 0, 0, 1] = 2.0
    Y = sparse_moves(X, random_state=1)
    for y in Y[:, 0]:
        pos = {tuple(p): y[tuple(p)] for p in np.argwhere(y)}
        assert sorted(pos.values()) == [1.0, 2.0]  # no collision, values kept
    # a corner pixel blocked by its neighbour can only go down
    a = np.argwhere(Y[:, 0] == 1.0)[:, 1:]
    assert set(map(tuple, a)) <= {(1, 0), (0, 1)}
    # 1-D, block constraint: a site at a block edge only moves inward
    s = np.zeros((200, 12))
    s[:, 4] = 1.0
    moved = np.argmax(sparse_moves(s, block_size=4, random_state=2), axis=1)
    assert set(moved) == {5}
    # periodic: site 0 can wrap to the last site
    s = np.zeros((200, 1, 10))
    s[:, 0, 0] = 1.0
    moved = np.argmax(sparse_moves(s, periodic=True, random_state=3)[:, 0], axis=1)
    assert set(moved) == {1, 9}
    moved = np.argmax(sparse_moves(s, random_state=3)[:, 0], axis=1)
    assert set(moved) == {1}
    with pytest.raises(ValueError, match="1-D signals only"):
        sparse_moves(X, block_size=2)
    t = sparse_moves(torch.from_numpy(X), random_state=1)
    np.testing.assert_array_equal(t.numpy(), Y)


def test_blocks_of_images_give_the_same_result(monkeypatch):
    from skintrinsic.diffeo import _sampler

    X = np.random.default_rng(8).random((7, 2, 9, 9))
    T = typical_temperature(1, 3, 9)
    whole, disp = random_diffeo(X, T, 3, random_state=4, return_displacement=True)
    monkeypatch.setattr(_sampler, "_BLOCK_PIXELS", 2 * 81)  # blocks of 2 images, one of 1
    blocked, disp_blocked = random_diffeo(X, T, 3, random_state=4, return_displacement=True)
    np.testing.assert_allclose(blocked, whole, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(disp_blocked, disp, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(random_diffeo(X, T, 3, random_state=4), whole, atol=1e-12)
