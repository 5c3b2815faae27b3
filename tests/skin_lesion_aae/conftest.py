"""One results folder for this paper's slow tiny runs: the mechanism-off variants train the same
configs as the AAE and DAE runs of the tiny reproduction (same overrides, same seeds), so they reuse
those run folders instead of training them again."""
import pytest


@pytest.fixture(scope="session")
def skin_tiny_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("skin_lesion_aae_tiny")
