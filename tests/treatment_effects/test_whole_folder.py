"""`scripts/evaluate.py whole_folder=DIR` for this paper: a trained DKLITE scores every IHDP-layout
CSV file of a folder (each a replication), skipping and naming the files it cannot read."""
import shutil

import pytest

from common import cli, run
from common.errors import ConfigError, DataError
from papers.treatment_effects.data import TreatmentEffectDataModule

QUICK = ["data.steps_per_epoch=5", "trainer.max_epochs=2", "model.patience=null", "model.precisions=fixed", "data.validation_fraction=0",
         "logger=none", "trainer.enable_progress_bar=false"]


def _folder(root, excerpt, replications=(2, 3)):
    root.mkdir()
    for number in replications:
        shutil.copy(excerpt / f"ihdp_npci_{number}.csv", root / f"ihdp_npci_{number}.csv")
    (root / "broken.csv").write_text("treatment,y_factual\n1,2\n")
    (root / "notes.txt").write_text("not a table")
    return root


def test_each_file_is_a_replication_split_as_training_splits_it(ihdp_excerpt, tmp_path):
    folder = _folder(tmp_path / "mine", ihdp_excerpt)
    whole = TreatmentEffectDataModule(source="ihdp", root=str(folder))
    with pytest.warns(UserWarning, match=r"1 file\(s\) skipped: .*broken\.csv: missing column"):
        whole.test_on_whole_folder()
    assert len(whole.test_set) == 2
    single = TreatmentEffectDataModule(source="ihdp", root=str(ihdp_excerpt), replication=3)
    single.setup()
    scored = whole.test_set[1]
    assert scored["train_mask"].equal(single.batch["train_mask"]) and scored["y"].equal(single.batch["y"])


def test_a_folder_without_readable_files_and_other_sources_are_named(tmp_path):
    (tmp_path / "broken.csv").write_text("treatment,y_factual\n1,2\n")
    with pytest.warns(UserWarning, match="broken.csv"), pytest.raises(DataError, match="no readable IHDP-layout .csv"):
        TreatmentEffectDataModule(source="ihdp", root=str(tmp_path)).test_on_whole_folder()
    with pytest.raises(ConfigError, match="data.source=synthetic is read from its own files"):
        TreatmentEffectDataModule(source="synthetic", root=str(tmp_path)).test_on_whole_folder()


def test_evaluate_averages_a_trained_model_over_the_folder(ihdp_excerpt, tmp_path):
    train = run.compose("train", ["experiment=treatment_effects/ihdp", f"data.root={ihdp_excerpt}", *QUICK,
                                  f"paths.output_dir={tmp_path / 'run'}"])
    run.train(train)
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"

    def evaluate(folder, name):
        cfg = run.compose("evaluate", ["experiment=treatment_effects/ihdp", *QUICK, f"ckpt_path={checkpoint}",
                                       f"whole_folder={folder}", f"paths.output_dir={tmp_path / name}"])
        cli.check_whole_folder(cfg)
        return run.evaluate(cfg)

    with pytest.warns(UserWarning, match="broken.csv"):
        both = evaluate(_folder(tmp_path / "both", ihdp_excerpt), "both")
    each = [evaluate(_folder(tmp_path / f"only{n}", ihdp_excerpt, (n,)), f"only{n}") for n in (2, 3)]
    for name in ("test/in_sqrt_pehe", "test/out_sqrt_pehe", "test/out_ate_error"):
        assert both[name] == pytest.approx((each[0][name] + each[1][name]) / 2, rel=1e-5)
    assert each[0]["test/in_sqrt_pehe"] != pytest.approx(each[1]["test/in_sqrt_pehe"])
