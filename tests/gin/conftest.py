import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # The machine's cores are shared; these small tensors run fastest on one thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


from tests.conftest import _shared_excerpt  # noqa: E402


@pytest.fixture
def emnist_tiles_excerpt():
    return _shared_excerpt("emnist_mnist_test", "test.json")


@pytest.fixture
def mnist_excerpt():
    return _shared_excerpt("mnist", "t10k-images-idx3-ubyte.gz")
