"""The LightningModule and its factories: the module builds shapes only; weights come in through
`build_classifier` (a trained checkpoint, then pruned or slimmed) and `load_classifier`."""
import pytest
import torch

from common.errors import ConfigError
from papers.pruning_quantisation.model import ImageClassifier, build_classifier, load_classifier


def _save(module, path):
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, path)
    return str(path)


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    trained = ImageClassifier("shufflenet", in_channels=1)
    return trained, _save(trained, tmp_path_factory.mktemp("ckpt") / "trained.ckpt")


def test_pruned_module_starts_from_the_checkpoint(trained_checkpoint):
    trained, checkpoint = trained_checkpoint
    pruned = build_classifier(network="shufflenet", in_channels=1, prune_sparsity=0.3, init_from=checkpoint)
    conv, original = pruned.net.conv5[0], trained.net.conv5[0].weight
    kept = conv.weight_mask.flatten(1).any(dim=1)
    assert kept.sum() == conv.out_channels - round(0.3 * conv.out_channels)
    assert torch.equal(conv.weight[kept], original[kept])
    assert (conv.weight[~kept] == 0).all()
    # The filters kept are those of largest L2 norm.
    norms = original.flatten(1).norm(dim=1)
    assert norms[kept].min() >= norms[~kept].max()


def test_control_with_sparsity_zero_starts_from_the_unchanged_network(trained_checkpoint):
    trained, checkpoint = trained_checkpoint
    control = build_classifier(network="shufflenet", in_channels=1, prune_sparsity=0.0, init_from=checkpoint)
    images = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(control.eval()(images), trained.eval()(images))


@pytest.mark.parametrize("compression", [
    {"prune_sparsity": 0.3}, {"prune_sparsity": 0.3, "prune_batchnorm": True}, {"slim_sparsity": 0.3},
])
def test_finished_runs_reload_through_the_factory(trained_checkpoint, tmp_path, compression):
    _, checkpoint = trained_checkpoint
    module = build_classifier(network="shufflenet", in_channels=1, init_from=checkpoint, **compression)
    with torch.no_grad():  # as if fine-tuned: weights move away from the trained ones
        for parameter in module.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    reloaded = load_classifier(_save(module, tmp_path / "finetuned.ckpt"))
    assert "init_from" not in reloaded.hparams
    assert all(reloaded.hparams[key] == value for key, value in compression.items())
    images = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(reloaded(images), module.eval()(images))


def test_compression_without_a_checkpoint_and_a_checkpoint_without_compression_are_refused(trained_checkpoint):
    with pytest.raises(ConfigError, match="model.init_from"):
        build_classifier(network="shufflenet", in_channels=1, prune_sparsity=0.3)
    with pytest.raises(ConfigError, match="prune_sparsity or model.slim_sparsity"):
        build_classifier(network="shufflenet", in_channels=1, init_from=trained_checkpoint[1])
    with pytest.raises(ConfigError, match="not both"):
        ImageClassifier("shufflenet", prune_sparsity=0.3, slim_sparsity=0.3)
    with pytest.raises(ConfigError, match="prune_batchnorm=true goes with model.prune_sparsity"):
        ImageClassifier("shufflenet", slim_sparsity=0.3, prune_batchnorm=True)
    with pytest.raises(ConfigError, match="prune_batchnorm must be true or false"):
        ImageClassifier("shufflenet", prune_batchnorm="yes")


def test_bad_sparsity_in_the_module_is_named(trained_checkpoint):
    with pytest.raises(ConfigError, match="sparsity"):
        build_classifier(network="shufflenet", in_channels=1, prune_sparsity=1.2, init_from=trained_checkpoint[1])


def test_a_checkpoint_of_another_network_is_named(trained_checkpoint):
    with pytest.raises(Exception, match="trained.ckpt"):
        build_classifier(network="mobilenet", in_channels=1, prune_sparsity=0.3, init_from=trained_checkpoint[1])
