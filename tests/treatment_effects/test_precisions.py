"""The evidence approximation of DKLITE's precisions (model.precisions): MacKay's fixed point is the
marginal likelihood's maximum, each one-sided mode keeps the other precision, and the public code's
fixed lambda = 1000, beta = 1 stay the default."""
import pytest
import torch

from common.errors import ConfigError
from papers.treatment_effects.gp import BayesianLinearRegression
from papers.treatment_effects.model import Dklite


def nll_at(z, y, alpha, beta):
    return BayesianLinearRegression(z.shape[1], prior_precision=alpha, noise_precision=beta).condition(z, y).negative_log_likelihood.item()


@pytest.fixture
def data():
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(80, 4, generator=generator, dtype=torch.float64)
    y = z @ torch.tensor([1.5, -0.5, 0.0, 2.0], dtype=torch.float64) + 0.3 * torch.randn(80, generator=generator, dtype=torch.float64)
    return z, y


def test_evidence_precisions_maximise_the_marginal_likelihood(data):
    z, y = data
    blr = BayesianLinearRegression(4, evidence="both")
    alpha, beta = (float(v) for v in blr.evidence_precisions(z, y, iterations=200))
    assert 1 / beta == pytest.approx(0.09, rel=0.5)  # the noise variance it was made with (0.3^2)
    best = nll_at(z, y, alpha, beta)
    for a, b in ((alpha * 1.3, beta), (alpha / 1.3, beta), (alpha, beta * 1.3), (alpha, beta / 1.3)):
        assert nll_at(z, y, a, b) > best
    # condition() uses them: its NLL is the one at the fixed point
    assert blr.condition(z, y).negative_log_likelihood.item() == pytest.approx(
        nll_at(z, y, *(float(v) for v in blr.evidence_precisions(z, y))), rel=1e-9)
    assert blr.condition(z, y).noise_precision.item() == pytest.approx(beta, rel=1e-3)


def test_one_sided_evidence_keeps_the_other_precision(data):
    z, y = data
    alpha, beta = BayesianLinearRegression(4, 1000.0, 1.0, evidence="prior").evidence_precisions(z, y, update_noise=False)
    assert float(beta) == pytest.approx(1.0) and float(alpha) != pytest.approx(1000.0)
    alpha, beta = BayesianLinearRegression(4, 1000.0, 1.0, evidence="noise").evidence_precisions(z, y, update_prior=False)
    assert float(alpha) == pytest.approx(1000.0) and float(beta) != pytest.approx(1.0)
    with pytest.raises(ValueError, match="evidence must be one of"):
        BayesianLinearRegression(4, evidence="sometimes")


def test_default_keeps_the_public_codes_fixed_precisions():
    from functools import partial
    model = Dklite(partial(torch.optim.Adam, lr=1e-3), input_dim=3, hidden_dim=4, feature_dim=2)
    for gp in model.gps:
        assert gp.evidence == "none"
        assert gp.prior_precision.item() == pytest.approx(1000.0) and gp.noise_precision.item() == pytest.approx(1.0)
    assert Dklite(partial(torch.optim.Adam, lr=1e-3), input_dim=3, precisions="evidence").gps[0].evidence == "both"
    with pytest.raises(ConfigError, match="model.precisions"):
        Dklite(partial(torch.optim.Adam, lr=1e-3), input_dim=3, precisions="mackay")
