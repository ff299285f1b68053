"""The piano-roll GAN (MuseGAN-style WGAN-GP): the networks and ``MusicGAN`` model, its
resumable training, bundles and generation, and MuseGAN's metrics.

    import musiclib as ml
    result = ml.gan.train(phrases, config, out_dir="runs/gan")
    tunes = ml.gan.generate_tunes(ml.gan.load_bundle("runs/gan/bundle"), n=8, seed=0)
"""

from musiclib._lazy import attach

_SUBMODULES = ("model", "training", "bundle", "metrics")

_EXPORTS = {
    "GANConfig": "model",
    "PRESETS": "model",
    "ARCHITECTURES": "model",
    "LOSSES": "model",
    "NORMS": "model",
    "LOSS_NAMES": "model",
    "config_for": "model",
    "build_generator": "model",
    "build_critic": "model",
    "MusicGAN": "model",
    "phrase_shape": "model",
    "harden": "model",
    "sample_latents": "model",
    "generate_phrases": "model",
    "conditions_for": "model",
    "sample_conditions": "model",
    "meter_index_of": "model",
    "step_mask": "model",
    "KEY_SHIFTS": "model",
    "sample_key_shifts": "model",
    "TEMPORAL_NETWORKS": "model",
    "NOTE_LEVERS": "model",
    "phrases_from_tunes": "training",
    "conditioned_phrases": "training",
    "tune_meter_shares": "training",
    "tune_key_shift_shares": "training",
    "training_data": "training",
    "phrases_fingerprint": "training",
    "make_dataset": "training",
    "train": "training",
    "GANTrainingResult": "training",
    "save_sample_grid": "training",
    "HISTORY_CSV": "training",
    "CHECKPOINT_DIR": "training",
    "BACKUP_DIR": "training",
    "SAMPLES_DIR": "training",
    "GANBundle": "bundle",
    "piece_conditions": "bundle",
    "GANBundleError": "bundle",
    "save_bundle": "bundle",
    "load_bundle": "bundle",
    "generate_midi": "bundle",
    "generate_tunes": "bundle",
    "binarize": "bundle",
    "HISTORY_FILE": "bundle",
    "GENERATOR_FILE": "bundle",
    "CRITIC_FILE": "bundle",
    "REQUIRED_FILES": "bundle",
    "SPLIT_FILE": "bundle",
    "is_gan_bundle": "bundle",
    "export_reference": "bundle",
    "load_reference": "bundle",
    "as_bars": "metrics",
    "note_lengths": "metrics",
    "flat_metrics": "metrics",
    "empty_bar_rate": "metrics",
    "used_pitch_classes": "metrics",
    "qualified_note_rate": "metrics",
    "tonal_distance": "metrics",
    "tonal_matrix": "metrics",
    "mean_pairwise_distance": "metrics",
    "collapse_ratio": "metrics",
    "bar_metrics": "metrics",
    "metrics_table": "metrics",
    "format_table": "metrics",
    "QUALIFIED_STEPS": "metrics",
}

__getattr__, __dir__, __all__ = attach(__name__, submodules=_SUBMODULES, exports=_EXPORTS)
