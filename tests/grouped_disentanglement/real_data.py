"""Real-data folders (under ../shared/data) for the shared config tests of grouped_disentanglement."""
DATA_ROOTS = {
    "grouped_disentanglement/mnist_cpu": "mnist",
    # the full experiment trains on MNIST's 60,000 training images; the excerpt holds the test set only
    "grouped_disentanglement/mnist": "mnist",
}
EXTRA_OVERRIDES = {"grouped_disentanglement/mnist": ["data.split=test_only", "data.n_test=2000"]}
