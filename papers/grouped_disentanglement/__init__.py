"""Németh (AAAI 2020): adversarial disentanglement of content and style with grouped observations."""
