"""Creswell, Pouplin, Bharath (2018): denoising adversarial autoencoders for skin lesions."""
