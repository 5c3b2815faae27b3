"""Real-data folders (under ../shared/data) for the shared config tests of this paper's experiments.
The MNIST excerpt holds MNIST's test images only: the full experiments run on them here
(data.source=test). The CIFAR-10 experiments read the shared CIFAR-10 folder with a few images,
2 members and small batches, so that the GPU setting's fast_dev_run fits a CPU test."""
DATA_ROOTS = {f"hydra_distillation/mnist_{variant}": "mnist" for variant in
              ("ensemble", "hydra", "kd", "reduced_ensemble", "reduced_hydra", "reduced_kd")}
DATA_ROOTS.update({f"hydra_distillation/cifar10{scale}_{variant}": "cifar10" for scale in ("", "_cpu")
                   for variant in ("ensemble", "hydra", "kd")})
EXTRA_OVERRIDES = {f"hydra_distillation/mnist_{variant}": ["data.source=test", "data.n_train=8000"] for variant in ("ensemble", "hydra", "kd")}
EXTRA_OVERRIDES.update({f"hydra_distillation/cifar10{scale}_{variant}": ["data.n_train=64", "data.n_test=32", "members=2",
                                                                         "data.batch_size=32"]
                        for scale in ("", "_cpu") for variant in ("ensemble", "hydra", "kd")})
