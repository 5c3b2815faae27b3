"""The LightningModule: pruning starts from a trained checkpoint and keeps its masks."""
import pytest
import torch

from common.errors import ConfigError
from papers.pruning_quantisation.model import ImageClassifier


def _classifier(**kwargs):
    return ImageClassifier("shufflenet", optimizer=torch.optim.SGD, in_channels=1, **kwargs)


def test_pruned_module_starts_from_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    trained = _classifier()
    checkpoint = tmp_path / "trained.ckpt"
    torch.save({"state_dict": trained.state_dict()}, checkpoint)
    pruned = _classifier(prune_sparsity=0.3, init_from=str(checkpoint))
    conv = pruned.net.conv5[0]
    original = trained.net.conv5[0].weight
    kept = conv.weight_mask.flatten(1).any(dim=1)
    assert kept.sum() == conv.out_channels - round(0.3 * conv.out_channels)
    assert torch.equal(conv.weight[kept], original[kept])
    assert (conv.weight[~kept] == 0).all()


def test_pruning_without_a_checkpoint_is_refused():
    with pytest.raises(ConfigError, match="model.init_from"):
        _classifier(prune_sparsity=0.3)


def test_bad_sparsity_in_the_module_is_named(tmp_path):
    checkpoint = tmp_path / "trained.ckpt"
    torch.save({"state_dict": _classifier().state_dict()}, checkpoint)
    with pytest.raises(ConfigError, match="sparsity"):
        _classifier(prune_sparsity=1.2, init_from=str(checkpoint))
