"""Every shell line in the READMEs' code blocks runs as written, in a dry mode: `make` lines with
`make -n` and then the command make would run with `--cfg job`, Python entry points with
`--cfg job` (Hydra composes and prints the config without running it), `scripts/predict.py` with
`--check`. The README cannot drift from the code."""
import re
import shlex
import shutil
import subprocess

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


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("readme", "line"), COMMANDS)
def test_readme_command_runs_as_written(readme, line, tmp_path):
    (tmp_path / "last.ckpt").write_bytes(b"")
    (tmp_path / "recording.wav").write_bytes(b"")
    for placeholder, stand_in in PLACEHOLDERS.items():
        line = line.replace(placeholder, stand_in.format(tmp=tmp_path))
    words = shlex.split(line)
    if words[0] == "make":
        if words[1] in ("install", "test", "test-all", "lint", "smoke", "bench", "report"):
            return  # these run pytest/ruff/tools with fixed arguments: `make -n` below still checks them
        printed = subprocess.run([*words[:1], "-n", "-o", ".venv/.installed", *words[1:]], cwd=PROJECT_ROOT,
                                 capture_output=True, text=True, timeout=60)
        assert printed.returncode == 0, printed.stderr
        commands = [shlex.split(c) for c in printed.stdout.splitlines() if "scripts/" in c]
        if "reproduce-all" in words[1]:
            return
    else:
        commands = [words]
    assert commands, f"{readme}: `{line}` runs no script"
    for command in commands:
        dry = _dry(command)
        if not dry:
            continue
        result = subprocess.run(dry, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{readme}: `{line}` fails: {result.stdout[-1500:]}{result.stderr[-1500:]}"
