"""Finslerian vs Riemannian latent distances (Pouplin et al., 2023) and Fisher-Rao pullbacks (Arvanitidis et al., 2022)."""
