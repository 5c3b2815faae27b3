"""Experiments of this paper that read real data, and where tests find an excerpt of it (under ../shared/data)."""
DATA_ROOTS = {"ecg_unet/ludb": "ludb"}
