"""Token language models: the LSTM and the Transformer, their training, sampling, bundles,
n-gram baselines and the multi-worker trainer.

    import musiclib as ml
    model = ml.lm.build_lstm(ml.lm.config_for("default", vocab_size=len(vocab)))
    # or: config = ml.lm.transformer_config_for("default", len(vocab), bar_token_id=vocab.encode(["Bar"])[0])
    #     model = ml.lm.build_transformer(config)
    ml.lm.train(model, config, train_tokens, valid_tokens, out_dir="runs/lstm")
    tunes = ml.lm.sample_many(bundle, n=10, seed=0)
"""

from musiclib._lazy import attach

_SUBMODULES = ("lstm", "lookback", "transformer", "architectures", "data", "training", "sampling", "bundle", "reference", "ngram", "distributed")

# Names that several submodules define (CONFIG_FILE, HISTORY_FILE, MODEL_FILE) are reached
# through their submodule, e.g. ``ml.lm.training.HISTORY_FILE``.
_EXPORTS = {
    "reference_names": "reference",
    "reference_path": "reference",
    "load_reference": "reference",
    "resolve_bundle": "reference",
    "export_reference": "reference",
    "REFERENCE_DIR": "reference",
    "REFERENCE_FILE": "reference",
    "LSTMConfig": "lstm",
    "PRESETS": "lstm",
    "LOSS_ON_CHOICES": "lstm",
    "config_for": "lstm",
    "build_lstm": "lstm",
    "build_step_model": "lstm",
    "step_state_sizes": "lstm",
    "LeadPitch": "lstm",
    "lead_context_ids": "lstm",
    "LookbackTokens": "lookback",
    "LookbackEmbedding": "lookback",
    "LookbackHistory": "lookback",
    "lookback_context": "lookback",
    "TransformerConfig": "transformer",
    "TRANSFORMER_PRESETS": "transformer",
    "transformer_config_for": "transformer",
    "build_transformer": "transformer",
    "attention_weights": "transformer",
    "ARCHITECTURES": "architectures",
    "model_config_for": "architectures",
    "build_model": "architectures",
    "make_dataset": "data",
    "concatenate": "data",
    "window_starts": "data",
    "count_windows": "data",
    "train": "training",
    "evaluate_nll": "training",
    "HISTORY_CSV": "training",
    "CHECKPOINT_DIR": "training",
    "BACKUP_DIR": "training",
    "ModelParts": "sampling",
    "GenerationResult": "sampling",
    "sample_tokens": "sampling",
    "sample_many": "sampling",
    "generate_midi": "sampling",
    "primer_from_tune": "sampling",
    "next_token": "sampling",
    "check_sampling": "sampling",
    "BarCopy": "sampling",
    "check_copy": "sampling",
    "LeapPenalty": "sampling",
    "check_leap": "sampling",
    "DEFAULT_PRIMER": "sampling",
    "BAR_TOKEN": "sampling",
    "BANNED_TOKENS": "sampling",
    "MAX_TOKENS_PER_BAR": "sampling",
    "Bundle": "bundle",
    "BundleError": "bundle",
    "save_bundle": "bundle",
    "load_bundle": "bundle",
    "share_split": "bundle",
    "VOCAB_FILE": "bundle",
    "DATA_FILE": "bundle",
    "METRICS_FILE": "bundle",
    "SPLIT_FILE": "bundle",
    "REQUIRED_FILES": "bundle",
    "BUNDLE_FORMAT": "bundle",
    "UnigramModel": "ngram",
    "NGramModel": "ngram",
    "baseline_table": "ngram",
    "PAD_ID": "ngram",
    "BOS_ID": "ngram",
    "EOS_ID": "ngram",
    "UNK_ID": "ngram",
    "strategy_from_environment": "distributed",
    "worker_role": "distributed",
    "train_distributed": "distributed",
    "DistributedResult": "distributed",
    "save_tokens": "distributed",
    "load_tokens": "distributed",
    "main": "distributed",
}

__getattr__, __dir__, __all__ = attach(__name__, submodules=_SUBMODULES, exports=_EXPORTS)
