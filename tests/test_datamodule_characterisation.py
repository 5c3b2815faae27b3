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
Each tensor's digest covers its shape, dtype (with byte order) and bytes: skin_lesion_aae's
characterisation digests its batches the same way (`_update`).
"""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import hydra
import numpy as np
import pytest
import pytorch_lightning as pl
from lightning_fabric.utilities.data import _set_sampler_epoch
from pytorch_lightning.utilities.model_helpers import is_overridden

from common.run import compose
from tests.shared_data import SHARED_DATA
from tests.skin_lesion_aae.test_batch_order import _update

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
             "batches": "32x2 3b46b0cf2b8e05664e1989fe4add46418133aaa8fd432ac05e6af21b03ed8c6d"},
            {"order": "c90d1e1ca8fad9b470142089ffef9289c8311b8f686a45648a75a6fa4d5d988a",
             "batches": "32x2 b49589457349b66cb62c3dfd92a1869d3600884bba1138009b2033ef8193bffb"},
        ],
        "val": [],
        "test": [
            "32 dbb4922f5a69593b6394f03f61995d24dbf59603f904f96dc7d45363ab946a15",
            "64 b4c99bc58ba1b4a0ec698e35b926cd072ccd36f5b116b367ba4a9abc33e27200",
        ],
    },
    "curvature_generalization/mnist[excerpt]": {
        "train": [
            {"order": "c3bd76ce622cb7103cdb98826087499ca5d046ad7a84c4e9301c7bae3a9d041f",
             "batches": "32x62,16 b1e087b89ac3b2f655d5d7f6ecf5f286406a5d65e66ace1930b9b493a2ccf4bb"},
            {"order": "d837d513979bb638e063ff1c90977c3e7a552a877da77aef48e161353e73f0ee",
             "batches": "32x62,16 1f1f5f8ad0d7a21ee6e03b066c698e4c2113511dc9309ed27afeb7d895f28018"},
        ],
        "val": [],
        "test": [
            "1000 fd961dc66d72c93c1fb7df96e7742b56a078ee7eab54c10a5e9acc26bca4ca37",
            "1024,976 5347fe603f50a253342223b67f7119435724e19399deacd221476a36683be278",
        ],
    },
    "curvature_generalization/tiny": {
        "train": [
            {"order": "24a1ff392aebe503b091777319438c05e5bc4effc7fcdd03950c50e8df965221",
             "batches": "16x18,12 8923a320de578f2877e22a02a3ab73a25e8656928dc05370673757d7ec680557"},
            {"order": "4e2a5fa93fcc275ba486f867fcc26e86862b5961844e62d9490436aac034142c",
             "batches": "16x18,12 c78c19fa7227507739c7aaae916ee17eb7a6c5d130c042c95be88290a1f64547"},
        ],
        "val": [],
        "test": [
            "300 7a7ffb3e75c9d5fb237950e47e423cfb00304c1d72b768f2344b21cb7ed889f2",
            "539 7c93dc78087741af5b1785bf814364d2092490918a0a0266a86151d1c4c4e4c9",
        ],
    },
    "curvature_generalization/width_mnist[excerpt]": {
        "train": [
            {"order": "8317344a3478ae61a02bf9f573091df82194abe92b9bc9f6391a90f7be37bd07",
             "batches": "1000 bbaddcf3ecb00a486fecde5c5969a59a61dedf500e7f4d312b6642a6257b1d81"},
            {"order": "3c1f87b1df934cf3bf3dffaf1e8fb4ceb899c680a5b5f292ac49bc5e44ef92b2",
             "batches": "1000 757a1f7185c703e719114d96fbfb6acc3291a1b56df6f129433255ede47a4977"},
        ],
        "val": [],
        "test": [
            "1000 fd961dc66d72c93c1fb7df96e7742b56a078ee7eab54c10a5e9acc26bca4ca37",
            "1024,976 5347fe603f50a253342223b67f7119435724e19399deacd221476a36683be278",
        ],
    },
    "curvature_generalization/width_tiny": {
        "train": [
            {"order": "bf620a2862b25b3d22004cf31ea703c3917f3e6d38a41df2e4452851170e0fab",
             "batches": "512 e80b8ab8543c593c26f71fd26b948a86fd6eb9b3a4fb7be88672d54d5d90cef0"},
            {"order": "4785de033b4af11f162fd58d26d9b5bdbfeee850104a34b7022bd4245ce29f83",
             "batches": "512 26c81597cf7e4227e996b7d3d7f46b201d3c73da8252abc0c003e513d7b37abe"},
        ],
        "val": [],
        "test": [
            "512 cfc2ea12b160c5227baf73e34cc0adb8d5c05e946c4aacbc551df98db63fb65c",
            "539 7c93dc78087741af5b1785bf814364d2092490918a0a0266a86151d1c4c4e4c9",
        ],
    },
    "finsler_latent_metric/circles_sphere": {
        "train": [
            {"order": "fd0527bbd941b2168323a38c08da27c1924537fb701db30cf7633ac06c0e3f37",
             "batches": "64x7,32 bbd315224aa933f88eebb2f134f56566862e5ef25a2c5d9040d1045a8d51e65a"},
            {"order": "7213ecb84ad54df298d1936c9dcb9c77e8a0067d6a5247180c6cf3b5ba539952",
             "batches": "64x7,32 f25df491e5f1332498846e2c55eb200e0f5a76e183e580fc3d672efb0776370e"},
        ],
        "val": [
            "60 02c2948336ea0cc7d51aef83e293a14ddf8577abb3cc811b28a853cd9c2b1ce3",
        ],
        "test": [
            "60 97a1f90b697e5ecab6a82928dad1319b85e0effc2b4ec105413d35883da17c86",
        ],
    },
    "finsler_latent_metric/fashion_mnist[stand-ins]": {
        "train": [
            {"order": "79f2b67b1d6d55fc251e47739ffa5c53c768e0ad6c1a988d7b986f95d162ef21",
             "batches": "8x4 f46af1ae88bad2938782a1e0593c19b2edf97488f0fedbdfb285ebe7cd844a97"},
            {"order": "9cb9dc1fda06ceee5abfa4b45899a77cbb6fa066b597c493dfca0458818107b6",
             "batches": "8x4 9ebe9fb187e1d4d7bc57eef1560b844f37089574bdffc3845ecab0474dde7988"},
        ],
        "val": [
            "4 c5acf689f6e7f34867b600105eca48c06bac4ba2b1d4837625eae43c1a713ea9",
        ],
        "test": [
            "4 f539a46d091ce6107382cf9a1ffec1a54f4bdc20d709d90d895b0e5298629664",
        ],
    },
    "finsler_latent_metric/font[excerpt]": {
        "train": [
            {"order": "4e58655f60aa644d26a9d7b4504009630331a9700d36d937ffaa76c7d2d8fb27",
             "batches": "16x2,9 70367a30acf8c323ec099adb53ad4d5025f5694dd182ac67dce18f7eeb576b24"},
            {"order": "aec3a7f6076b1631ca75b6616b1e575d90841a33ce500c162729a8c7c0ef5875",
             "batches": "16x2,9 57b0fbdf29e62253428f05cffa8dbc3110ca4d422b5fdfbcdf5de90cb8d01efa"},
        ],
        "val": [
            "41 c366c7e9d62a7bbdbcc0c889f6bf6bc4ed1ff36771ced41eaddb34f02a028d67",
        ],
        "test": [
            "5 3806016df953ce3836a7338c25f5c083b459e4f74ba79ebe7ca4f585533fde70",
        ],
    },
    "finsler_latent_metric/gplvm_qpcr[excerpt]": {
        "train": [
            {"order": "0bc9d7bbea974b6c6f79ccc8a6c1bef3613708880a596e66c3e651c894c06527",
             "batches": "349 e31e203ac0e867537d01ca5d1348efb890f6ce69c668a219552916291a9540cd"},
            {"order": "50a84e72c9c25d542bfbd44f36931618f0e85678db8c6dea2cdecb4b62df22af",
             "batches": "349 5912880a5d01c2485ba4049792d9c6cd142ff6b52bba755d747387f0057cc126"},
        ],
        "val": [
            "44 600e58fbf8650ab7b023d1915b67c2cb77a5201b52d1ad0cdfec22cfbf9125ea",
        ],
        "test": [
            "44 62808de7a4c7f7e4309953ec2bf88925a318b04b061d2f8ec86f4db1a0aeb924",
        ],
    },
    "finsler_latent_metric/gplvm_starfish_sphere": {
        "train": [
            {"order": "ee5e896178230a50d25b7cc640b89296892cd708418e2d145668ff458c5da034",
             "batches": "800 2ea5195fc82a3d584ac244e3b4cd653998f963d4b7faea0b089b76dc23a77751"},
            {"order": "f06462358c18c6d0759c42e05738052e2d155a520e450a82bb7c29783c3e3bc5",
             "batches": "800 60707be619497a5775ad5fd782a2fa3ac28eac5f3c6e7c9fd4a63fd7fa49db7f"},
        ],
        "val": [
            "100 7a46669b810697ec273ff63068d535418c3c8e112da908c07635f59cd74d0a78",
        ],
        "test": [
            "100 e0ad711f899ff7146aafd5a207543eb0f49be9cce1923d22ef1d944811171ce0",
        ],
    },
    "finsler_latent_metric/mnist_fisher[excerpt]": {
        "train": [
            {"order": "9c7d34f7aef8168ced3ec15fd51830c01ddd43b1d6fc29af64e3cb64524c361b",
             "batches": "128x31,32 3dae24f096600b43ec3fae47e9ca1a2e46fdad0d8d159910794789c8d3387422"},
            {"order": "a6feb9ef2f3d4c2abcdb2088c0435d1fc404b83e259920e783566525ed306a4c",
             "batches": "128x31,32 d0cdc9b9f0ea6cd489c4283cfd2088d7e1fa223e19dbd5f46e8308afdc84d2f3"},
        ],
        "val": [
            "500 c2011ba86ff59b5ccad7f99a49093c8748b6beda48b534710f7d23ff8c99f9da",
        ],
        "test": [
            "500 2841d19c6603856e24313bd500e9c079249a3eb6d685c1e508c6d411026e6d34",
        ],
    },
    "finsler_latent_metric/qpcr[excerpt]": {
        "train": [
            {"order": "0bc9d7bbea974b6c6f79ccc8a6c1bef3613708880a596e66c3e651c894c06527",
             "batches": "64x5,29 25a547467a25286ae5887b49c7a567b62997a7cbf63bbb101603e0d62e884f66"},
            {"order": "50a84e72c9c25d542bfbd44f36931618f0e85678db8c6dea2cdecb4b62df22af",
             "batches": "64x5,29 56012c57b8a42f5059af5bb820aec7a8fcfaefe34d010c4be1b4f71fc535db8d"},
        ],
        "val": [
            "44 600e58fbf8650ab7b023d1915b67c2cb77a5201b52d1ad0cdfec22cfbf9125ea",
        ],
        "test": [
            "44 62808de7a4c7f7e4309953ec2bf88925a318b04b061d2f8ec86f4db1a0aeb924",
        ],
    },
    "finsler_latent_metric/starfish_sphere": {
        "train": [
            {"order": "ee5e896178230a50d25b7cc640b89296892cd708418e2d145668ff458c5da034",
             "batches": "64x12,32 51ac6bc3362616c076553eec03393477bd432833fd0f0ca34ee2997f8ce898c8"},
            {"order": "f06462358c18c6d0759c42e05738052e2d155a520e450a82bb7c29783c3e3bc5",
             "batches": "64x12,32 2c43892f9b88a5fa7e374eca04f83d381a3649658ff645ae9f7a459e536162eb"},
        ],
        "val": [
            "100 7a46669b810697ec273ff63068d535418c3c8e112da908c07635f59cd74d0a78",
        ],
        "test": [
            "100 e0ad711f899ff7146aafd5a207543eb0f49be9cce1923d22ef1d944811171ce0",
        ],
    },
    "finsler_latent_metric/starmen[excerpt]": {
        "train": [
            {"order": "91537567658aa13c895b03b7dc9febe5577afb1ac17f820e7dcf50b458f1a22e",
             "batches": "32x5 85c0871bc447a7bab58d3ae029f83966471137b1ad39a618e5763a481abfa886"},
            {"order": "411f0b703b75c7bc312b87113c18dbe31f10c31ab0b657fe867ba129f142a31d",
             "batches": "32x5 411938672cac87a0dc12d511a852c50233856990f1de60bc29fb8b27c885558c"},
        ],
        "val": [
            "20 2ddf34d4c28bde31801ae78f37ea82debcc2d0c2389a890db2c32b051ca9cda7",
        ],
        "test": [
            "20 a9d87e5879ececd001f423dd62d9a58be31eceff0ad09db8181bf6ecbc2c2750",
        ],
    },
    "finsler_latent_metric/tiny": {
        "train": [
            {"order": "fd0527bbd941b2168323a38c08da27c1924537fb701db30cf7633ac06c0e3f37",
             "batches": "64x7,32 c64e814c8726555d0d97477e30c03d4e4cb4b295019e57921eb0334c539647a0"},
            {"order": "7213ecb84ad54df298d1936c9dcb9c77e8a0067d6a5247180c6cf3b5ba539952",
             "batches": "64x7,32 b3bbf146aba2aa35248ebb6a37080927adfe3a4cf146d258f0592c119d315afb"},
        ],
        "val": [
            "60 5419aeb2da024237d36ecf86ec87837dfa6cd370bfc1852fbbf2b62facea61a0",
        ],
        "test": [
            "60 87391d52f5346ee864c95ce699bec6d7b6d4144093288fe9f74109e30ec2ee67",
        ],
    },
    "finsler_latent_metric/tiny[no test]": {
        "train": [
            {"order": "acc4427cae177b30288cdeb17c1fb8e5cb2bd726f080385aa17899c106e7e8fa",
             "batches": "64x8,28 3332a02ef10d64cc88bc2fc8e181bed67e3459226fc249e00ea2c8b3095a373a"},
            {"order": "822bc18c49b3804513b9861bdb1a40c191c05e024da4b39d27b67643a1e28bc7",
             "batches": "64x8,28 7cc5034ec9d4f11de21e995a86843425c6fc3b85d642aa39f7d7c9b133e07c6d"},
        ],
        "val": [
            "60 87391d52f5346ee864c95ce699bec6d7b6d4144093288fe9f74109e30ec2ee67",
        ],
        "test": [
            "512,28 3879e9a417be47a4c4389c227b6094f75dced3a433d73f7f0d955baebebcff13",
        ],
    },
    "finsler_latent_metric/tiny_fisher": {
        "train": [
            {"order": "b1a83a4f2553569171c0e4412a245cf1b477459d53f61464da14b0014515cfe2",
             "batches": "64x22,29 40ad120592f4269cbf9f83432924547dcbc76ddd8f2e5cafc973b791258afe10"},
            {"order": "6b7e4480312f3d3b0b9976b0e506685cfadd63047cf5055e68daac0ca0c30f81",
             "batches": "64x22,29 fe6f00a352ada7398d5cfa0ba005413673b3acc30b4de36531bc6f2cefebdf27"},
        ],
        "val": [
            "180 5b72f931dd19ccdf8b8a98b850c0e13b5cb034a32565ff918814b9fae2136f8d",
        ],
        "test": [
            "180 1c2e85bf65411ad3403f00008cd9245d9fd411da7e57d0fb66534af4f4d4338f",
        ],
    },
    "finsler_latent_metric/tiny_gplvm": {
        "train": [
            {"order": "24d6b72069fb5ef31d6d150f37a62dd55efcd513677359ce2b6a1beb696b1e18",
             "batches": "320 90b20537c66cbbfc570ed583834f3df39fa176b20aa869beb09cc9cae53b081b"},
            {"order": "4e3c44c00802541633b8d900c951fe579503331929c58ac1743c7515e7bc4a0b",
             "batches": "320 46fc3352138c1badf5141372f1132af6f35ccd707cee56e1ced62a807fa95fdd"},
        ],
        "val": [
            "40 29cfd2f088569323158083e71bf2ad0dfc110b9d4442275c8c1113b4ac280132",
        ],
        "test": [
            "40 11f10d5d3ed676a2237d30b7a8abd5a56feeb009164af8751abe62143afd3707",
        ],
    },
    "gin/artificial": {
        "train": [
            {"order": "2e1bca2cffe20075021da21e519445815ade5ce54a1d9e317e8002e0621aafbf",
             "batches": "1000x10 52754e56d0b91d2c755777a89aa9cf12377143d394b381307306999b9970069c"},
            {"order": "b05aea745726423cfb1273652b86bbfc749c2e74c6cee273ca7f1b5bea128093",
             "batches": "1000x10 f6b865caf5c93bf031296f4981955eb2972711cb54c51522f6a67b085034a7ca"},
        ],
        "val": [
            "1000 06c8390563c0c07a776febd462f39ee47ea9a29078d1061343317871efda53c4",
        ],
        "test": [
            "5000 6f838a5cc213d150cb5b2a85a0bfc25a2c0801fa21a0b348a5565e2fec163ba6",
        ],
    },
    "gin/artificial_tiny": {
        "train": [
            {"order": "6aa772a519881513319395ccac762e086e03aad41b5720f7200f14a263c0d88a",
             "batches": "500x6 b00e53554cc130889cb684b8fcae49ed3f321fe729f3a4907fce6bd91d0ca2f1"},
            {"order": "b7996cb518545941f144d286f8ff523bec9717eaf374017155313374099b6c45",
             "batches": "500x6 933b9fc9d3e92de1355f46af1515209a4fa500387be4c37a866f970872180116"},
        ],
        "val": [
            "500 3db6c8691b6c722e9e94d0ea617cb74053f4a6d6c60b05bab73e7f16cb6fdd58",
        ],
        "test": [
            "2000 a421bfcbf6f57373e7b94b4424660575a3f9f8a1de0ab71a63642deb7a38842b",
        ],
    },
    "gin/digits_tiny": {
        "train": [
            {"order": "ddcab0d89005008f04ed7cb872a4db4ee3b8ddf899ee67a4b0be82ddc5c16783",
             "batches": "100x12,81 31a11cc4fdff6870e33069504363c3dae8647fb87feaf2944a4dc630c9132cf5"},
            {"order": "e366f71e7ad11ca7750f5dfbc9cd7e4c316ccfa7199184ad09d9bd944aaff40c",
             "batches": "100x12,81 eda1b26052abcb7735f25b999983359c7e582d66cd1f70f793287cc5e2dcaae8"},
        ],
        "val": [
            "67 2032c6947126177fbba9d62c0add5298bf52d2cdab5a0d339788ee30b5262e64",
        ],
        "test": [
            "449 772e2b183fdcd8738688869bf36709b8d49451d594bc425367d92f4922cee987",
        ],
    },
    "gin/emnist_cpu[excerpt]": {
        "train": [
            {"order": "d3657c23538fb01513c4508dff54c682c064adc8620b39a436c6ecefaf038ec1",
             "batches": "240x33,70 547af47c3edfcaa0deb63ae5aab4f1b0e3c7a8c1f093c7a27fa71aea6b638e52"},
            {"order": "c3194ce1ad0a20cf2beb870007fba9a4353f9358f6fe2a71428464048407ac6a",
             "batches": "240x33,70 0b471952322a130523cbb98dd8928710d79eb64709426d451ba6346cc886f856"},
        ],
        "val": [
            "510 374d3699e6db25c70ce4a9f841e764255dec49421c5ecd76d7d89c641e7c9f61",
        ],
        "test": [
            "1000,500 2fffc4d5b89462bed8c6485b668a1568527a4cd577cfdfe302d2af4adf43bf5a",
        ],
    },
    "gin/emnist_cpu[mnist_test excerpt]": {
        "train": [
            {"order": "d3657c23538fb01513c4508dff54c682c064adc8620b39a436c6ecefaf038ec1",
             "batches": "240x33,70 d3f99102e2a71e1b712fa8dad255b937e4675041e31c0dfd7a1b7dafff7148ef"},
            {"order": "c3194ce1ad0a20cf2beb870007fba9a4353f9358f6fe2a71428464048407ac6a",
             "batches": "240x33,70 524980e7271fac2e06b2290feed150bce1f6f9af351740e2eea1e3ec0dc613b5"},
        ],
        "val": [
            "510 680767c6c857b97c818854b3fbce5ac4d62404c5e9ce703641d38c212d217c87",
        ],
        "test": [
            "1000,500 f9ed7935b4eb4c37df0e37d3dc3848666fe5eb32baf13497b808ea338078cc58",
        ],
    },
}

# tiny_circles differs from circles_sphere in its training length only: the same data
EXPECTED["finsler_latent_metric/tiny_circles"] = EXPECTED["finsler_latent_metric/circles_sphere"]
# no validation points: the same training and test batches, a validation loader without batches
EXPECTED["gin/artificial_tiny[no val]"] = {
    **EXPECTED["gin/artificial_tiny"], "val": [" e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}


# ---------------------------------------------------------------------------- digests


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
        content = _idx_bytes(array)
        (root / name).write_bytes(gzip.compress(content, mtime=0))
        sums[name.removesuffix(".gz")] = hashlib.md5(content).hexdigest()
    import papers.finsler_latent_metric.data as finsler

    monkeypatch.setattr(finsler, "FASHION_MNIST_MD5", sums)


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
