import numpy as np
import pytest
import torch

from common.errors import ConfigError
from papers.ecg_unet.data import generate_record
from papers.ecg_unet.model import EcgSegmenter, UNet1d


@pytest.mark.parametrize("length", [16, 1000, 1999, 5000])
def test_unet_keeps_the_length_of_any_input(length):
    net = UNet1d().eval()
    assert net(torch.zeros(2, 1, length)).shape == (2, 4, length)


def test_unet_size_matches_the_papers_small_network():
    parameters = sum(p.numel() for p in UNet1d().parameters())
    assert 150_000 < parameters < 180_000  # 4-8-16-32-64 channels, kernel 9


def test_unet_is_translation_equivariant_away_from_the_edges():
    torch.manual_seed(0)
    net = UNet1d().eval()
    x = torch.randn(1, 1, 512)
    shifted = torch.roll(x, 16, dims=-1)  # a multiple of 2**depth keeps the pooling grid
    with torch.no_grad():
        a, b = net(x), net(shifted)
    torch.testing.assert_close(a[..., 100:400], b[..., 116:416], atol=1e-4, rtol=1e-4)


def test_bad_architecture_values_are_named():
    with pytest.raises(ConfigError, match="kernel_size must be odd"):
        UNet1d(kernel_size=8)


def test_delineate_reports_boundaries_in_the_input_sampling_rate():
    model = EcgSegmenter(UNet1d(), optimizer=torch.optim.Adam)
    record = generate_record(np.random.default_rng(0), "x", seconds=4.0, sampling_rate=250, n_leads=3)

    # Stand-in network that "predicts" the annotated waves at 500 Hz: delineate must map them back.
    from papers.ecg_unet.data import to_model_rate
    from papers.ecg_unet.delineation import labels_from_waves

    truth_500 = to_model_rate(record)
    labels = labels_from_waves(truth_500.waves[0], truth_500.signal.shape[1], span=None)

    class Oracle(torch.nn.Module):
        def forward(self, x):
            assert x.shape[-1] == truth_500.signal.shape[1]
            return torch.nn.functional.one_hot(torch.from_numpy(labels), 4).T[None].float().repeat(x.shape[0], 1, 1)

    model.net = Oracle()
    waves = model.delineate(record.signal, sampling_rate=250)
    assert len(waves) == 3
    found = waves[0]
    expected = [w for w in record.waves[0]]
    assert len(found) == len(expected)
    for f, e in zip(found, expected, strict=True):
        assert f.kind == e.kind and abs(f.onset - e.onset) <= 1 and abs(f.offset - e.offset) <= 1
