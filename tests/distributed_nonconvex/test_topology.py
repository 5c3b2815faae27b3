"""Mixing matrices: Metropolis weights are symmetric and doubly stochastic, and the spectral gaps match
their closed forms (circulant and Kronecker-sum spectra)."""
import numpy as np
import pytest

from common.errors import ConfigError
from papers.distributed_nonconvex.topology import Topology, neighbours, torus_shape


@pytest.mark.parametrize("kind", ["ring", "torus", "complete"])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 8, 9, 12])
def test_w_is_symmetric_doubly_stochastic_and_nonnegative(kind, n):
    w = Topology.build(kind, n).w
    assert np.allclose(w, w.T, atol=0, rtol=0)
    assert np.allclose(w.sum(axis=0), 1.0, atol=1e-15) and np.allclose(w.sum(axis=1), 1.0, atol=1e-15)
    assert (w >= 0).all()
    # W only mixes along edges
    adjacency = neighbours(kind, n)
    for i in range(n):
        assert set(np.flatnonzero(w[i])) - {i} <= set(adjacency[i])


@pytest.mark.parametrize("n", [5, 8, 16])
def test_ring_gap_closed_form(n):
    # degree 2 everywhere: weights 1/3, eigenvalues 1/3 + 2/3 cos(2 pi k / n)
    eig = 1 / 3 + 2 / 3 * np.cos(2 * np.pi * np.arange(n) / n)
    expected = 1 - np.sort(np.abs(eig))[-2]
    assert Topology.build("ring", n).gap == pytest.approx(expected, abs=1e-12)


def test_torus_and_complete_gaps():
    # 3x3 torus: degree 4, weights 1/5, eigenvalues (1 + 2cos(2pi a/3) + 2cos(2pi b/3)) / 5: second modulus 0.4
    assert Topology.build("torus", 9).gap == pytest.approx(0.6, abs=1e-12)
    # 2x4 torus: degree 3 (the 2-cycle's two neighbours coincide), weights 1/4: second eigenvalue 1/2
    assert Topology.build("torus", 8).gap == pytest.approx(0.5, abs=1e-12)
    assert Topology.build("complete", 8).gap == pytest.approx(1.0, abs=1e-12)
    assert torus_shape(8) == (2, 4) and torus_shape(12) == (3, 4) and torus_shape(7) == (1, 7)


def test_gap_orders_ring_torus_complete():
    gaps = [Topology.build(kind, 8).gap for kind in ("ring", "torus", "complete")]
    assert gaps[0] < gaps[1] < gaps[2]


@pytest.mark.parametrize(("kind", "n", "message"), [("star", 4, "topology must be one of"),
                                                    ("ring", 0, "number of workers must be an integer >= 1"),
                                                    ("ring", 2.5, "number of workers must be an integer >= 1")])
def test_bad_topology_is_named(kind, n, message):
    with pytest.raises(ConfigError, match=message):
        Topology.build(kind, n)
