"""Real-data folders (under ../shared/data) for the shared config tests of this paper's experiments."""
DATA_ROOTS = {"curvature_generalization/mnist": "mnist", "curvature_generalization/width_mnist": "mnist",
              "curvature_generalization/cifar10": "cifar10"}
# the config tests run one batch and the test-time curvature: a few images are enough
EXTRA_OVERRIDES = {"curvature_generalization/cifar10": ["data.n_train=64", "data.n_test=64", "data.measure_size=32"]}
