"""Latents of a trained GIN over a loader, and latent traversals (no Hydra: usable from any script)."""
from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def latents_of(model, loader, noise_std: float) -> tuple[np.ndarray, ...]:
    """(z, labels, x, true latent or None) over a loader; inputs get the training noise, seeded."""
    zs, labels, xs, latents = [], [], [], []
    generator = torch.Generator().manual_seed(0)
    for batch in loader:
        x = batch[0]
        noisy = x + torch.randn(x.shape, generator=generator) * noise_std
        zs.append(model(noisy))
        labels.append(batch[1])
        xs.append(x.reshape(len(x), -1))
        if len(batch) > 2:
            latents.append(batch[2])
    cat = lambda parts: torch.cat(parts).double().numpy() if parts else None  # noqa: E731
    return cat(zs), torch.cat(labels).numpy(), cat(xs), cat(latents)


@torch.no_grad()
def traversal_images(model, z: np.ndarray, labels: np.ndarray, dims: list[int], steps: int = 9,
                     max_std: float = 2.0) -> np.ndarray:
    """(len(dims), classes, steps, s, s): each class's mean latent with one dim moved over ±max_std of its std."""
    classes = np.unique(labels)
    mu = np.stack([z[labels == c].mean(0) for c in classes])
    sig = np.stack([z[labels == c].std(0) for c in classes])
    offsets = np.linspace(-max_std, max_std, steps)
    images = []
    for dim in dims:
        latent = np.repeat(mu[:, None, :], steps, axis=1)
        latent[:, :, dim] += offsets[None, :] * sig[:, dim:dim + 1]
        x = model.inverse(torch.tensor(latent.reshape(-1, z.shape[1]), dtype=torch.float32))
        images.append(x.reshape(len(classes), steps, *x.shape[-2:]).numpy())
    return np.stack(images)
