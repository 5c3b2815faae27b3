"""Past one machine the workers are started by torchrun: the same jobs on torchrun's process group
(here --standalone with 4 processes, a few rounds), bounded in time."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common import PROJECT_ROOT


@pytest.mark.slow
def test_torchrun_runs_the_same_jobs(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.is_file() and shutil.which("torchrun") is None:
        pytest.skip("torchrun is not installed")
    done = subprocess.run(
        [str(torchrun) if torchrun.is_file() else "torchrun", "--standalone", "--nproc-per-node=4", "-m",
         "papers.distributed_nonconvex.worker", "scale=tiny", f"out={tmp_path}/run", "scales.tiny.training.rounds=4",
         "scales.tiny.training.eval_every=2", "scales.tiny.seeds=[0,1,2]", "scales.tiny.quadratic.rounds=300",
         "scales.tiny.training.modes=[streaming]", "scales.tiny.training.local_mode=streaming"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"run.rank{r}.pt", weights_only=True) for r in range(4)]
    jobs = ranks[0]["jobs"]
    assert len(jobs) == 6 + 2 * 3 * 3 and [p["round"] for p in ranks[0]["results"][-1]["history"]] == [0, 2, 4]
    # the gradient-tracking quadratic reaches mean(b) on torchrun's group too
    b = torch.tensor(jobs[5]["b"], dtype=torch.float64)
    assert max(float((r["results"][5]["x"] - b.mean(0)).abs().max()) for r in ranks) < 1e-10
