"""Piano-roll models for the 2012 polyphonic benchmark: rolls <-> tunes, the frame LSTM with
independent outputs and LSTM-NADE, their resumable training, the benchmark's protocol
(NLL per frame, frame-level accuracy), frame-by-frame sampling and bundles.

    import musiclib as ml
    jsb = ml.datasets.load_polyphonic("jsb-chorales", download=True)
    config = ml.frames.frame_config_for("default", kind="nade")
    result = ml.frames.train_frames(config, jsb.train, jsb.valid, out_dir="runs/jsb-nade")
    print(ml.frames.evaluate_frames(result.model, jsb.test))
"""

from musiclib._lazy import attach

_SUBMODULES = ("rolls", "model", "metrics", "sampling", "training", "bundle")

_EXPORTS = {
    "roll_to_tune": "rolls",
    "tune_to_roll": "rolls",
    "check_roll": "rolls",
    "FrameModelConfig": "model",
    "KINDS": "model",
    "PRESETS": "model",
    "frame_config_for": "model",
    "KIND_DEFAULTS": "model",
    "build_frame_model": "model",
    "key_log_odds": "model",
    "FrameScores": "metrics",
    "frame_nll_terms": "metrics",
    "frame_accuracy_counts": "metrics",
    "evaluate_frames": "metrics",
    "bernoulli_scores": "metrics",
    "FrameWeights": "sampling",
    "frame_weights": "sampling",
    "context_sequence": "sampling",
    "decode_frames": "sampling",
    "generate_rolls": "sampling",
    "FrameTrainingResult": "training",
    "FrameTrainingError": "training",
    "train_frames": "training",
    "rolls_fingerprint": "training",
    "training_windows": "training",
    "FrameBundle": "bundle",
    "FrameBundleError": "bundle",
    "save_frame_bundle": "bundle",
    "load_frame_bundle": "bundle",
    "load_frame_reference": "bundle",
    "export_frame_reference": "bundle",
    "FRAME_BUNDLE_FILES": "bundle",
}

__getattr__, __dir__, __all__ = attach(__name__, submodules=_SUBMODULES, exports=_EXPORTS)
