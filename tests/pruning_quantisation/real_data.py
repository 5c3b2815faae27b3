"""Experiments of this paper that read real data, and where tests find an excerpt of it (under ../shared/data)."""
DATA_ROOTS = {"pruning_quantisation/cifar10": "cifar10_small/image_data_format_1"}
# The excerpt is 200 training images with no test set: carve one out.
EXTRA_OVERRIDES = {"pruning_quantisation/cifar10": ["data.test_fraction=0.2"]}
