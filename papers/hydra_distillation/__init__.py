"""Hydra: distilling an ensemble into one multi-headed network (Tran et al., 2020)."""
