"""Experiments of this paper that read real data, and where tests find an excerpt of it (under ../shared/data)."""
DATA_ROOTS = {"treatment_effects/ihdp": "ihdp", "treatment_effects/twins": "twins", "treatment_effects/jobs": "jobs"}
