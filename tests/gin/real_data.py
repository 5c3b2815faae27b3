"""Real-data folders (under ../shared/data) for the shared config tests of gin's experiments."""
DATA_ROOTS = {
    "gin/emnist_cpu": "emnist_mnist_test",
    # the full experiment downloads EMNIST; offline, its network and loader run on the EMNIST-MNIST tiles
    "gin/emnist": "emnist_mnist_test",
}
EXTRA_OVERRIDES = {"gin/emnist": ["data.source=emnist_mnist_test"]}
