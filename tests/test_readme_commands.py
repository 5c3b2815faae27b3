"""Every shell line in the READMEs' code blocks runs as written, in a dry mode: `make` lines with
`make -n` and then the command make would run with `--cfg job`, Python entry points with
`--cfg job` (Hydra composes and prints the config without running it), `scripts/predict.py` with
`--check`. The README cannot drift from the code."""
import os
import re
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from common import PROJECT_ROOT

READMES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "papers").glob("*/README.md"))]
# Placeholders a README uses for the user's own paths, and stand-ins that exist here.
PLACEHOLDERS = {"/data/ludb": "{tmp}", "/data/ihdp": "{tmp}", "/data/cifar10": "{tmp}", "/data/zooniverse": "{tmp}",
                ".../last.ckpt": "{tmp}/last.ckpt", "recording.wav": "{tmp}/recording.wav"}


def _shell_lines(readme):
    lines = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", readme.read_text(), re.DOTALL):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


COMMANDS = [(readme.relative_to(PROJECT_ROOT).as_posix(), line) for readme in READMES for line in _shell_lines(readme)
            if line.startswith(("make ", ".venv/bin/python scripts/", "python scripts/"))]


def _dry(words: list[str]) -> list[str]:
    if words[0] == "python":
        words = [".venv/bin/python", *words[1:]]
    script = words[1]
    if script in ("scripts/bench.py", "scripts/report.py"):
        return []  # not Hydra scripts; `make -n` already showed how they are called
    if script == "scripts/predict.py":
        return [*words, "--check"]
    if "-m" in words:  # a sweep: compose its first job (Hydra takes --cfg without --multirun only)
        words = [w for w in words if w != "-m"]
        words = [w.split("=", 1)[0] + "=" + w.split("=", 1)[1].split(",")[0]
                 if "=" in w and "," in w and "[" not in w else w for w in words]
    return [*words, "--cfg", "job"]


def _dry_commands(readme: str, line: str, stand_ins) -> list[list[str]]:
    """The dry-mode commands a README line stands for (none for make targets that only run tools)."""
    for placeholder, stand_in in PLACEHOLDERS.items():
        line = line.replace(placeholder, stand_in.format(tmp=stand_ins))
    words = shlex.split(line)
    if words[0] == "make":
        if words[1] in ("install", "test", "test-all", "lint", "smoke", "bench", "report"):
            return []  # these run pytest/ruff/tools with fixed arguments: `make -n` below still checks them
        printed = subprocess.run([*words[:1], "-n", "-o", ".venv/.installed", *words[1:]], cwd=PROJECT_ROOT,
                                 capture_output=True, text=True, timeout=60)
        assert printed.returncode == 0, printed.stderr
        commands = [shlex.split(c) for c in printed.stdout.splitlines() if "scripts/" in c]
        if "reproduce-all" in words[1]:
            return []
    else:
        commands = [words]
    assert commands, f"{readme}: `{line}` runs no script"
    return [dry for dry in map(_dry, commands) if dry]


@pytest.fixture(scope="module")
def dry_runs(request, tmp_path_factory):
    """Every selected README line's dry commands, run side by side: each one is a fresh Python that
    imports torch (seconds), and one after another they took most of the fast suite's time."""
    stand_ins = tmp_path_factory.mktemp("readme")
    (stand_ins / "last.ckpt").write_bytes(b"")
    (stand_ins / "recording.wav").write_bytes(b"")
    selected = [item.callspec.params for item in request.session.items
                if getattr(item, "originalname", None) == "test_readme_command_runs_as_written"]
    plans = {}
    for params in selected:
        try:
            plans[params["readme"], params["line"]] = _dry_commands(params["readme"], params["line"], stand_ins)
        except AssertionError as err:
            plans[params["readme"], params["line"]] = err
    unique = {tuple(c) for plan in plans.values() if isinstance(plan, list) for c in plan}

    def run(command):
        return command, subprocess.run(list(command), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        results = dict(pool.map(run, unique))
    return {key: plan if isinstance(plan, AssertionError) else [(c, results[tuple(c)]) for c in plan]
            for key, plan in plans.items()}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("readme", "line"), COMMANDS)
def test_readme_command_runs_as_written(readme, line, dry_runs):
    outcome = dry_runs[readme, line]
    if isinstance(outcome, AssertionError):
        raise outcome
    for _command, result in outcome:
        assert result.returncode == 0, f"{readme}: `{line}` fails: {result.stdout[-1500:]}{result.stderr[-1500:]}"
