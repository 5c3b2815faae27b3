"""DKLITE on a user's own table: each unit's estimated treatment effect, its uncertainty and the average.

    python scripts/predict.py paper=treatment_effects input=TABLE.csv treatment=t outcome=y \
        [covariates=age,dose,...] [output=TABLE.effects.csv] [plot=TABLE.effects.png] [seed=0]

The CSV has a header row; `treatment` names a 0/1 column (1 = treated), `outcome` a numeric one,
and the covariates are the other numeric columns unless `covariates=` lists them (comma-separated).
DKLITE is fit on every unit with the IHDP experiment's hyperparameters
(configs/experiment/treatment_effects/ihdp.yaml: the same network, precisions, variance term,
held-out early stopping on 20 % of each arm's units, at most 2,000 full-batch steps); covariates
that are not 0/1 are standardised first. Written: one row per unit (`row`: its line in the input,
counting the header as line 1) with the estimated effect mu1 - mu0, its predictive sd (the two arms'
posterior latent variances summed, as the paper ranks units) and `least_certain` = 1 for the
10 % of units with the highest variance (the variance-drop rule of the reproduction's
`sqrt_pehe_keeping`: those are the units the paper drops); a JSON summary with the average effect
over the units and its 95 % posterior interval; and a PNG.

The interval is the posterior of the mean effect over these units under the fitted model: with the
linear kernel, mean_i(w1.z_i - w0.z_i) = (w1 - w0).z_bar, whose variance is each arm's latent
variance at the mean feature z_bar; the arms' outcome means, which the regressors are centred on,
add their noise variance over the arm's size. It is conditional on the learned features (the
network's own uncertainty is not in it).
"""
from __future__ import annotations

import csv
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from common import run
from common.errors import ConfigError, DataError
from papers.treatment_effects.data import (
    Replication,
    _Batches,
    _unwrap,
    replication_batch,
    validation_units,
)
from papers.treatment_effects.model import KEEP, Dklite

EXPERIMENT = "treatment_effects/ihdp"
MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}
MIN_PER_ARM = 5  # held-out early stopping takes 20 % of each arm; fewer units leave an arm nothing to fit


@dataclass
class Table:
    path: Path
    covariates: list[str]
    x: np.ndarray  # (n, d) as read
    t: np.ndarray  # (n,) 0/1
    y: np.ndarray  # (n,)
    rows: np.ndarray  # (n,) line numbers in the file
    notes: list[str] = field(default_factory=list)


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value


def read_table(path: str | Path, treatment: str, outcome: str, covariates: list[str] | None = None) -> Table:
    """The named columns of a CSV with a header; every problem is one DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path} is not a readable CSV file: {err}") from err
    if len(lines) < 2:
        raise DataError(f"{path}: needs a header row and at least one unit, found {len(lines)} row(s)")
    header = [cell.strip() for cell in lines[0]]
    if all(_number(cell) is not None for cell in header if cell):
        raise DataError(f"{path}: the first row holds numbers, not column names; add a header row")
    if len(set(header)) != len(header):
        raise DataError(f"{path}: column names repeat in the header: {sorted({h for h in header if header.count(h) > 1})}")
    named = [treatment, outcome, *(covariates or [])]
    absent = [name for name in named if name not in header]
    if absent:
        raise DataError(f"{path}: no column {', '.join(map(repr, absent))} (columns: {', '.join(header)})")
    if treatment == outcome or (covariates and {treatment, outcome} & set(covariates)):
        raise ConfigError("treatment=, outcome= and covariates= must name different columns")
    body = lines[1:]
    for number, row in enumerate(body, 2):
        if len(row) != len(header):
            raise DataError(f"{path}: line {number} has {len(row)} columns, the header {len(header)}")
    cells = {name: [row[i].strip() for row in body] for i, name in enumerate(header)}
    notes = []
    if covariates is None:
        covariates, skipped = [], []
        for name in header:
            if name in (treatment, outcome):
                continue
            values = cells[name]
            numeric = all(_number(v) is not None or v.lower() in MISSING for v in values)
            (covariates if numeric and any(v.lower() not in MISSING for v in values) else skipped).append(name)
        if skipped:
            notes.append(f"{path.name}: column(s) {', '.join(skipped)} are not numeric and are left out of the covariates")
        if not covariates:
            raise DataError(f"{path}: no numeric covariate column besides {treatment} and {outcome}")
    columns = {}
    for name in [treatment, outcome, *covariates]:
        values = []
        for number, cell in enumerate(cells[name], 2):
            if cell.lower() in MISSING:
                raise DataError(f"{path}: line {number}, column {name}: missing value ({cell!r}); "
                                "fill or drop such units first")
            value = _number(cell)
            if value is None or not math.isfinite(value):
                raise DataError(f"{path}: line {number}, column {name}: {cell!r} is not a finite number")
            values.append(value)
        columns[name] = np.asarray(values, dtype=float)
    t = columns[treatment]
    if not np.isin(t, (0.0, 1.0)).all():
        odd = sorted({float(v) for v in np.unique(t)} - {0.0, 1.0})[:5]
        raise DataError(f"{path}: column {treatment} must be binary (0 = control, 1 = treated), found {odd}")
    for arm, label in ((0, "control (0)"), (1, "treated (1)")):
        count = int((t == arm).sum())
        if count == 0:
            raise DataError(f"{path}: column {treatment} has no {label} unit; both arms are needed")
        if count < MIN_PER_ARM:
            raise DataError(f"{path}: column {treatment} has {count} {label} unit(s); at least {MIN_PER_ARM} per arm are needed")
    x = np.stack([columns[name] for name in covariates], axis=1)
    return Table(path, list(covariates), x, t.astype(np.int64), columns[outcome], np.arange(2, len(body) + 2), notes)


def standardise(x: np.ndarray) -> np.ndarray:
    """Columns that are not 0/1 to mean 0, sd 1 (a constant column to 0); 0/1 columns as they are."""
    x = x.astype(float).copy()
    for j in range(x.shape[1]):
        column = x[:, j]
        if np.isin(column, (0.0, 1.0)).all():
            continue
        spread = column.std()
        x[:, j] = (column - column.mean()) / (spread if spread > 0 else 1.0)
    return x


@dataclass
class Effects:
    effect: np.ndarray
    sd: np.ndarray
    least_certain: np.ndarray
    mu0: np.ndarray
    mu1: np.ndarray
    ate: float
    ate_sd: float
    steps: int
    seconds: float

    @property
    def interval(self) -> tuple[float, float]:
        return self.ate - 1.96 * self.ate_sd, self.ate + 1.96 * self.ate_sd


def least_certain(variance: np.ndarray, keep: float = KEEP) -> np.ndarray:
    """True for the units the variance-drop rule drops: all but the n - int((1 - keep) n) of lowest
    variance (ties by position), as `metrics.sqrt_pehe_keeping` keeps them."""
    n = len(variance)
    kept = np.argsort(variance, kind="stable")[: n - int((1 - keep) * n + 1e-9)]
    flags = np.ones(n, dtype=bool)
    flags[kept] = False
    return flags


def build_model(input_dim: int, seed: int, overrides: list[str] = ()) -> tuple[Dklite, dict]:
    """DKLITE and the data settings of the IHDP experiment, for `input_dim` covariates."""
    cfg = run.compose("train", [f"experiment={EXPERIMENT}", f"seed={seed}", f"model.input_dim={input_dim}", *overrides])
    model = run._instantiate(cfg.model, "model")
    settings = {"validation_fraction": float(cfg.data.validation_fraction), "steps_per_epoch": int(cfg.data.steps_per_epoch),
                "max_epochs": int(cfg.trainer.max_epochs)}
    return model, settings


@torch.no_grad()
def average_effect_variance(model: Dklite, batch: dict) -> float:
    """Posterior variance (standardised outcome units) of the mean effect over the batch's units, the
    regressors conditioned on all of them (module docstring): each arm's latent variance at the mean
    feature, which for the linear kernel is the variance of the mean of the units' latent values,
    plus the arm's noise variance over its size for the arm mean the regressor is centred on."""
    features = model.encoder(batch["x"])
    posteriors, _ = model.fit_arms(features, batch["t"], batch["y"])
    centre = features.mean(0, keepdim=True)
    variance = 0.0
    for arm, (gp, posterior) in enumerate(zip(model.gps, posteriors, strict=True)):
        variance += float(gp.predict(posterior, centre)[1][0])
        if posterior.noise_precision is not None:
            variance += 1.0 / (float(posterior.noise_precision) * int((batch["t"] == arm).sum()))
    return variance


def fit_effects(x: np.ndarray, t: np.ndarray, y: np.ndarray, seed: int = 0, keep: float = KEEP,
                overrides: list[str] = (), progress: bool = True) -> Effects:
    """Fit DKLITE on all units (IHDP hyperparameters) and estimate every unit's effect."""
    started = time.perf_counter()
    pl.seed_everything(seed, workers=True, verbose=False)
    model, settings = build_model(x.shape[1], seed, list(overrides))
    units = len(t)
    replication = Replication("user", standardise(x).astype(np.float32), t, y, None, None)
    train = np.ones(units, dtype=bool)
    held_out = validation_units(train, t, settings["validation_fraction"], seed=seed + 1)
    batch = replication_batch(replication, train, held_out)
    loader = DataLoader(_Batches([batch] * settings["steps_per_epoch"]), batch_size=1, shuffle=False, collate_fn=_unwrap)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=settings["max_epochs"], deterministic=True,
                             logger=False, enable_checkpointing=False, enable_model_summary=False,
                             enable_progress_bar=progress, default_root_dir=scratch, log_every_n_steps=50)
        trainer.fit(model, train_dataloaders=loader)
    model.eval()
    mu0, mu1 = (m.numpy() for m in model.potential_outcomes(batch))
    variance = model.effect_variance(batch).numpy()
    y_std = float(batch["y_std"])
    ate_variance = average_effect_variance(model, batch)
    effect = mu1 - mu0
    return Effects(effect, np.sqrt(np.clip(variance, 0, None)) * y_std, least_certain(variance, keep), mu0, mu1,
                   float(effect.mean()), math.sqrt(ate_variance) * y_std, int(model.stopped_at or trainer.global_step),
                   time.perf_counter() - started)


def write_effects(table: Table, effects: Effects, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "treatment", "outcome", "effect", "effect_sd", "least_certain", "mu0", "mu1"])
        for i in range(len(table.t)):
            writer.writerow([int(table.rows[i]), int(table.t[i]), f"{table.y[i]:.6g}", f"{effects.effect[i]:.6g}",
                             f"{effects.sd[i]:.6g}", int(effects.least_certain[i]), f"{effects.mu0[i]:.6g}",
                             f"{effects.mu1[i]:.6g}"])
    return path


def summary(table: Table, effects: Effects, keep: float) -> dict:
    low, high = effects.interval
    return {"input": table.path.name, "units": len(table.t), "treated": int(table.t.sum()),
            "covariates": table.covariates, "model": f"DKLITE, hyperparameters of experiment={EXPERIMENT}",
            "average_effect": effects.ate, "average_effect_sd": effects.ate_sd,
            "average_effect_95": [low, high], "least_certain_units": int(effects.least_certain.sum()),
            "least_certain_rule": f"the {1 - keep:.0%} of units with the highest predictive variance of the effect",
            "training_steps": effects.steps, "seconds": round(effects.seconds, 1)}


def plot_effects(table: Table, effects: Effects, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flagged = effects.least_certain
    figure, (hist, spread, ranked) = plt.subplots(1, 3, figsize=(14, 4))
    hist.hist(effects.effect, bins=40, color="tab:blue", alpha=0.8)
    low, high = effects.interval
    hist.axvline(effects.ate, color="k", label=f"average {effects.ate:.3g}")
    hist.axvspan(low, high, color="k", alpha=0.15, label=f"95 % interval [{low:.3g}, {high:.3g}]")
    hist.set_xlabel("estimated effect μ1 − μ0")
    hist.set_ylabel("units")
    hist.legend(fontsize=8)
    spread.scatter(effects.effect[~flagged], effects.sd[~flagged], s=8, alpha=0.6, label="kept")
    spread.scatter(effects.effect[flagged], effects.sd[flagged], s=10, color="tab:red", label="least certain")
    spread.set_xlabel("estimated effect")
    spread.set_ylabel("predictive sd of the effect")
    spread.legend(fontsize=8)
    order = np.argsort(effects.effect, kind="stable")
    position = np.arange(len(order))
    ranked.fill_between(position, (effects.effect - effects.sd)[order], (effects.effect + effects.sd)[order],
                        color="0.85", label="± predictive sd")
    ranked.scatter(position[~flagged[order]], effects.effect[order][~flagged[order]], s=3, color="tab:blue", label="kept")
    ranked.scatter(position[flagged[order]], effects.effect[order][flagged[order]], s=8, color="tab:red",
                   label="least certain")
    ranked.set_xlabel("units, sorted by estimated effect")
    ranked.set_ylabel("estimated effect")
    ranked.legend(fontsize=8)
    figure.suptitle(f"DKLITE on {table.path.name}: {len(table.t)} units, {int(table.t.sum())} treated", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


# Each argument with the type its value must have (scripts/predict.py checks them before anything runs).
ARGUMENTS = {"input": str, "treatment": str, "outcome": str, "covariates": str, "output": str, "plot": str,
             "summary": str, "seed": int, "keep": float}
REQUIRED = ("input", "treatment", "outcome")


def covariate_names(args) -> list[str] | None:
    if not args.get("covariates"):
        return None
    names = [name.strip() for name in str(args.get("covariates")).split(",") if name.strip()]
    if not names:
        raise ConfigError("covariates= names no column; give them comma-separated (covariates=age,dose)")
    return names


def check_arguments(args) -> None:
    keep = args.get("keep")
    if keep is not None and not 0.5 <= keep < 1:
        raise ConfigError(f"keep must lie in [0.5, 1) (the share of units not flagged), got {keep}")
    covariate_names(args)


def predict(args) -> int:
    keep = float(args.get("keep") or KEEP)
    table = read_table(args.input, str(args.treatment), str(args.outcome), covariate_names(args))
    base = Path(args.input).with_suffix("")
    output = Path(args.get("output") or f"{base}.effects.csv")
    plot = Path(args.get("plot") or output.with_suffix(".png"))
    summary_path = Path(args.get("summary") or output.with_suffix(".json"))
    for note in table.notes:
        print(f"note: {note}", file=sys.stderr)
    torch.set_num_threads(1)  # full-batch steps this small run fastest on one thread
    effects = fit_effects(table.x, table.t, table.y, seed=int(args.get("seed") or 0), keep=keep)
    write_effects(table, effects, output)
    plot_effects(table, effects, plot)
    facts = summary(table, effects, keep)
    summary_path.write_text(json.dumps(facts, indent=2) + "\n")
    low, high = effects.interval
    print(f"{table.path}: {facts['units']} units ({facts['treated']} treated), {len(table.covariates)} covariates; "
          f"average effect {effects.ate:.4g} (95 % interval {low:.4g} to {high:.4g}); "
          f"{facts['least_certain_units']} least certain units flagged; {effects.steps} steps in {effects.seconds:.0f} s; "
          f"wrote {output}, {plot}, {summary_path}")
    return 0
