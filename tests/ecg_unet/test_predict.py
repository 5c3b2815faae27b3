"""scripts/predict.py paper=ecg_unet: any WFDB record or CSV of leads, onsets/offsets out as CSV + PNG."""
import csv
import importlib.util
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from common import PROJECT_ROOT
from common.errors import ConfigError, DataError
from papers.ecg_unet import predict


def _run(*args):
    return subprocess.run([sys.executable, "scripts/predict.py", "paper=ecg_unet", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)


def test_wfdb_record_is_delineated_per_lead(trained_quick_ecg, ludb_excerpt, tmp_path):
    run_dir, _ = trained_quick_ecg
    result = _run(f"input={ludb_excerpt / 'data' / '1'}", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
                  f"output={tmp_path / 'waves.csv'}", f"plot={tmp_path / 'waves.png'}")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "waves.csv")))
    assert {row["lead"] for row in rows} <= {"i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"}
    assert all(int(r["onset_sample"]) <= int(r["offset_sample"]) < 5000 for r in rows)  # 10 s at 500 Hz
    assert (tmp_path / "waves.png").stat().st_size > 10_000
    assert "12 leads, 10.0 s" in result.stdout


def test_csv_of_leads_at_its_own_rate(trained_quick_ecg, tmp_path):
    run_dir, _ = trained_quick_ecg
    from papers.ecg_unet.data import generate_record

    record = generate_record(np.random.default_rng(1), "x", seconds=4.0, sampling_rate=250, n_leads=2)
    path = tmp_path / "ecg.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["I", "II"])
        writer.writerows(record.signal.T.tolist())
    model = predict.load_delineator(run_dir / "checkpoints" / "last.ckpt")
    signal, rate, names = predict.read_signal(path, 250)
    assert rate == 250 and names == ["I", "II"] and signal.shape == record.signal.shape
    waves = model.delineate(signal, rate)
    assert len(waves) == 2 and all(w.offset < signal.shape[1] for lead in waves for w in lead)
    # given output=, the strip goes beside the table and nothing is written into the record's folder
    result = _run(f"input={path}", "sampling_rate=250", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
                  f"output={tmp_path / 'out' / 'waves.csv'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out" / "waves.png").stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ecg.csv", "out"]


def test_bad_inputs_are_named(tmp_path):
    (tmp_path / "x.csv").write_text("I\n1.0\n")
    with pytest.raises(ConfigError, match="sampling_rate"):
        predict.read_signal(tmp_path / "x.csv", None)
    with pytest.raises(DataError, match="no WFDB header"):
        predict.read_signal(tmp_path / "missing", None)
    result = _run("input=x", "colour=red", "--check")
    assert result.returncode == 2 and "unknown arguments ['colour']" in result.stderr
    result = _run("input=x.csv", "sampling_rate=0", "--check")
    assert result.returncode == 2 and "sampling_rate must be > 0" in result.stderr
    result = _run("input=" + str(tmp_path / "missing"), "ckpt_path=" + str(tmp_path / "none.ckpt"))
    assert result.returncode == 2 and "error:" in result.stderr and "Traceback" not in result.stderr


def test_exported_network_predicts_like_its_checkpoint(trained_quick_ecg, tmp_path):
    from papers.ecg_unet.pretrained import DESCRIPTION, WEIGHTS, export

    run_dir, _ = trained_quick_ecg
    export(run_dir, tmp_path)
    description = json.loads((tmp_path / DESCRIPTION).read_text())
    assert description["seed"] == 0 and "test/qrs_onset_f1" in description["test_metrics"]
    assert (tmp_path / WEIGHTS).stat().st_size < (run_dir / "checkpoints" / "last.ckpt").stat().st_size
    shipped = predict.load_delineator(tmp_path / WEIGHTS, tmp_path / DESCRIPTION)
    trained = predict.load_delineator(run_dir / "checkpoints" / "last.ckpt")
    leads = torch.from_numpy(np.random.default_rng(3).normal(size=(2, 1, 2000)).astype(np.float32))
    with torch.no_grad():  # the logits, not the waves: a barely trained network may find no wave at all
        assert torch.equal(shipped.net(leads), trained.net(leads))
    with pytest.raises(ConfigError, match="training run's folder"):
        export(tmp_path / "not_a_run", tmp_path)


def test_exported_card_names_the_code_of_the_scale_record(trained_quick_ecg, tmp_path):
    """A run folder of a reproduction (<results_dir>/runs/<name>/): the card copies the commit and
    the manifest's digest from the scale's record <results_dir>/metrics.json."""
    from common.manifest import digest
    from papers.ecg_unet.pretrained import DESCRIPTION, export

    run_dir, _ = trained_quick_ecg
    results_dir = tmp_path / "results" / "ecg_unet" / "full"
    shutil.copytree(run_dir, results_dir / "runs" / "ecg_unet-ludb-0123456789")
    record = {"commit": "abc123", "dirty": False,
              "manifest": {"files": {"papers/ecg_unet/model.py": "0" * 16}, "versions": {"python": "3"}}}
    (results_dir / "metrics.json").write_text(json.dumps(record))
    export(results_dir / "runs" / "ecg_unet-ludb-0123456789", tmp_path / "card")
    card = json.loads((tmp_path / "card" / DESCRIPTION).read_text())
    assert (card["commit"], card["dirty"], card["manifest_digest"]) == ("abc123", False, digest(record["manifest"]))
    assert "source_hash" not in card


def test_shipped_ludb_network_delineates_without_a_checkpoint(ludb_excerpt, tmp_path):
    result = _run(f"input={ludb_excerpt / 'data' / '1'}", f"output={tmp_path / 'waves.csv'}", f"plot={tmp_path / 'waves.png'}")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "waves.csv")))
    qrs_per_lead = [sum(r["wave"] == "QRS" and r["lead"] == lead for r in rows) for lead in {r["lead"] for r in rows}]
    assert len(qrs_per_lead) == 12 and min(qrs_per_lead) >= 6  # record 1 has 8 annotated beats in 10 s


def _write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_a_csv_without_header_is_refused_or_read_with_header_false(tmp_path):
    samples = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
    path = _write_csv(tmp_path / "numbers.csv", samples)
    # read as before, the first sample would become the lead names and be dropped
    with pytest.raises(DataError, match="first row holds numbers, not lead names; add a header row or give header=false"):
        predict.read_signal(path, 250)
    signal, _, names = predict.read_signal(path, 250, header=False)
    assert names == ["lead_1", "lead_2"] and signal.shape == (2, 3) and signal[0, 0] == pytest.approx(0.1)
    with pytest.raises(DataError, match="2 lead names in the header, 3 values per row"):
        predict.read_signal(_write_csv(tmp_path / "short.csv", [["I", "II"], [1, 2, 3]]), 250)


def test_argument_types_are_checked_before_anything_runs(capsys, monkeypatch):
    # in this process (a subprocess pays torch's import again); scripts/predict.py's main as the shell runs it
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("scripts_predict", PROJECT_ROOT / "scripts" / "predict.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for arg, expected in (("sampling_rate=abc", "sampling_rate=abc: expected a number"),
                          ("lead=1.5", "lead=1.5: expected a whole number"),
                          ("header=maybe", "header=maybe: expected true or false")):
        with pytest.raises(SystemExit) as stopped:
            script.main(["paper=ecg_unet", "input=x.csv", arg, "--check"])
        assert stopped.value.code == 2 and capsys.readouterr().err.strip() == f"error: {expected}"
    assert script.main(["paper=ecg_unet", "input=x.csv", "sampling_rate=250", "lead=0", "header=false", "--check"]) == 0


def test_a_bad_lead_stops_before_any_file_is_written(ludb_excerpt, tmp_path):
    result = _run(f"input={ludb_excerpt / 'data' / '1'}", "lead=20", f"output={tmp_path / 'waves.csv'}",
                  f"plot={tmp_path / 'waves.png'}")
    assert result.returncode == 2 and "lead=20 is not a lead of" in result.stderr
    assert not list(tmp_path.iterdir())


def test_the_strip_shows_the_records_own_annotation_when_it_lies_beside_it(ludb_excerpt, tmp_path):
    annotated = predict.record_annotation(ludb_excerpt / "data" / "1", "ii")
    assert annotated and {wave.kind for wave in annotated} == {predict.P, predict.QRS, predict.T}
    shutil.copy(ludb_excerpt / "data" / "1.hea", tmp_path / "1.hea")
    shutil.copy(ludb_excerpt / "data" / "1.dat", tmp_path / "1.dat")
    assert predict.record_annotation(tmp_path / "1", "ii") is None
    assert predict.record_annotation(tmp_path / "x.csv", "I") is None
