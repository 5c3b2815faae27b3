"""Real-data folders (under ../shared/data) for the shared config tests of this paper's experiments."""
DATA_ROOTS = {"curvature_generalization/mnist": "mnist", "curvature_generalization/width_mnist": "mnist"}
