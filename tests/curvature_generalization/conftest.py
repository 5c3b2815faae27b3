import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These tests run many small products: one thread is faster than two that wait for each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
