"""Real-data folders (under ../shared/data) for the shared config tests of this paper's experiments.
The excerpt holds MNIST's test images only: the full experiments run on them here (data.source=test)."""
DATA_ROOTS = {f"hydra_distillation/mnist_{variant}": "mnist" for variant in
              ("ensemble", "hydra", "kd", "reduced_ensemble", "reduced_hydra", "reduced_kd")}
EXTRA_OVERRIDES = {f"hydra_distillation/mnist_{variant}": ["data.source=test", "data.n_train=8000"] for variant in ("ensemble", "hydra", "kd")}
