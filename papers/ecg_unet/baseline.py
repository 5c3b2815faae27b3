"""Peer baseline: NeuroKit2's wavelet delineator (`ecg_delineate`, method 'dwt'), same score."""
from __future__ import annotations

import warnings

import numpy as np
from joblib import Parallel, delayed
from tqdm import tqdm

from papers.ecg_unet.data import EcgRecord
from papers.ecg_unet.delineation import DelineationScorer, boundary_points

NEUROKIT_KEYS = {
    "p_onset": "ECG_P_Onsets",
    "p_offset": "ECG_P_Offsets",
    "qrs_onset": "ECG_R_Onsets",
    "qrs_offset": "ECG_R_Offsets",
    "t_onset": "ECG_T_Onsets",
    "t_offset": "ECG_T_Offsets",
}


def neurokit_points(lead_signal: np.ndarray, sampling_rate: float) -> dict[str, np.ndarray]:
    """Boundary points NeuroKit2 finds in one lead; empty where it fails on that lead."""
    import neurokit2 as nk

    empty = {key: np.array([], dtype=np.int64) for key in NEUROKIT_KEYS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cleaned = nk.ecg_clean(lead_signal, sampling_rate=sampling_rate)
            _, peaks = nk.ecg_peaks(cleaned, sampling_rate=sampling_rate)
            if len(peaks["ECG_R_Peaks"]) < 2:
                return empty
            _, found = nk.ecg_delineate(cleaned, peaks, sampling_rate=sampling_rate, method="dwt")
        except Exception:  # noqa: BLE001 - the wavelet code fails on some leads; score it as "found nothing"
            return empty
    points = {}
    for key, nk_key in NEUROKIT_KEYS.items():
        values = np.asarray(found.get(nk_key, []), dtype=float)
        points[key] = np.sort(values[np.isfinite(values)].astype(np.int64))
    return points


def score_neurokit(records: list[EcgRecord], tolerance_ms: float, n_jobs: int = 1) -> dict[str, float]:
    """The same boundary score the UNet gets, for NeuroKit2 on every annotated lead; the leads are
    independent, so `n_jobs` processes can share them (-1: one per CPU core; starting them costs
    seconds, worth it for the 384 leads of LUDB's test split, not for a few)."""
    try:
        import neurokit2  # noqa: F401
    except ImportError:
        return {}
    leads = [(record, lead) for record in records for lead in range(record.signal.shape[0])
             if record.spans[lead] is not None]
    found = Parallel(n_jobs=n_jobs)(
        delayed(neurokit_points)(record.signal[lead].astype(float), record.sampling_rate)
        for record, lead in tqdm(leads, desc="NeuroKit2 baseline", unit="lead", leave=False)
    )
    scorer = DelineationScorer(records[0].sampling_rate, tolerance_ms)
    for (record, lead), detected in zip(leads, found, strict=True):
        scorer.add_points(boundary_points(record.waves[lead]), detected, record.spans[lead])
    return scorer.metrics()
