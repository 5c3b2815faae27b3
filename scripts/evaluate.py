"""python scripts/evaluate.py experiment=<paper>/<exp> ckpt_path=PATH [key=value ...]"""
import _entry
import hydra

from common import CONFIG_DIR, cli, run


@hydra.main(config_path=str(CONFIG_DIR), config_name="evaluate", version_base="1.3")
@_entry.exit_cleanly_on_input_errors
def main(cfg):
    cli.check_whole_folder(cfg)
    metrics = run.evaluate(cfg)
    _entry.print_metrics(metrics)


if __name__ == "__main__":
    _entry.main_with_checked_arguments(main)
