"""CIFAR-10 pieces: the multi-headed ResNet, head copying with its optimizer state, the data module."""
import shutil

import pytest
import torch

from common.errors import ConfigError, DataError
from papers.hydra_distillation.data import Cifar10Data, shift_cifar
from papers.hydra_distillation.model import DistillModule, EnsembleModule, copy_head_state
from papers.hydra_distillation.nets import MultiHeadResNet
from papers.hydra_distillation.reproduce import macs, macs_ratio_at
from tests.shared_data import shared_excerpt

PLANES = [4, 8, 8, 16]


def adam(params):
    return torch.optim.Adam(params, lr=1e-3)


def test_resnet_heads_shapes_and_sharing():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(3, 3, 32, 32)
    ensemble = MultiHeadResNet(planes=PLANES, shared_layers=0, num_heads=3)
    hydra = MultiHeadResNet(planes=PLANES, shared_layers=3, num_heads=3)
    kd = MultiHeadResNet(planes=PLANES, shared_layers=3, num_heads=1)
    assert ensemble(x).shape == (3, 3, 10) and hydra(x).shape == (3, 3, 10) and kd(x).shape == (1, 3, 10)
    assert ensemble.body_parameter_count() == 0
    # Hydra = one member's parameters + (M - 1) more heads.
    member = sum(p.numel() for p in kd.parameters())
    assert sum(p.numel() for p in hydra.parameters()) == member + 2 * hydra.head_parameter_count()
    # Members differ (own initialisations); the last stage is the head.
    out = ensemble(x)
    assert not torch.allclose(out[0], out[1])


def test_light_heads_are_the_last_blocks_and_the_output_layer():
    """head_blocks = k: each head is the last k basic blocks, pooling and the output layer; k = 0 the
    output layer alone. Body and head together are one member, whichever way it is split."""
    x = torch.randn(2, 3, 32, 32)
    whole = MultiHeadResNet(planes=PLANES, num_heads=1)
    for k in (0, 1, 3):
        split = MultiHeadResNet(planes=PLANES, head_blocks=k, num_heads=1)
        blocks = sum(1 for m in split.heads[0].modules() if m.__class__.__name__ == "BasicBlock")
        assert blocks == k
        assert sum(p.numel() for p in split.parameters()) == sum(p.numel() for p in whole.parameters())
        # the same weights in the same order give the same outputs
        for target, source in zip(split.parameters(), whole.parameters(), strict=True):
            target.data.copy_(source.data)
        assert torch.allclose(split.eval()(x), whole.eval()(x), atol=1e-6)
    hydra = MultiHeadResNet(planes=PLANES, head_blocks=0, num_heads=4)
    assert hydra.head_parameter_count() == PLANES[-1] * 10 + 10
    assert hydra(x).shape == (4, 2, 10)
    net = MultiHeadResNet(planes=PLANES, head_blocks=1, num_heads=3)
    net.copy_head(0)
    out = net.eval()(x)
    assert torch.equal(out[0], out[2])
    with pytest.raises(ConfigError, match="share nothing"):
        EnsembleModule(MultiHeadResNet(planes=PLANES, head_blocks=0, num_heads=3), adam)


@pytest.mark.parametrize("kwargs, message", [
    ({"shared_layers": 4}, "shared_layers"), ({"shared_layers": -1}, "shared_layers"),
    ({"num_heads": 0}, "num_heads"), ({"planes": [4, 0, 8, 8]}, "sizes"),
    ({"head_blocks": 9}, "head_blocks"), ({"head_blocks": -1}, "head_blocks"),
])
def test_resnet_bad_sizes(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MultiHeadResNet(**{"planes": PLANES, **kwargs})


def test_resnet_rejects_flat_inputs():
    with pytest.raises(DataError, match="expects"):
        MultiHeadResNet(planes=PLANES)(torch.randn(2, 3 * 32 * 32))


def test_copy_head_copies_weights_statistics_and_adam_state():
    torch.manual_seed(0)
    net = MultiHeadResNet(planes=PLANES, shared_layers=3, num_heads=3)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(8, 3, 32, 32)
    for _ in range(2):  # phase 1: only head 0 gets a loss
        optimizer.zero_grad()
        net(x)[0].square().mean().backward()
        optimizer.step()
    net.copy_head(0)
    copy_head_state(optimizer, net)
    groups = net.head_parameter_groups()
    for src, dst in zip(groups[0], groups[2], strict=True):
        assert torch.equal(src, dst)
        assert torch.equal(optimizer.state[src]["exp_avg_sq"], optimizer.state[dst]["exp_avg_sq"])
        assert optimizer.state[src]["exp_avg"] is not optimizer.state[dst]["exp_avg"]  # copies, not shared
    net.eval()
    out = net(x)
    assert torch.allclose(out[0], out[2])  # batch-norm statistics copied too
    # Identical heads with identical targets stay identical after a step.
    net.train()
    optimizer.zero_grad()
    net(x).square().mean().backward()
    optimizer.step()
    assert all(torch.allclose(a, b) for a, b in zip(groups[0], groups[1], strict=True))


def test_distill_module_checks_resnet_heads():
    teacher = MultiHeadResNet(planes=PLANES, shared_layers=0, num_heads=3)
    with pytest.raises(ConfigError, match="must\nequal|must equal|members"):
        DistillModule(MultiHeadResNet(planes=PLANES, shared_layers=3, num_heads=2), teacher, adam, method="hydra")
    with pytest.raises(ConfigError, match="share nothing"):
        EnsembleModule(MultiHeadResNet(planes=PLANES, shared_layers=1, num_heads=3), adam)


def test_macs_count_convolutions_and_hydra_costs_less():
    class Wrap:
        def __init__(self, net):
            self.net = net
    ensemble = MultiHeadResNet(planes=PLANES, shared_layers=0, num_heads=5)
    hydra = MultiHeadResNet(planes=PLANES, shared_layers=3, num_heads=5)
    shape = (3, 32, 32)
    stem = 32 * 32 * PLANES[0] * 27
    one = MultiHeadResNet(planes=PLANES, shared_layers=0, num_heads=1)
    assert macs(one, shape) > stem
    assert macs(ensemble, shape) == 5 * macs(one, shape)
    ratio = macs(hydra, shape) / macs(ensemble, shape)
    assert 0.2 < ratio < 0.6
    at_5 = macs_ratio_at({"hydra": Wrap(hydra), "ensemble": Wrap(ensemble)}, shape, 5)
    assert at_5 == pytest.approx(ratio)
    assert macs_ratio_at({"hydra": Wrap(hydra), "ensemble": Wrap(ensemble)}, shape, 20) < at_5


def test_shifts_keep_shape_and_range():
    images = torch.rand(4, 3, 32, 32)
    for shift in ("noise", "blur", "invert"):
        out = shift_cifar(images, shift, 0)
        assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
        assert not torch.allclose(out, images)
    with pytest.raises(ConfigError, match="ood_shifts"):
        shift_cifar(images, "rot90", 0)


def test_cifar_data_bad_config(tmp_path):
    with pytest.raises(ConfigError, match="ood_shifts"):
        Cifar10Data(root=str(tmp_path), ood_shifts=["fog"])
    with pytest.raises(ConfigError, match="n_train"):
        Cifar10Data(root=str(tmp_path), n_train=3)
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError, match="class folder"):
        Cifar10Data(root=str(tmp_path), n_train=20).setup("fit")


@pytest.fixture(scope="module")
def cifar_excerpt(tmp_path_factory):
    """A small ImageFolder of real CIFAR-10 JPEGs: 6 per class from train/, 3 per class from test/."""
    source = shared_excerpt("cifar10", "train")  # a module's fixture: conftest's cifar10_images_excerpt is per test
    root = tmp_path_factory.mktemp("cifar10")
    for split, count in (("train", 6), ("test", 3)):
        for class_dir in sorted((source / split).iterdir()):
            target = root / split / class_dir.name
            target.mkdir(parents=True)
            for path in sorted(class_dir.iterdir())[:count]:
                shutil.copy(path, target / path.name)
    return root


def test_cifar_data_on_real_images(cifar_excerpt):
    data = Cifar10Data(root=str(cifar_excerpt), n_train=40, n_test=20, batch_size=8)
    data.setup("fit")
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (8, 3, 32, 32) and y.dtype == torch.long and 0 <= int(y.min()) and int(y.max()) < 10
    loaders = data.test_dataloader()
    assert len(loaders) == 4 and all(len(loader.dataset) == 20 for loader in loaders)
    clean, noisy = loaders[0].dataset.tensors[0], loaders[1].dataset.tensors[0]
    assert abs(float(clean.mean())) < 1.0 and not torch.allclose(clean, noisy)
    again = Cifar10Data(root=str(cifar_excerpt), n_train=40, n_test=20, batch_size=8, augment=False)
    again.setup("fit")
    assert torch.equal(again.test_set.tensors[0], data.test_set.tensors[0])  # seeded draw
    assert again.train_set.tensors[0].shape == (40, 3, 32, 32)
    with pytest.raises(ConfigError, match="holds"):
        Cifar10Data(root=str(cifar_excerpt), n_test=31).setup("fit")


def test_cifar_data_rejects_a_bad_image(cifar_excerpt, tmp_path):
    shutil.copytree(cifar_excerpt, tmp_path / "c")
    (tmp_path / "c" / "test" / "cat" / "zz.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="could not read image .*zz.jpg"):
        Cifar10Data(root=str(tmp_path / "c"), n_train=20).setup("fit")


@pytest.mark.parametrize("method", ["kd", "hydra"])
def test_distillation_leaves_the_teachers_batch_norms_alone(tmp_path, method):
    """Lightning sets each submodule's mode itself while fitting: the teacher's batch-norm statistics
    must still not move, so that it scores inside KD and Hydra as its own run did."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    teacher = MultiHeadResNet(planes=PLANES, shared_layers=0, num_heads=2, head_blocks=0)
    checkpoint = tmp_path / "ensemble.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in teacher.state_dict().items()}}, checkpoint)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = MultiHeadResNet(planes=PLANES, head_blocks=0, num_heads=2 if method == "hydra" else 1)
    module = DistillModule(student, MultiHeadResNet(planes=PLANES, shared_layers=0, num_heads=2, head_blocks=0), adam,
                           method=method, teacher_ckpt=str(checkpoint), phase1_epochs=1)
    data = TensorDataset(torch.randn(16, 3, 32, 32) + 3.0, torch.randint(0, 10, (16,)))  # far from the BN statistics
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(module, DataLoader(data, batch_size=8))
    after = module.teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), [k for k in before if not torch.equal(before[k], after[k])][:3]
