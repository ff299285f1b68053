"""Objective evaluation of symbolic music against held-out real music.

Six layers, each usable on its own: per-piece features (:mod:`.features`), repetition
structure (:mod:`.repetition`), MGEval set comparison (:mod:`.mgeval`), the classifier
two-sample test (:mod:`.c2st`),
memorisation of the training set (:mod:`.shared_runs`), and the table (:mod:`.report`) that compares model sets (:mod:`.sets`) and baselines
(:mod:`.baselines`: Markov chain, uniform notes) over several seeds with a real ceiling.

    import musiclib as ml
    table = ml.evaluation.table(reference, {"LSTM": ml.evaluation.lstm_set(...)}, seeds=(0, 1, 2))
"""

from musiclib._lazy import attach

_SUBMODULES = ("features", "repetition", "mgeval", "c2st", "shared_runs", "baselines", "sets", "report")

_EXPORTS = {
    "Feature": "features",
    "FEATURES": "features",
    "HEADLINE_FEATURES": "features",
    "RESOLUTION": "features",
    "DURATION_CLASSES": "features",
    "to_muspy": "features",
    "excerpt": "features",
    "melody_track": "features",
    "melody_pitches": "features",
    "melody_intervals": "features",
    "melody_polyphony": "features",
    "piece_features": "features",
    "set_features": "features",
    "REPETITION_THRESHOLD": "repetition",
    "bar_contents": "repetition",
    "bar_self_similarity": "repetition",
    "copied_bars": "repetition",
    "copy_persistence": "repetition",
    "copy_share": "repetition",
    "repetition_share": "repetition",
    "set_repetition": "repetition",
    "intra_set_distances": "mgeval",
    "inter_set_distances": "mgeval",
    "density": "mgeval",
    "kl_divergence": "mgeval",
    "overlap_area": "mgeval",
    "compare_feature": "mgeval",
    "compare_sets": "mgeval",
    "C2ST_FEATURES": "c2st",
    "C2ST_CLASSIFIERS": "c2st",
    "MIN_PER_CLASS": "c2st",
    "C2ST_GROUPS": "c2st",
    "C2STResult": "c2st",
    "c2st_group_columns": "c2st",
    "classifier_test_by_group": "c2st",
    "c2st_feature_names": "c2st",
    "c2st_piece_features": "c2st",
    "c2st_features": "c2st",
    "classifier_test": "c2st",
    "SharedRunIndex": "shared_runs",
    "memorisation": "shared_runs",
    "markov_set": "baselines",
    "uniform_set": "baselines",
    "uniform_random_tune": "baselines",
    "lstm_set": "sets",
    "gan_set": "sets",
    "model_sets": "sets",
    "interval95": "report",
    "table": "report",
    "format_markdown": "report",
    "write_table": "report",
}

__getattr__, __dir__, __all__ = attach(__name__, submodules=_SUBMODULES, exports=_EXPORTS)
