"""Compress a user's torchvision classifier as the paper does, and measure what each step costs.

    python scripts/predict.py paper=pruning_quantisation input=IMAGE_FOLDER ckpt_path=MODEL.pt arch=mobilenet_v2 \
        [output=DIR] [image_size=224] [normalisation=imagenet] [sparsity=0.3] [calibration=50] \
        [repeats=20] [threads=1] [backend=fbgemm] [num_classes=N] [finetune=TRAIN_FOLDER epochs=2 lr=0.01]

`ckpt_path` holds the state dict of a torchvision classifier (`torch.save(model.state_dict(), path)`;
a dict with it under `state_dict` or `model`, or keys prefixed `module.`, is read too), built as
`torchvision.models.<arch>(num_classes=N)`; N is read from the checkpoint's last layer. `input` is
an image folder in torchvision's ImageFolder layout, `<class>/<image>.jpg|png`, the classes sorted
by folder name being the model's class indices 0..N-1. Each image is converted to RGB, resized to
`image_size` x `image_size` and normalised (`imagenet`: torchvision's mean and std; `half`:
(x - 0.5) / 0.5, as this paper's networks were trained); an unreadable image is skipped and named.

Written to `output` (default: beside the checkpoint, `<name>.compressed/`), four TorchScript files
traced on a batch of the folder's images, each loadable with `torch.jit.load`:
- `float.pt`: the model as given;
- `pruned.pt`: the paper's per-layer rule, `sparsity` of every conv layer's filters (smallest L2 norm)
  and of every linear layer's outputs, the filters physically removed (`compression.slim_network`,
  widths kept at multiples of 8 for fbgemm's int8 kernels; the class layer keeps its outputs).
  The paper fine-tunes after pruning: give `finetune=` a folder of training images (same classes,
  same layout, never the folder it is measured on) and the pruned network is trained `epochs` passes
  over it with the paper's SGD (momentum 0.9, weight decay 1e-5, batch 50, `lr`); without it the
  pruned network is NOT fine-tuned and loses most of its accuracy;
- `int8.pt`: static post-training int8 (`compression.quantise_static`: conv/BN/ReLU fused, activation
  ranges observed on `calibration` images drawn with a fixed seed from the `finetune` folder, or from
  the measured folder when there is none);
- `pruned_int8.pt`: the pruned network, then int8.
and `compression.csv` / `compression.md`: per model the file size, its ratio to float's, the median
latency of batch 1 and batch 50 on `threads` CPU threads (the four TorchScript modules measured in
turn within each of `repeats` rounds, `measure.interleaved_latency_ms`), the accuracy on the folder
and the share of images where its top-1 class agrees with the float model's.
"""
from __future__ import annotations

import copy
import csv
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from common.errors import ConfigError, DataError
from common.readers import list_image_folder
from papers.pruning_quantisation.compression import (
    BACKENDS,
    check_backend,
    check_sparsity,
    quantise_static,
    slim_network,
)
from papers.pruning_quantisation.data import decode_image
from papers.pruning_quantisation.measure import interleaved_latency_ms, quantised_kernels_allowed

# torchvision classifiers with a quantisable twin in torchvision.models.quantization (same parameter
# names, plus the quant/dequant stubs and fuse_model() that static int8 needs).
ARCHS = ("mobilenet_v2", "mobilenet_v3_large", "resnet18", "resnet50", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
         "shufflenet_v2_x1_5", "shufflenet_v2_x2_0")
NORMALISATIONS = {"imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}
MODELS = ("float", "pruned", "int8", "pruned_int8")
BATCH = 50


# ---------------------------------------------------------------------------- inputs


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in a checkpoint file (weights only); one line naming the file when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such checkpoint file")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch errors all mean: not a weights file we can read
        raise DataError(f"{path} is not a readable PyTorch weights file: {type(err).__name__}: {str(err).splitlines()[0]}") from None
    if isinstance(saved, dict):
        for key in ("state_dict", "model"):
            if isinstance(saved.get(key), dict):
                saved = saved[key]
                break
    if not isinstance(saved, dict) or not saved or not all(isinstance(v, torch.Tensor) for v in saved.values()):
        raise DataError(f"{path} holds no state dict of tensors (save one with torch.save(model.state_dict(), path))")
    if all(key.startswith("module.") for key in saved):
        saved = {key.removeprefix("module."): value for key, value in saved.items()}
    return saved


def classes_in(state: dict[str, torch.Tensor]) -> int:
    """The number of classes: the output size of the checkpoint's last weight matrix."""
    matrices = [value for key, value in state.items() if key.endswith("weight") and value.ndim == 2]
    if not matrices:
        raise DataError("the checkpoint has no linear layer whose outputs would be the classes")
    return int(matrices[-1].shape[0])


def build_model(arch: str, state: dict[str, torch.Tensor], num_classes: int) -> nn.Module:
    """The quantisable torchvision twin of `arch` holding the checkpoint's weights, in eval mode."""
    from torchvision.models import quantization

    if arch not in ARCHS:
        raise ConfigError(f"arch={arch}: choose one of {', '.join(ARCHS)}")
    model = getattr(quantization, arch)(weights=None, quantize=False, num_classes=num_classes)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = [line.strip() for line in str(err).splitlines() if line.strip()][1:2]
        raise DataError(f"the checkpoint is not a torchvision {arch} with {num_classes} classes: "
                        f"{first[0] if first else err}"[:400]) from None
    return model.eval()


def read_images(files: list[Path], size: int, normalisation: str) -> tuple[torch.Tensor, list[int], list[str]]:
    """(normalised float images (N, 3, size, size), the positions read, notes on the files skipped)."""
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in NORMALISATIONS[normalisation])
    images, kept, notes = [], [], []
    for position, path in enumerate(files):
        try:
            array = decode_image(path, size, "RGB")
        except DataError as err:
            notes.append(f"skipped {err}")
            continue
        images.append((torch.from_numpy(array).permute(2, 0, 1).float() / 255.0 - mean) / std)
        kept.append(position)
    if not images:
        raise DataError(f"no readable image among the {len(files)} files listed")
    return torch.stack(images), kept, notes


# ---------------------------------------------------------------------------- compression


def finetune(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int, lr: float, seed: int = 0) -> nn.Module:
    """Train `net` in place `epochs` passes over the images with the paper's SGD, batch 50, seeded order."""
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=1e-5)
    order = torch.Generator().manual_seed(seed)
    net.train()
    with tqdm(total=epochs * ((len(labels) + BATCH - 1) // BATCH), desc="fine-tuning the pruned network") as bar:
        for _ in range(epochs):
            for batch in torch.randperm(len(labels), generator=order).split(BATCH):
                loss = nn.functional.cross_entropy(net(images[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}")
    return net.eval()


def compress(model: nn.Module, calibration: torch.Tensor, example: torch.Tensor, sparsity: float, backend: str,
             arch: str = "", training: tuple[torch.Tensor, torch.Tensor] | None = None, epochs: int = 2,
             lr: float = 0.01) -> dict[str, nn.Module]:
    """The float model, its pruned (slimmed) copy, fine-tuned on `training` (images, labels) when
    given, and both as int8."""
    pruned = slim_network(copy.deepcopy(model), sparsity, example[:2], channel_multiple=8).eval()
    if training is not None:
        finetune(pruned, *training, epochs=epochs, lr=lr)
    models = {"float": model, "pruned": pruned}
    for name, source in (("int8", model), ("pruned_int8", pruned)):
        try:
            with quantised_kernels_allowed(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated")
                quantised = quantise_static(source, [calibration], backend)
                quantised(example[:1])
        except RuntimeError as err:
            raise ConfigError(f"arch={arch}: int8 conversion fails at image_size={example.shape[-1]} "
                              f"({str(err).splitlines()[0][:160]}); try a larger image_size") from None
        models[name] = quantised
    return models


def save_torchscript(models: dict[str, nn.Module], example: torch.Tensor, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    with torch.inference_mode(), quantised_kernels_allowed(), warnings.catch_warnings():
        # int8 modules read their scale as a Python number while traced: a constant, as it should be
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        for name, net in models.items():
            paths[name] = folder / f"{name}.pt"
            torch.jit.save(torch.jit.trace(net.eval(), example[:1]), str(paths[name]))
    return paths


@torch.inference_mode()
def predictions(net, images: torch.Tensor) -> np.ndarray:
    with quantised_kernels_allowed():
        return torch.cat([net(images[i : i + BATCH]).argmax(1) for i in range(0, len(images), BATCH)]).numpy()


def measure(paths: dict[str, Path], images: torch.Tensor, labels: np.ndarray, repeats: int, threads: int) -> list[dict]:
    """Per model: the file's size, latency at batch 1 and 50, accuracy and agreement with float."""
    loaded = {name: torch.jit.load(str(path)).eval() for name, path in paths.items()}
    predicted = {name: predictions(net, images) for name, net in loaded.items()}
    batch = images[:BATCH] if len(images) >= BATCH else images.repeat((BATCH + len(images) - 1) // len(images), 1, 1, 1)[:BATCH]
    with quantised_kernels_allowed():
        one = interleaved_latency_ms(loaded, batch[:1], repeats=repeats, threads=threads, desc="latency, batch 1")
        fifty = interleaved_latency_ms(loaded, batch, repeats=repeats, threads=threads, desc="latency, batch 50")
    float_bytes = paths["float"].stat().st_size
    rows = []
    for name, path in paths.items():
        size = path.stat().st_size
        rows.append({"model": name, "file": path.name, "size_mib": size / 2**20, "size_ratio": size / float_bytes,
                     "latency_b1_ms": one[name], "latency_b50_ms": fifty[name],
                     "speedup_b50": fifty["float"] / fifty[name],
                     "accuracy": float((predicted[name] == labels).mean()),
                     "agreement_with_float": float((predicted[name] == predicted["float"]).mean())})
    return rows


COLUMNS = ("model", "file", "size_mib", "size_ratio", "latency_b1_ms", "latency_b50_ms", "speedup_b50", "accuracy",
           "agreement_with_float")


def write_table(rows: list[dict], folder: Path, title: str) -> tuple[Path, Path, str]:
    with open(folder / "compression.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    lines = [title, "", "| model | file | size (MiB) | size / float | batch 1 (ms) | batch 50 (ms) | speed-up b50 | "
             "accuracy | agrees with float |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['file']} | {r['size_mib']:.2f} | {r['size_ratio']:.3f} | {r['latency_b1_ms']:.2f} | "
                     f"{r['latency_b50_ms']:.1f} | {r['speedup_b50']:.2f}x | {r['accuracy']:.4f} | {r['agreement_with_float']:.4f} |")
    markdown = "\n".join(lines) + "\n"
    (folder / "compression.md").write_text(markdown)
    return folder / "compression.csv", folder / "compression.md", markdown


# ---------------------------------------------------------------------------- entry


# Each argument with the type its value must have (scripts/predict.py checks them before anything runs).
ARGUMENTS = {"input": str, "ckpt_path": str, "arch": str, "output": str, "image_size": int, "normalisation": str,
             "sparsity": float, "calibration": int, "repeats": int, "threads": int, "backend": str, "num_classes": int,
             "seed": int, "finetune": str, "epochs": int, "lr": float}
REQUIRED = ("input", "ckpt_path", "arch")
DEFAULTS = {"image_size": 224, "normalisation": "imagenet", "sparsity": 0.3, "calibration": 50, "repeats": 20,
            "threads": 1, "backend": "fbgemm", "seed": 0, "epochs": 2, "lr": 0.01}


def check_arguments(args) -> None:
    get = lambda key: args.get(key) if args.get(key) is not None else DEFAULTS.get(key)  # noqa: E731
    if get("arch") not in ARCHS:
        raise ConfigError(f"arch={get('arch')}: choose one of {', '.join(ARCHS)}")
    if get("normalisation") not in NORMALISATIONS:
        raise ConfigError(f"normalisation={get('normalisation')}: choose one of {', '.join(NORMALISATIONS)}")
    if get("backend") not in BACKENDS:
        raise ConfigError(f"backend={get('backend')}: choose one of {', '.join(BACKENDS)}")
    check_sparsity(get("sparsity"))
    if not get("lr") > 0:
        raise ConfigError(f"lr must be > 0, got {get('lr')}")
    for key, least in (("image_size", 16), ("calibration", 1), ("repeats", 1), ("threads", 1), ("num_classes", 2),
                       ("epochs", 1)):
        value = get(key)
        if value is not None and value < least:
            raise ConfigError(f"{key} must be >= {least}, got {value}")


def predict(args) -> int:
    settings = {**DEFAULTS, **{k: v for k, v in args.items() if v is not None}}
    check_backend(settings["backend"])
    started = time.perf_counter()
    listing = list_image_folder(settings["input"])
    train_listing = list_image_folder(settings["finetune"]) if settings.get("finetune") else None
    if train_listing is not None and train_listing.classes != listing.classes:
        raise DataError(f"finetune={settings['finetune']} holds classes {list(train_listing.classes)}, "
                        f"{settings['input']} {list(listing.classes)}; they must be the same")
    state = read_state_dict(settings["ckpt_path"])
    num_classes = int(settings.get("num_classes") or classes_in(state))
    if len(listing.classes) != num_classes:
        raise DataError(f"{settings['input']} holds {len(listing.classes)} class folders but the checkpoint has "
                        f"{num_classes} classes (the class folders, sorted by name, must be the model's classes)")
    model = build_model(settings["arch"], state, num_classes)
    images, kept, notes = read_images(listing.files, settings["image_size"], settings["normalisation"])
    labels = listing.labels[kept]
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    training = None
    if train_listing is not None:
        train_images, train_kept, train_notes = read_images(train_listing.files, settings["image_size"],
                                                            settings["normalisation"])
        for note in train_notes:
            print(f"note: {note}", file=sys.stderr)
        notes += train_notes
        training = (train_images, torch.from_numpy(train_listing.labels[train_kept]))
    pool = images if training is None else training[0]
    draw = np.random.default_rng(settings["seed"]).permutation(len(pool))[: settings["calibration"]]
    torch.manual_seed(settings["seed"])
    models = compress(model, pool[torch.as_tensor(draw)], images, settings["sparsity"], settings["backend"],
                      settings["arch"], training, settings["epochs"], settings["lr"])
    ckpt = Path(settings["ckpt_path"])
    folder = Path(settings.get("output") or ckpt.with_name(ckpt.stem + ".compressed"))
    paths = save_torchscript(models, images, folder)
    rows = measure(paths, images, labels, settings["repeats"], settings["threads"])
    tuned = f"fine-tuned {settings['epochs']} epochs on {len(training[1])} images" if training else "not fine-tuned"
    title = (f"{settings['arch']} from {ckpt.name} on {len(images)} images of {len(listing.classes)} classes "
             f"({Path(settings['input']).name}), {settings['image_size']}x{settings['image_size']}, "
             f"pruned {settings['sparsity']:.0%} per layer ({tuned}), "
             f"int8 {settings['backend']} calibrated on {len(draw)} {'training' if training else 'measured'} images; latency on {settings['threads']} thread(s), median of {settings['repeats']}")
    csv_path, md_path, markdown = write_table(rows, folder, title)
    print(markdown)
    print(f"wrote {', '.join(str(p) for p in paths.values())}, {csv_path}, {md_path}"
          f"{f'; skipped {len(notes)} unreadable file(s)' if notes else ''}; {time.perf_counter() - started:.0f} s")
    return 0
