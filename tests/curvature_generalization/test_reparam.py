"""Reparameterisation (Dinh et al.'s α, 1/α rescaling of consecutive ReLU layers), the small CNN, and
the CIFAR-10 image-folder loader."""
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from common.errors import ConfigError, DataError
from papers.curvature_generalization.curvature import scalar_curvature
from papers.curvature_generalization.data import ClassificationDataModule
from papers.curvature_generalization.estimator import FlatLoss, exact_curvature
from papers.curvature_generalization.model import MLP, CurvatureClassifier, SmallCNN, rescale_layers
from papers.curvature_generalization.reproduce import reparameterisation


def _relu_net():
    torch.manual_seed(0)
    net = MLP(5, 4, 2, 3, "relu").double()
    x = torch.randn(30, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (30,))
    return net, x, y


@pytest.mark.parametrize("layer", [0, 1])
def test_rescaling_keeps_the_function(layer):
    net, x, y = _relu_net()
    for alpha in (0.1, 3.0):
        assert torch.allclose(rescale_layers(net, layer, alpha)(x), net(x), atol=1e-12)
    torch.manual_seed(1)
    cnn = SmallCNN(3, 2, 10, 8)
    images = torch.randn(4, 3, 8, 8)
    assert torch.allclose(rescale_layers(cnn, 1, 5.0)(images), cnn(images), atol=1e-5)
    assert torch.equal(net.layers[0].weight, _relu_net()[0].layers[0].weight)  # the original is untouched


def test_rescaled_curvature_follows_the_change_of_variables():
    """θ' = Dθ: g' = D⁻¹g and H' = D⁻¹HD⁻¹, so R' is the closed form at (D⁻¹g, D⁻¹HD⁻¹); and R moves."""
    net, x, y = _relu_net()
    alpha = 4.0
    flat = FlatLoss(net, F.cross_entropy, x, y)
    g, H = flat.gradient(), flat.matrix("full")
    scale = [torch.full((p.numel(),), 1.0) for p in net.parameters()]
    scale[0][:], scale[1][:], scale[2][:] = alpha, alpha, 1 / alpha  # layer-0 weight and bias, layer-1 weight
    d_inv = 1.0 / torch.cat(scale).double()
    expected = float(scalar_curvature(d_inv * g, d_inv[:, None] * H * d_inv[None, :]))
    moved = exact_curvature(FlatLoss(rescale_layers(net, 0, alpha), F.cross_entropy, x, y))["R"]
    assert moved == pytest.approx(expected, rel=1e-8)
    assert abs(moved - exact_curvature(flat)["R"]) > 0.1 * abs(exact_curvature(flat)["R"])  # not invariant


def test_reparameterisation_report():
    torch.manual_seed(0)
    model = CurvatureClassifier(MLP(6, 5, 1, 3, "relu"), probes=8, lanczos_iterations=5)
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    out = reparameterisation(model, x, y, [0.25, 4.0])
    assert out["max_logit_change"] < 1e-5 and out["4/loss"] == pytest.approx(out["1/loss"], rel=1e-5)
    assert out["max_abs_log10_ratio_R"] > 0.3 and out["max_abs_log10_ratio_lambda_max"] > 0.1
    assert out["1/R_se"] == 0.0  # small net: exact R


def test_rescaling_refuses_what_would_change_the_function():
    with pytest.raises(ConfigError, match="Tanh"):
        rescale_layers(MLP(4, 3, 1, 2, "tanh"), 0, 2.0)
    with pytest.raises(ConfigError, match="alpha"):
        rescale_layers(MLP(4, 3, 1, 2, "relu"), 0, 0.0)
    with pytest.raises(ConfigError, match="layer"):
        rescale_layers(MLP(4, 3, 1, 2, "relu"), 1, 2.0)


def test_small_cnn_shapes_and_errors():
    cnn = SmallCNN(3, 4, 10, 32)
    assert cnn(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="shape"):
        cnn(torch.randn(2, 3 * 32 * 32))
    with pytest.raises(ConfigError, match="multiple of 4"):
        SmallCNN(3, 4, 10, 30)


def _write_folder(root, classes=10, per_class=3, size=32):
    for split in ("train", "test"):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (size, size), (25 * c, i, 0)).save(folder / f"{i}.jpg")


def test_cifar_image_folder_and_bad_files(tmp_path):
    _write_folder(tmp_path)
    dm = ClassificationDataModule(source="cifar10", root=str(tmp_path), n_train=20, n_test=10, measure_size=5)
    dm.setup()
    x, y = dm.train_set.tensors
    assert x.shape == (20, 3, 32, 32) and len(dm.test_set) == 10 and dm.n_classes == 10
    with pytest.raises(ConfigError, match="n_train"):
        ClassificationDataModule(source="cifar10", root=str(tmp_path), n_train=31).setup()
    (tmp_path / "train" / "class0" / "0.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="could not read image"):
        ClassificationDataModule(source="cifar10", root=str(tmp_path), n_train=30, n_test=5).setup()
    with pytest.raises(DataError, match="image folder not found"):  # data.root without train/
        ClassificationDataModule(source="cifar10", root=str(tmp_path / "test"), n_train=5, n_test=5).setup()


def test_cifar_from_the_shared_images(cifar10_images_excerpt):
    dm = ClassificationDataModule(source="cifar10", root=str(cifar10_images_excerpt), n_train=60, n_test=40, measure_size=20)
    dm.setup()
    x, y = dm.train_set.tensors
    assert x.shape == (60, 3, 32, 32) and x.dtype == torch.float32
    assert abs(float(x.mean())) < 0.5  # normalised per channel
    assert len(dm.test_set) == 40 and len(dm.measure_set) == 20
