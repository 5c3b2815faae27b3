"""The HAM10000 experiments read the shared excerpt in the config tests: 150 of its lesions,
uncached, with narrow networks (the test checks the wiring, not the model size)."""
_HAM = ["skin_lesion_aae/ham", "skin_lesion_aae/ham_supervised", "skin_lesion_aae/ham_cpu",
        "skin_lesion_aae/ham_cpu_supervised"]
DATA_ROOTS = {name: "ham10000" for name in _HAM}
EXTRA_OVERRIDES = {name: ["data.max_lesions=150", "data.cache=false", "model.width=8"] for name in _HAM}
