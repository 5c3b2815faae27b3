"""Characterisation of the data modules of curvature_generalization, gin and finsler_latent_metric:
the sha256 of everything their loaders hand out.

For each experiment config that runs on generated or bundled data, or on a fast subset of a real
excerpt in ../shared/data, the digests cover
- training: the sampler's yield sequence and every batch of epochs 0 and 1, on one loader as
  Lightning keeps it, the epoch set as Lightning sets it (`_set_sampler_epoch`, the function
  Lightning's fit loop calls at each epoch start);
- validation and test: every loader Lightning would read (none for a validation hook the data module
  does not override, one per list entry), and for each its batch sizes and every batch's tensors.

The expected digests were computed with the data modules as they were before they moved onto
`common.datamodule.ReproDataModule` (commit 0d0bca0); a change that alters one alters a number the
paper reports.
Each tensor's digest covers its shape, dtype (with byte order) and bytes.
"""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import hydra
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.data import _set_sampler_epoch
from pytorch_lightning.utilities.model_helpers import is_overridden

from common.run import compose
from tests.shared_data import SHARED_DATA

# name: (experiment, overrides ({shared}: ../shared/data, {tmp}: the test's folder), what it needs)
CASES: dict[str, tuple[str, list[str], str | None]] = {
    # curvature_generalization: scikit-learn's digits (tiny scale), MNIST's test images (full scale),
    # a 64-image subset of the CIFAR-10 image folders
    "curvature_generalization/tiny": ("curvature_generalization/tiny", [], None),
    "curvature_generalization/width_tiny": ("curvature_generalization/width_tiny", [], None),
    "curvature_generalization/mnist[excerpt]": (
        "curvature_generalization/mnist", ["data.root={shared}/mnist"], "mnist/t10k-images-idx3-ubyte.gz"),
    "curvature_generalization/width_mnist[excerpt]": (
        "curvature_generalization/width_mnist", ["data.root={shared}/mnist"], "mnist/t10k-images-idx3-ubyte.gz"),
    "curvature_generalization/cifar10[excerpt, 64]": (
        "curvature_generalization/cifar10",
        ["data.root={shared}/cifar10", "data.n_train=64", "data.n_test=64", "data.measure_size=32"],
        "cifar10/test/truck"),
    # gin: the generated artificial data, scikit-learn's digits, the EMNIST-MNIST tiles and MNIST
    "gin/artificial_tiny": ("gin/artificial_tiny", [], None),
    "gin/artificial_tiny[no val]": ("gin/artificial_tiny", ["data.n_val=0"], None),
    "gin/artificial": ("gin/artificial", [], None),
    "gin/digits_tiny": ("gin/digits_tiny", [], None),
    "gin/emnist_cpu[excerpt]": (
        "gin/emnist_cpu", ["data.root={shared}/emnist_mnist_test"], "emnist_mnist_test/test.json"),
    "gin/emnist_cpu[mnist_test excerpt]": (
        "gin/emnist_cpu", ["data.source=mnist_test", "data.root={shared}/mnist"], "mnist/t10k-images-idx3-ubyte.gz"),
    # finsler_latent_metric: generated sphere data, scikit-learn's digits, the bundled qPCR, font and
    # starmen excerpts, MNIST's test images, Fashion-MNIST stand-ins written here
    "finsler_latent_metric/tiny": ("finsler_latent_metric/tiny", [], None),
    "finsler_latent_metric/tiny_circles": ("finsler_latent_metric/tiny_circles", [], None),
    "finsler_latent_metric/tiny_fisher": ("finsler_latent_metric/tiny_fisher", [], None),
    "finsler_latent_metric/tiny_gplvm": ("finsler_latent_metric/tiny_gplvm", [], None),
    "finsler_latent_metric/starfish_sphere": ("finsler_latent_metric/starfish_sphere", [], None),
    "finsler_latent_metric/circles_sphere": ("finsler_latent_metric/circles_sphere", [], None),
    "finsler_latent_metric/gplvm_starfish_sphere": ("finsler_latent_metric/gplvm_starfish_sphere", [], None),
    # no test points: the test loader reads the training points
    "finsler_latent_metric/tiny[no test]": ("finsler_latent_metric/tiny", ["data.test_fraction=0.0"], None),
    "finsler_latent_metric/qpcr[excerpt]": (
        "finsler_latent_metric/qpcr", ["data.root={shared}/finsler/qpcr_guo2010"], "finsler/qpcr_guo2010/guo_qpcr.csv"),
    "finsler_latent_metric/gplvm_qpcr[excerpt]": (
        "finsler_latent_metric/gplvm_qpcr", ["data.root={shared}/finsler/qpcr_guo2010"],
        "finsler/qpcr_guo2010/guo_qpcr.csv"),
    # val_fraction 0: the validation loader reads the training points
    "finsler_latent_metric/font[excerpt]": (
        "finsler_latent_metric/font", ["data.root={shared}/finsler/font_f"], "finsler/font_f/font_f.mat"),
    "finsler_latent_metric/starmen[excerpt]": (
        "finsler_latent_metric/starmen", ["data.root={shared}/finsler/starmen_subset"],
        "finsler/starmen_subset/df_subset_s0-s19.csv"),
    "finsler_latent_metric/mnist_fisher[excerpt]": (
        "finsler_latent_metric/mnist_fisher", ["data.root={shared}/mnist"], "mnist/t10k-images-idx3-ubyte.gz"),
    "finsler_latent_metric/fashion_mnist[stand-ins]": (
        "finsler_latent_metric/fashion_mnist", ["data.root={tmp}/fashion", "data.batch_size=8"], None),
}

EXPECTED: dict[str, dict] = {
    "curvature_generalization/cifar10[excerpt, 64]": {
        "train": [
            {"order": "3d1fe70d12a5c7f80f3627f4f8b0ece05807191eb6b26fef06d953451a160ea5",
             "batches": "32x2 6fa5bd443c376d4eadd5d4d69558a51f487542adb608e604a5581f745f9ae53d"},
            {"order": "c90d1e1ca8fad9b470142089ffef9289c8311b8f686a45648a75a6fa4d5d988a",
             "batches": "32x2 5c34352a79995e3bb7a808f5a41f8da64c89182cff8b95d0d30909360bfba774"},
        ],
        "val": [],
        "test": [
            "32 6d125a8ce786a8da614f25d20651bba4d367c2a1ce5e8f0742feb32b74c7923d",
            "64 255dca341412e07111104d2308a92f6aef74b3d8ade04ee716ea03fb6680f333",
        ],
    },
    "curvature_generalization/mnist[excerpt]": {
        "train": [
            {"order": "c3bd76ce622cb7103cdb98826087499ca5d046ad7a84c4e9301c7bae3a9d041f",
             "batches": "32x62,16 72b3a20532832853575302b9abea6289fc56595e23ffbc7d421b0c8bdc002030"},
            {"order": "d837d513979bb638e063ff1c90977c3e7a552a877da77aef48e161353e73f0ee",
             "batches": "32x62,16 dda07f959442fdd681c746aa6e8c40022ab6d1c269f8fb0ef5ea277469bf1c08"},
        ],
        "val": [],
        "test": [
            "1000 67199fb0b9746f602b1e3ce3684fe0d17cb7c239b8f54385cc1b9e72cfcba365",
            "1024,976 8dbd2073d3286089e8485275f94e5fad3bb0a5f61fca5058b499a109e31f7d93",
        ],
    },
    "curvature_generalization/tiny": {
        "train": [
            {"order": "24a1ff392aebe503b091777319438c05e5bc4effc7fcdd03950c50e8df965221",
             "batches": "16x18,12 4572baeec7f6a23422c1c185e1ed6daf961b3f0c52c87b717b376725157c5f52"},
            {"order": "4e2a5fa93fcc275ba486f867fcc26e86862b5961844e62d9490436aac034142c",
             "batches": "16x18,12 659b40442231dc9e345ef4ca90ade1b229b267fa5de01692d5505d7b0397cea0"},
        ],
        "val": [],
        "test": [
            "300 4bfaf511e4a235e308bd9831ec614f71ee77ec460cc60d058d3b7449154506f7",
            "539 16cfb6edd437c68ac5ffd908944be3bf75f538fd721eb650c3b2f73b8bc3d095",
        ],
    },
    "curvature_generalization/width_mnist[excerpt]": {
        "train": [
            {"order": "8317344a3478ae61a02bf9f573091df82194abe92b9bc9f6391a90f7be37bd07",
             "batches": "1000 484e33951bdc73ab5505b571f1e08bb0e16f70bf654cc29ec3dc39e7901c9fa2"},
            {"order": "3c1f87b1df934cf3bf3dffaf1e8fb4ceb899c680a5b5f292ac49bc5e44ef92b2",
             "batches": "1000 d8ff21a1d626234839271bc087b17d2f0d728aa6d67c9177d0f34bad42833d39"},
        ],
        "val": [],
        "test": [
            "1000 67199fb0b9746f602b1e3ce3684fe0d17cb7c239b8f54385cc1b9e72cfcba365",
            "1024,976 8dbd2073d3286089e8485275f94e5fad3bb0a5f61fca5058b499a109e31f7d93",
        ],
    },
    "curvature_generalization/width_tiny": {
        "train": [
            {"order": "bf620a2862b25b3d22004cf31ea703c3917f3e6d38a41df2e4452851170e0fab",
             "batches": "512 884d5d2885b1ce7480837b5d229e027d7649bcc316e38d30561e183dd1fae5fa"},
            {"order": "4785de033b4af11f162fd58d26d9b5bdbfeee850104a34b7022bd4245ce29f83",
             "batches": "512 7448dcafabc5bf93051aae63bbdcbc965f2014c76075d5a75b617504e44ed633"},
        ],
        "val": [],
        "test": [
            "512 90c5ead98a96a9e8f452cdec58f795c8e347e97a96c4d12133f2e97924c17026",
            "539 16cfb6edd437c68ac5ffd908944be3bf75f538fd721eb650c3b2f73b8bc3d095",
        ],
    },
    "finsler_latent_metric/circles_sphere": {
        "train": [
            {"order": "fd0527bbd941b2168323a38c08da27c1924537fb701db30cf7633ac06c0e3f37",
             "batches": "64x7,32 7eb228990b6532d9f8c6247916054f909b52157e61640616a91e36629947dd12"},
            {"order": "7213ecb84ad54df298d1936c9dcb9c77e8a0067d6a5247180c6cf3b5ba539952",
             "batches": "64x7,32 d7f89cffff7010ff63a012a3ad5eb5163f9893f32f6455bbfc47a70070dce55f"},
        ],
        "val": [
            "60 bf70b100a8203cce503c32579b0b6512e4138c8d006887b4e51e66cd4aecc2f4",
        ],
        "test": [
            "60 84970bb27cabdc1f5d4c6aa971af0f027955356403e38384e14b7c261bbe8917",
        ],
    },
    "finsler_latent_metric/fashion_mnist[stand-ins]": {
        "train": [
            {"order": "79f2b67b1d6d55fc251e47739ffa5c53c768e0ad6c1a988d7b986f95d162ef21",
             "batches": "8x4 4c56055df3b908eeeb85f379d41f18c065a3737b6914972c4657dc9ca0384c9a"},
            {"order": "9cb9dc1fda06ceee5abfa4b45899a77cbb6fa066b597c493dfca0458818107b6",
             "batches": "8x4 a102f64262b897a170c3c6bfeb82b2cc7c2bbc8194d75d9d85786674d9fd6d31"},
        ],
        "val": [
            "4 3dc1deacd085068b837adad7f2bbff6b5771fb2eb0291e21c4324d6999c7597f",
        ],
        "test": [
            "4 d28334c9ce4e08ebc184cb4b3fc1f7a6db80a2a3d310bbe2dac3db32c19cb47c",
        ],
    },
    "finsler_latent_metric/font[excerpt]": {
        "train": [
            {"order": "4e58655f60aa644d26a9d7b4504009630331a9700d36d937ffaa76c7d2d8fb27",
             "batches": "16x2,9 a4f1b3825fdff56f9f086acf35e6bdbe26813d112e8a449813ddaa67788d8d11"},
            {"order": "aec3a7f6076b1631ca75b6616b1e575d90841a33ce500c162729a8c7c0ef5875",
             "batches": "16x2,9 14c2e69c96c2e89450a4d57dee3188f0521ef035ec74f5224fda4995a7fbd0c7"},
        ],
        "val": [
            "41 e8cac92496e74df0d19401fdd1d266ad679805b52cd3f001b74accd9dc6b67f4",
        ],
        "test": [
            "5 30207d548eacf176dbd389e503d77787971d2d83ba925c9c0ee5b36c28a58e4b",
        ],
    },
    "finsler_latent_metric/gplvm_qpcr[excerpt]": {
        "train": [
            {"order": "0bc9d7bbea974b6c6f79ccc8a6c1bef3613708880a596e66c3e651c894c06527",
             "batches": "349 8bd6cb6a69112ef0a135dbe5a3b1c36d73754051f344705f0e5beef3f577210b"},
            {"order": "50a84e72c9c25d542bfbd44f36931618f0e85678db8c6dea2cdecb4b62df22af",
             "batches": "349 8c1eaa5ce29cf42fdd04d55786754878174d56073e832faa719943f5b0d61d30"},
        ],
        "val": [
            "44 a1ca1a39f32d94f6423ba3f6c712010d3b17ff255ebc88ad05b6526b87f0b5ef",
        ],
        "test": [
            "44 0fbc9587c183d9e699449b5be2d3081103bc4297c24deda2b404b88876a8bd4c",
        ],
    },
    "finsler_latent_metric/gplvm_starfish_sphere": {
        "train": [
            {"order": "ee5e896178230a50d25b7cc640b89296892cd708418e2d145668ff458c5da034",
             "batches": "800 615bc1bd7d008d763e5afa7bc0269141a900b63e6549907a12014db3f7161a4b"},
            {"order": "f06462358c18c6d0759c42e05738052e2d155a520e450a82bb7c29783c3e3bc5",
             "batches": "800 159679c5a1419ab65697293e600e7e8b69d51c0b34014d204ee4435999b31268"},
        ],
        "val": [
            "100 7e8acea4aaf33f913e8a850c6e76fa6ed747050595b7cf1a74a6ce15ed33caa4",
        ],
        "test": [
            "100 45cf949239cd3b59d78dea69e21e113a128e9f860a3190358d2645355a21bc37",
        ],
    },
    "finsler_latent_metric/mnist_fisher[excerpt]": {
        "train": [
            {"order": "9c7d34f7aef8168ced3ec15fd51830c01ddd43b1d6fc29af64e3cb64524c361b",
             "batches": "128x31,32 8e8b8683d20ddadfad91b4994352118fc860c15af315466d83e15b299ca27dac"},
            {"order": "a6feb9ef2f3d4c2abcdb2088c0435d1fc404b83e259920e783566525ed306a4c",
             "batches": "128x31,32 048524d830e0b5e3268440d6a460db2ac03b7db859587a1643686ba7adf92d61"},
        ],
        "val": [
            "500 57376c9c08f0f9bf0c19cc60422019be7e360abc8b13610cbb806964a7f0fa0e",
        ],
        "test": [
            "500 3cbc0a6aafdda832919e368bb7055e631b695f554f5e47b0503725065e7337cf",
        ],
    },
    "finsler_latent_metric/qpcr[excerpt]": {
        "train": [
            {"order": "0bc9d7bbea974b6c6f79ccc8a6c1bef3613708880a596e66c3e651c894c06527",
             "batches": "64x5,29 d92bfb544ec76eab357c703694e1aadf51d82bee7c45878407bf7dedd7eb21f0"},
            {"order": "50a84e72c9c25d542bfbd44f36931618f0e85678db8c6dea2cdecb4b62df22af",
             "batches": "64x5,29 e1e89e46d0972d730160d344ec4c0d7dcaceb8369c58d26bfea0388ceef7940f"},
        ],
        "val": [
            "44 a1ca1a39f32d94f6423ba3f6c712010d3b17ff255ebc88ad05b6526b87f0b5ef",
        ],
        "test": [
            "44 0fbc9587c183d9e699449b5be2d3081103bc4297c24deda2b404b88876a8bd4c",
        ],
    },
    "finsler_latent_metric/starfish_sphere": {
        "train": [
            {"order": "ee5e896178230a50d25b7cc640b89296892cd708418e2d145668ff458c5da034",
             "batches": "64x12,32 f0c500c0d59fda5e70b3418c23c92a4be559314bbd9d52fe94ca955c8e941a81"},
            {"order": "f06462358c18c6d0759c42e05738052e2d155a520e450a82bb7c29783c3e3bc5",
             "batches": "64x12,32 7efb3c4d7c0a5553fa56dda0185e47683c2bd579616f8fbdb256a58f5ca94acf"},
        ],
        "val": [
            "100 7e8acea4aaf33f913e8a850c6e76fa6ed747050595b7cf1a74a6ce15ed33caa4",
        ],
        "test": [
            "100 45cf949239cd3b59d78dea69e21e113a128e9f860a3190358d2645355a21bc37",
        ],
    },
    "finsler_latent_metric/starmen[excerpt]": {
        "train": [
            {"order": "91537567658aa13c895b03b7dc9febe5577afb1ac17f820e7dcf50b458f1a22e",
             "batches": "32x5 e40863b0e3530f3c80676081dba0ee2af54fc873b772355e456d1cc08fbb1b04"},
            {"order": "411f0b703b75c7bc312b87113c18dbe31f10c31ab0b657fe867ba129f142a31d",
             "batches": "32x5 58b6dc0150aaac940df5babd7027a1cbe6ade5adc59554472ced23fe18b8bd15"},
        ],
        "val": [
            "20 bb5d281ee4d96212e67036b65169f9f751b640038fccff87c7f135fa17552c42",
        ],
        "test": [
            "20 471ff580b95033e494bb8f7a91ae4f3392bd27dde4cdec1c3e3fdeaa07bd33b3",
        ],
    },
    "finsler_latent_metric/tiny": {
        "train": [
            {"order": "fd0527bbd941b2168323a38c08da27c1924537fb701db30cf7633ac06c0e3f37",
             "batches": "64x7,32 a957c9a18b7bba5833aae109320ee914e250c491c84e9e6bd9dc069e907d25a6"},
            {"order": "7213ecb84ad54df298d1936c9dcb9c77e8a0067d6a5247180c6cf3b5ba539952",
             "batches": "64x7,32 9288a3cbb622c4506760826c73fc1a1140eba25b1cec6aacbdf2d74a97dce3f0"},
        ],
        "val": [
            "60 5720083da8916c5a47142bd54c677fc6e6388fcb1e55e8d2800807d65e12f92d",
        ],
        "test": [
            "60 15037b9a243992182a05547997eba43d3032bdf3151a4ffa9d4058dc2a890eda",
        ],
    },
    "finsler_latent_metric/tiny[no test]": {
        "train": [
            {"order": "acc4427cae177b30288cdeb17c1fb8e5cb2bd726f080385aa17899c106e7e8fa",
             "batches": "64x8,28 9c117e4deb71c55122ceca829f789c8a053c47734715bf99a3785a04515272d8"},
            {"order": "822bc18c49b3804513b9861bdb1a40c191c05e024da4b39d27b67643a1e28bc7",
             "batches": "64x8,28 689ba44874941fea33940e33d998a5dd98969aa0de1058607119a93b503808e7"},
        ],
        "val": [
            "60 15037b9a243992182a05547997eba43d3032bdf3151a4ffa9d4058dc2a890eda",
        ],
        "test": [
            "512,28 abd2ab86f9c516c9ebf7212396df11ab875489ac6d8f908f5c9b01f3c9c7ec93",
        ],
    },
    "finsler_latent_metric/tiny_circles": {
        "train": [
            {"order": "fd0527bbd941b2168323a38c08da27c1924537fb701db30cf7633ac06c0e3f37",
             "batches": "64x7,32 7eb228990b6532d9f8c6247916054f909b52157e61640616a91e36629947dd12"},
            {"order": "7213ecb84ad54df298d1936c9dcb9c77e8a0067d6a5247180c6cf3b5ba539952",
             "batches": "64x7,32 d7f89cffff7010ff63a012a3ad5eb5163f9893f32f6455bbfc47a70070dce55f"},
        ],
        "val": [
            "60 bf70b100a8203cce503c32579b0b6512e4138c8d006887b4e51e66cd4aecc2f4",
        ],
        "test": [
            "60 84970bb27cabdc1f5d4c6aa971af0f027955356403e38384e14b7c261bbe8917",
        ],
    },
    "finsler_latent_metric/tiny_fisher": {
        "train": [
            {"order": "b1a83a4f2553569171c0e4412a245cf1b477459d53f61464da14b0014515cfe2",
             "batches": "64x22,29 55f11346d1341fe12d3f95dd7b7d1ab0b1637f1ffdfd68cc94eca6265e16231e"},
            {"order": "6b7e4480312f3d3b0b9976b0e506685cfadd63047cf5055e68daac0ca0c30f81",
             "batches": "64x22,29 c9a016ae050799fa958610324b6825a5083d125e50f6c34781cf2fd3914c1738"},
        ],
        "val": [
            "180 153b7d1ea2424b777be324ca8a3ffcceb49770b7e8ae5d0c785a2ac8ced6cc82",
        ],
        "test": [
            "180 d25373be4121ed9d83ad6ab9065a7bbdd5d6ea3836fcd993b7697c439cba0f70",
        ],
    },
    "finsler_latent_metric/tiny_gplvm": {
        "train": [
            {"order": "24d6b72069fb5ef31d6d150f37a62dd55efcd513677359ce2b6a1beb696b1e18",
             "batches": "320 36cd428e7dfd5df1fe2a784eb2b6028618d6a8ebf29acc2e98684849806f4c93"},
            {"order": "4e3c44c00802541633b8d900c951fe579503331929c58ac1743c7515e7bc4a0b",
             "batches": "320 98b47e60850b91a6cc88247fbc2cd2f2eb1a71451fd6840bbedebc2c9ca07626"},
        ],
        "val": [
            "40 91b9c76ce35528150beefc2f6ec023415c11fe25ea747ea6e4123277e58e9b2d",
        ],
        "test": [
            "40 74d58a931a11882c77d3e26e9e5706198ce774cba02af79a0bf540e0b394a2af",
        ],
    },
    "gin/artificial": {
        "train": [
            {"order": "2e1bca2cffe20075021da21e519445815ade5ce54a1d9e317e8002e0621aafbf",
             "batches": "1000x10 5b8924e823fe71968411ee97ed160c2e4ba9daa3fdaedf807389235964880381"},
            {"order": "b05aea745726423cfb1273652b86bbfc749c2e74c6cee273ca7f1b5bea128093",
             "batches": "1000x10 ae97dc3aa4f910d15167ae16369558ee2c6aa2d13f2945282d5e7df7296afc91"},
        ],
        "val": [
            "1000 5605dbc716c37c7a296d4715ff07f628c1dc9a803ed62cac91d1d390e598d770",
        ],
        "test": [
            "5000 93057e73e26f59eba8a7f9222046cdf70767f050284f9398b9d29d34de43fec5",
        ],
    },
    "gin/artificial_tiny": {
        "train": [
            {"order": "6aa772a519881513319395ccac762e086e03aad41b5720f7200f14a263c0d88a",
             "batches": "500x6 c4e4f88327c11c04c8206701a613fbf4bb3da9989489f4cc3cb9927a2628dc07"},
            {"order": "b7996cb518545941f144d286f8ff523bec9717eaf374017155313374099b6c45",
             "batches": "500x6 8c2a3660510367a432c6f2a43ea031aea5692ef233aa22cb085f2425514ced15"},
        ],
        "val": [
            "500 e17d89a230700febec8d65dd05286b1089d142882ee7c79df8dbd1cd727e2f74",
        ],
        "test": [
            "2000 b5742938b0988f3c796d344ee735e5b1c53d5c3a6399eb0df545a51264f26bf6",
        ],
    },
    "gin/artificial_tiny[no val]": {
        "train": [
            {"order": "6aa772a519881513319395ccac762e086e03aad41b5720f7200f14a263c0d88a",
             "batches": "500x6 c4e4f88327c11c04c8206701a613fbf4bb3da9989489f4cc3cb9927a2628dc07"},
            {"order": "b7996cb518545941f144d286f8ff523bec9717eaf374017155313374099b6c45",
             "batches": "500x6 8c2a3660510367a432c6f2a43ea031aea5692ef233aa22cb085f2425514ced15"},
        ],
        "val": [
            " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ],
        "test": [
            "2000 b5742938b0988f3c796d344ee735e5b1c53d5c3a6399eb0df545a51264f26bf6",
        ],
    },
    "gin/digits_tiny": {
        "train": [
            {"order": "ddcab0d89005008f04ed7cb872a4db4ee3b8ddf899ee67a4b0be82ddc5c16783",
             "batches": "100x12,81 515e3e03ddf0f3992d381205546755342f90924d913c80804fd297f8b3407ef2"},
            {"order": "e366f71e7ad11ca7750f5dfbc9cd7e4c316ccfa7199184ad09d9bd944aaff40c",
             "batches": "100x12,81 99d37a6a5a42c7923b90e0525a80f6df7e690307050666d69f981bc0e6bde74e"},
        ],
        "val": [
            "67 bc3753c2997d21249c92abf3c7b0ef0999943b0288bc10e88b93a49516ebde33",
        ],
        "test": [
            "449 5fa965246e8df138745464705edb37bda1e73a5469591af6b412700ed7f4ca50",
        ],
    },
    "gin/emnist_cpu[excerpt]": {
        "train": [
            {"order": "d3657c23538fb01513c4508dff54c682c064adc8620b39a436c6ecefaf038ec1",
             "batches": "240x33,70 043366d89401386c73cc59133f48676a0161f92a05397532e2931032f3c9be49"},
            {"order": "c3194ce1ad0a20cf2beb870007fba9a4353f9358f6fe2a71428464048407ac6a",
             "batches": "240x33,70 7d802bafcf1aea99d4f1fb2332592cfbc62d8d63a50566f4b0529bcb8acc5277"},
        ],
        "val": [
            "510 3cd8cca3fc28383616781db5ed3f5246a3d05a4161e430e03dd4d4d102ee44d0",
        ],
        "test": [
            "1000,500 5f8cb67b615737bc15b0268def3a32441ae64d1d99d8ef95335d4a8e5b887b7d",
        ],
    },
    "gin/emnist_cpu[mnist_test excerpt]": {
        "train": [
            {"order": "d3657c23538fb01513c4508dff54c682c064adc8620b39a436c6ecefaf038ec1",
             "batches": "240x33,70 545f9accdcf0746dda73f77e85c1f7f367765daee01b075aa35fd34f4453cc5b"},
            {"order": "c3194ce1ad0a20cf2beb870007fba9a4353f9358f6fe2a71428464048407ac6a",
             "batches": "240x33,70 39b1891b491bbf701abb62832f28ca39f5b267b7907e701ae79dfb578624bedf"},
        ],
        "val": [
            "510 396e9f5b364e77c7fd6bb57a45c3d62520df676cd6295bf18d0f2e2313a9d691",
        ],
        "test": [
            "1000,500 f0da3c34f59719a193269056854dd3a03491086b815de80daab46e13106c51cf",
        ],
    },
}


# ---------------------------------------------------------------------------- digests


def _update(h, batch) -> None:
    if isinstance(batch, dict):
        for key in sorted(batch):
            h.update(repr(key).encode())
            _update(h, batch[key])
    elif isinstance(batch, (list, tuple)):
        h.update(f"seq{len(batch)}".encode())
        for item in batch:
            _update(h, item)
    else:
        array = batch.detach().cpu().numpy() if isinstance(batch, torch.Tensor) else np.asarray(batch)
        h.update(repr((array.shape, array.dtype.str)).encode())
        h.update(np.ascontiguousarray(array).tobytes())


def _batch_size(batch) -> int:
    while isinstance(batch, (list, tuple)):
        batch = batch[0]
    if isinstance(batch, dict):
        return _batch_size(batch[sorted(batch)[0]])
    return int(batch.shape[0])


def loader_digest(loader) -> dict:
    """Batch sizes (their count and order) and the digest of every batch, in order."""
    h, sizes = hashlib.sha256(), []
    for batch in loader:
        sizes.append(_batch_size(batch))
        _update(h, batch)
    return {"batch_sizes": sizes, "digest": h.hexdigest()}


def _eval_loaders(datamodule, hook: str) -> list:
    """The loaders Lightning reads for `hook`: none when the data module does not override it."""
    if not is_overridden(hook, datamodule, parent=pl.LightningDataModule):
        return []
    loaders = getattr(datamodule, hook)()
    return list(loaders) if isinstance(loaders, (list, tuple)) else [loaders]


def _compact(sizes: list[int]) -> str:
    """[32, 32, 32, 16] -> '32x3,16'."""
    runs: list[list[int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1][1] += 1
        else:
            runs.append([size, 1])
    return ",".join(f"{s}x{n}" if n > 1 else str(s) for s, n in runs)


def _summary(digest: dict) -> str:
    return f"{_compact(digest['batch_sizes'])} {digest['digest']}"


def digests(datamodule, epochs: int = 2) -> dict:
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    train = []
    for epoch in range(epochs):
        _set_sampler_epoch(loader, epoch)
        order = hashlib.sha256(repr(list(loader.sampler)).encode()).hexdigest()
        train.append({"order": order, "batches": _summary(loader_digest(loader))})
    val = [_summary(loader_digest(v)) for v in _eval_loaders(datamodule, "val_dataloader")]
    datamodule.setup("test")
    test = [_summary(loader_digest(t)) for t in _eval_loaders(datamodule, "test_dataloader")]
    return {"train": train, "val": val, "test": test}


# ---------------------------------------------------------------------------- Fashion-MNIST stand-ins


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion(root: Path, monkeypatch) -> None:
    """Two small gzipped t10k files (40 images) in root; finsler is told their md5 sums."""
    rng = np.random.default_rng(11)
    files = {"t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
             "t10k-labels-idx1-ubyte.gz": np.tile(np.arange(10, dtype=np.uint8), 4)}
    root.mkdir(parents=True)
    sums = {}
    for name, array in files.items():
        content = gzip.compress(_idx_bytes(array), mtime=0)
        (root / name).write_bytes(content)
        sums[name] = hashlib.md5(content).hexdigest()
    import papers.finsler_latent_metric.data as finsler

    monkeypatch.setattr(finsler, "FASHION_MNIST_GZ_MD5", sums)


# ---------------------------------------------------------------------------- the test


@pytest.mark.parametrize("case", sorted(CASES))
def test_loaders_unchanged(case, tmp_path, monkeypatch):
    experiment, overrides, needs = CASES[case]
    if needs is not None and not (SHARED_DATA / needs).exists():
        pytest.skip(f"real data excerpt not found: {SHARED_DATA / needs}")
    if "fashion_mnist" in case:
        write_fashion(tmp_path / "fashion", monkeypatch)
    overrides = [o.format(shared=SHARED_DATA, tmp=tmp_path) for o in overrides]
    cfg = compose("train", [f"experiment={experiment}", *overrides])
    datamodule = hydra.utils.instantiate(cfg.data)
    assert digests(datamodule) == EXPECTED[case]
