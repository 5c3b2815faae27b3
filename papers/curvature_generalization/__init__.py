"""Pouplin et al. (2023), scalar curvature of the loss graph; and the Hessian by layer width."""
