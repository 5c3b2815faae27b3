"""GIN: nonlinear ICA with General Incompressible-flow Networks (Sorrenson et al., ICLR 2020)."""
