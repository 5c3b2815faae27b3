"""Every shell line in the READMEs' code blocks runs as written, in a dry mode: `make` lines with
`make -n`, then the command make would run; Hydra entry points are composed in this process with
the line's overrides (what `--cfg job` would print, without starting a Python per line);
`scripts/predict.py` checks its arguments as `--check` does. The README cannot drift from the code."""
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from common import PROJECT_ROOT, run
from common.orchestrator import switch_mechanism_off

READMES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "papers").glob("*/README.md"))]
# Placeholders a README uses for the user's own paths, and stand-ins that exist here.
PLACEHOLDERS = {"/data/ludb": "{tmp}", "/data/ihdp": "{tmp}", "/data/cifar10": "{tmp}", "/data/zooniverse": "{tmp}",
                ".../last.ckpt": "{tmp}/last.ckpt", "recording.wav": "{tmp}/recording.wav"}
# make targets that run tools with fixed arguments: `make -n` checks how they are called.
TOOL_TARGETS = ("install", "test", "test-all", "lint", "smoke", "bench", "report")
# Scripts that are no Hydra entry point (make -n already showed how they are called).
PLAIN_SCRIPTS = ("scripts/bench.py", "scripts/report.py")


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


def _commands_of(line: str) -> list[list[str]]:
    """The Python commands a README line stands for (make lines: what `make -n` prints)."""
    words = shlex.split(line)
    if words[0] != "make":
        return [words]
    printed = subprocess.run([*words[:1], "-n", "-o", ".venv/.installed", *words[1:]], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, f"`make -n` fails: {printed.stderr}"
    if words[1] in TOOL_TARGETS or "reproduce-all" in words[1]:
        return []
    commands = [shlex.split(c) for c in printed.stdout.splitlines() if "scripts/" in c]
    assert commands, "runs no script"
    return commands


def _first_job(overrides: list[str]) -> list[str]:
    """A sweep's first job: `seed=0,1,2` -> `seed=0` (Hydra composes one job at a time)."""
    return [w.split("=", 1)[0] + "=" + w.split("=", 1)[1].split(",")[0] if "=" in w and "," in w and "[" not in w
            else w for w in overrides]


def _predict_main():
    spec = importlib.util.spec_from_file_location("readme_predict", PROJECT_ROOT / "scripts" / "predict.py")
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(PROJECT_ROOT / "scripts"))
    return module.main


def _dry_run(words: list[str]) -> None:
    """Compose (or check) one command as its entry point would, raising on any problem."""
    script, arguments = words[1], words[2:]
    assert (PROJECT_ROOT / script).is_file(), f"{script} does not exist"
    if script in PLAIN_SCRIPTS:
        return
    if script == "scripts/predict.py":
        try:
            code = _predict_main()([*arguments, "--check"])
        except SystemExit as exit_:
            code = exit_.code
        assert code in (0, None), f"predict --check exits {code}"
        return
    config_name = re.search(r'config_name="(\w+)"', (PROJECT_ROOT / script).read_text()).group(1)
    # reproduce.py takes switch_off=<variant> off the command line before Hydra composes the rest
    variants = [w.removeprefix("switch_off=") for w in arguments if w.startswith("switch_off=")]
    arguments = [w for w in arguments if not w.startswith("switch_off=")]
    cfg = run._compose(config_name, _first_job([w for w in arguments if w != "-m"]), return_hydra_config=True)
    if config_name == "reproduce":  # what the orchestrator checks first
        assert cfg.scale in cfg.scales, f"scale={cfg.scale} is not a scale of paper={cfg.paper}: {list(cfg.scales)}"
        for variant in variants:
            switch_mechanism_off(cfg, variant)


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    (folder / "last.ckpt").write_bytes(b"")
    (folder / "recording.wav").write_bytes(b"")
    return folder


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("readme", "line"), COMMANDS)
def test_readme_command_runs_as_written(readme, line, stand_ins, capsys):
    for placeholder, stand_in in PLACEHOLDERS.items():
        line = line.replace(placeholder, stand_in.format(tmp=stand_ins))
    try:
        for words in _commands_of(line):
            if words[0] == "python":
                words = [".venv/bin/python", *words[1:]]
            _dry_run(words)
    except Exception as err:
        raise AssertionError(f"{readme}: `{line}` fails: {type(err).__name__}: {err}\n{capsys.readouterr().err[-1500:]}") from err
