"""Communication graphs and their mixing matrices: ring, 2-D torus, complete; Metropolis weights.

W_ij = 1 / (1 + max(d_i, d_j)) for each edge {i, j}, W_ii = 1 - sum_j W_ij: symmetric and doubly
stochastic for any connected graph (Xiao, Boyd, Kim 2007). The spectral gap 1 - max(|lambda_2|, |lambda_n|)
sets how fast gossip averages: the consensus error of x <- W x shrinks like (1 - gap)^(2t)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.errors import ConfigError

TOPOLOGIES = ("ring", "torus", "complete")


def torus_shape(n: int) -> tuple[int, int]:
    """The most square r x c grid with r * c = n (r <= c)."""
    r = int(np.floor(np.sqrt(n)))
    while n % r:
        r -= 1
    return r, n // r


def neighbours(kind: str, n: int) -> list[list[int]]:
    """Sorted neighbour lists (no self loops; repeated neighbours merged, e.g. a 2-cycle of the torus)."""
    if kind not in TOPOLOGIES:
        raise ConfigError(f"topology must be one of {list(TOPOLOGIES)}, got {kind!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"the number of workers must be an integer >= 1, got {n!r}")
    edges: list[set[int]] = [set() for _ in range(n)]
    if kind == "ring":
        for i in range(n):
            edges[i] |= {(i - 1) % n, (i + 1) % n}
    elif kind == "torus":
        rows, cols = torus_shape(n)
        for i in range(n):
            r, c = divmod(i, cols)
            edges[i] |= {((r - 1) % rows) * cols + c, ((r + 1) % rows) * cols + c,
                         r * cols + (c - 1) % cols, r * cols + (c + 1) % cols}
    else:
        for i in range(n):
            edges[i] |= set(range(n))
    return [sorted(e - {i}) for i, e in enumerate(edges)]


def metropolis(adjacency: list[list[int]]) -> np.ndarray:
    n = len(adjacency)
    degree = [len(a) for a in adjacency]
    w = np.zeros((n, n))
    for i, row in enumerate(adjacency):
        for j in row:
            w[i, j] = 1.0 / (1.0 + max(degree[i], degree[j]))
    w[np.diag_indices(n)] = 1.0 - w.sum(axis=1)
    return w


def spectral_gap(w: np.ndarray) -> float:
    """1 - the second largest eigenvalue modulus of a symmetric doubly stochastic W (1 for n = 1)."""
    if len(w) == 1:
        return 1.0
    moduli = np.sort(np.abs(np.linalg.eigvalsh(w)))[::-1]
    return float(1.0 - moduli[1])


@dataclass(frozen=True)
class Topology:
    kind: str
    n: int
    adjacency: tuple[tuple[int, ...], ...]
    w: np.ndarray

    @classmethod
    def build(cls, kind: str, n: int) -> Topology:
        adjacency = neighbours(kind, n)
        return cls(kind, n, tuple(tuple(a) for a in adjacency), metropolis(adjacency))

    @property
    def gap(self) -> float:
        return spectral_gap(self.w)

    def describe(self) -> str:
        shape = "x".join(map(str, torus_shape(self.n))) if self.kind == "torus" else str(self.n)
        return f"{self.kind} {shape} (gap {self.gap:.4f})"
