"""The metrics against answers computed by hand."""
import math

import pytest
import torch

from papers.hydra_distillation import metrics as M

LN2 = math.log(2.0)


def stack(*members):
    return torch.tensor(members, dtype=torch.float64)


def test_nll_accuracy_brier_by_hand():
    # One member, two points: p(y) = 0.8 and 0.4.
    probs = stack([[0.8, 0.2], [0.6, 0.4]])
    labels = torch.tensor([0, 1])
    assert float(M.nll(probs, labels)) == pytest.approx(-(math.log(0.8) + math.log(0.4)) / 2)
    assert float(M.accuracy(probs, labels)) == pytest.approx(0.5)
    # Brier: (0.2² + 0.2²) and (0.6² + 0.6²), mean 0.4.
    assert float(M.brier(probs, labels)) == pytest.approx((0.08 + 0.72) / 2)


def test_nll_uses_the_mixture_not_the_mean_of_member_nlls():
    probs = stack([[0.9, 0.1]], [[0.1, 0.9]])  # two members that disagree on one point
    labels = torch.tensor([0])
    assert float(M.nll(probs, labels)) == pytest.approx(LN2)  # mixture p = 0.5
    assert float(M.brier(probs, labels)) == pytest.approx(0.5)


def test_ece_ten_bins_by_hand():
    # Confidences 0.95, 0.95 (bin 10: one right, one wrong -> |0.5 - 0.95| = 0.45),
    # 0.65 (bin 7: right -> |1 - 0.65| = 0.35), 0.55 (bin 6: wrong -> |0 - 0.55| = 0.55).
    probs = stack([[0.95, 0.05], [0.95, 0.05], [0.35, 0.65], [0.55, 0.45]])
    labels = torch.tensor([0, 1, 1, 1])
    expected = (2 * 0.45 + 0.35 + 0.55) / 4
    assert float(M.ece(probs.float(), labels, n_bins=10)) == pytest.approx(expected, abs=1e-6)
    perfect = stack([[1.0, 0.0], [0.0, 1.0]])
    assert float(M.ece(perfect.float(), torch.tensor([0, 1]))) == pytest.approx(0.0, abs=1e-6)


def test_entropy_decomposition_by_hand():
    # Two confident members disagreeing: total = ln 2, expected ≈ H(0.99, 0.01), MI = the difference.
    probs = stack([[0.99, 0.01]], [[0.01, 0.99]])
    d = M.entropy_decomposition(probs)
    h = -(0.99 * math.log(0.99) + 0.01 * math.log(0.01))
    assert float(d["total"][0]) == pytest.approx(LN2)
    assert float(d["expected"][0]) == pytest.approx(h)
    assert float(d["mutual_information"][0]) == pytest.approx(LN2 - h)
    # One-hot members that disagree: all uncertainty is model uncertainty, MI = ln 2.
    d = M.entropy_decomposition(stack([[1.0, 0.0]], [[0.0, 1.0]]))
    assert float(d["mutual_information"][0]) == pytest.approx(LN2)
    assert float(d["expected"][0]) == pytest.approx(0.0)


def test_mutual_information_zero_when_members_agree_and_never_negative():
    same = stack([[0.3, 0.5, 0.2]], [[0.3, 0.5, 0.2]], [[0.3, 0.5, 0.2]])
    d = M.entropy_decomposition(same)
    assert float(d["mutual_information"][0]) == 0.0
    assert float(d["total"][0]) == pytest.approx(float(d["expected"][0]))
    g = torch.Generator().manual_seed(0)
    random = torch.randn(5, 200, 4, generator=g).mul(3).softmax(-1)
    d = M.entropy_decomposition(random)
    assert torch.all(d["mutual_information"] >= 0)
    assert torch.allclose(d["total"], d["expected"] + d["mutual_information"])
    # MI <= ln M (5 members) and <= ln C (4 classes).
    assert torch.all(d["mutual_information"] <= math.log(4) + 1e-9)


def test_auroc_by_hand_and_constant_score():
    assert M.auroc(torch.tensor([0.1, 0.2]), torch.tensor([0.3, 0.4])) == pytest.approx(1.0)
    assert M.auroc(torch.tensor([0.3, 0.4]), torch.tensor([0.1, 0.2])) == pytest.approx(0.0)
    # Pairs (in, out): (0.1, 0.15) ok, (0.1, 0.5) ok, (0.3, 0.15) wrong, (0.3, 0.5) ok -> 3/4.
    assert M.auroc(torch.tensor([0.1, 0.3]), torch.tensor([0.15, 0.5])) == pytest.approx(0.75)
    assert M.auroc(torch.zeros(10), torch.zeros(7)) == 0.5  # KD's MI: zero everywhere


def test_spearman():
    a = torch.arange(10.0)
    assert M.spearman(a, a**3) == pytest.approx(1.0)
    assert M.spearman(a, -a) == pytest.approx(-1.0)
    assert M.spearman(a, torch.zeros(10)) == 0.0


def test_gaussian_mixture_nll_by_hand():
    # One component: the Gaussian NLL, 0.5 log(2π σ²) + (y - μ)² / (2σ²).
    means, variances, y = stack([0.0, 1.0]), stack([1.0, 4.0]), torch.tensor([1.0, 1.0], dtype=torch.float64)
    expected = (0.5 * math.log(2 * math.pi) + 0.5 + 0.5 * math.log(2 * math.pi * 4)) / 2
    assert float(M.mixture_nll(means, variances, y)) == pytest.approx(expected)
    # Two components N(-1, 1), N(1, 1) at y = 0: density = φ(1), NLL = 0.5 log 2π + 0.5.
    mix = M.mixture_nll(stack([-1.0], [1.0]), stack([1.0], [1.0]), torch.zeros(1, dtype=torch.float64))
    assert float(mix) == pytest.approx(0.5 * math.log(2 * math.pi) + 0.5)
    # At y = 1: 0.5 (φ(2) + φ(0)).
    density = 0.5 * (math.exp(-2.0) + 1.0) / math.sqrt(2 * math.pi)
    mix = M.mixture_nll(stack([-1.0], [1.0]), stack([1.0], [1.0]), torch.ones(1, dtype=torch.float64))
    assert float(mix) == pytest.approx(-math.log(density))


def test_mixture_moments_and_interval():
    m = M.mixture_moments(stack([-1.0], [1.0]), stack([1.0], [3.0]))
    assert float(m["mean"][0]) == 0.0
    assert float(m["aleatoric"][0]) == pytest.approx(2.0)
    assert float(m["epistemic"][0]) == pytest.approx(1.0)  # population variance of (-1, 1)
    assert float(m["variance"][0]) == pytest.approx(3.0)
    assert float(M.interval_width(stack([-1.0], [1.0]), stack([1.0], [3.0]))) == pytest.approx(2 * 1.959964 * math.sqrt(3))
    same = M.mixture_moments(stack([2.0], [2.0]), stack([1.0], [1.0]))
    assert float(same["epistemic"][0]) == 0.0


def test_gaussian_kl_by_hand():
    assert float(M.gaussian_kl(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.0), torch.tensor(1.0))) == 0.0
    # KL(N(0,1) || N(1,4)) = 0.5 (log 4 + (1 + 1)/4 - 1)
    value = M.gaussian_kl(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(1.0), torch.tensor(4.0))
    assert float(value) == pytest.approx(0.5 * (math.log(4) + 0.5 - 1))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="members, points, classes"):
        M.entropy_decomposition(torch.rand(4, 3))
    with pytest.raises(ValueError, match="variances must be > 0"):
        M.mixture_nll(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3))
