"""Experiments of this paper that read real data, and where tests find an excerpt of it (under ../shared/data)."""
DATA_ROOTS = {
    "finsler_latent_metric/qpcr": "finsler/qpcr_guo2010",
    "finsler_latent_metric/gplvm_qpcr": "finsler/qpcr_guo2010",
    "finsler_latent_metric/font": "finsler/font_f",
    "finsler_latent_metric/starmen": "finsler/starmen_subset",
    "finsler_latent_metric/mnist_fisher": "mnist",
    # no FashionMNIST copy is kept here: its config tests skip until one is put there (torchvision's layout)
    "finsler_latent_metric/fashion_mnist": "finsler/fashion_mnist",
}
