"""Generation section: sampling one sequence token by token with the incremental step model against
the tutorial's loop, which runs the whole window through ``model.predict`` for every note, on the
same (untrained) model.
"""

from __future__ import annotations

from typing import Any

from speed.common import (
    TARGET_GENERATION_RATIO,
    TUTORIAL_MS_PER_NOTE,
    Settings,
    _quiet_keras,
    _tf,
    med,
    paired_timings,
    row,
)
from speed.train import lstm_flops


def _generation_model(preset: str, vocab: Any):
    """An untrained model of a preset whose EOS logit is pushed down, so sampling never stops early."""
    import keras
    import numpy as np

    import musiclib as ml

    config = ml.lm.config_for(preset, len(vocab))
    keras.utils.set_random_seed(0)
    model = ml.lm.build_lstm(config, name=f"gen_{preset}")
    bias = model.get_layer("logits").bias
    values = np.array(bias.numpy())
    values[vocab.eos_id] = -1e9
    bias.assign(values)
    return model, config


def bench_generate(s: Settings) -> list[dict]:
    """One sequence, tokens/s: the incremental step model against the tutorial's re-run-the-window loop."""
    import numpy as np

    import musiclib as ml

    _tf(s)
    _quiet_keras()
    vocab = ml.encoding.get_encoding("events").vocabulary()
    paper_model, paper_cfg = _generation_model("paper", vocab)
    default_model, default_cfg = _generation_model("default", vocab)
    window = paper_cfg.sequence_length
    start = np.random.default_rng(0).integers(4, len(vocab), size=window).tolist()

    def incremental(model, config):
        def run():
            tokens = ml.lm.sample_tokens(ml.lm.ModelParts(model, vocab, config), max_tokens=s.gen_tokens, seed=0)
            assert len(tokens) == s.gen_tokens + 1, len(tokens)
        return run

    def tutorial():
        # The tutorial's loop: the whole window through the model with model.predict, per note.
        pattern = list(start)
        for _ in range(s.gen_tutorial_notes):
            prediction = paper_model.predict(np.asarray(pattern, dtype=np.int32)[None, :], verbose=0)
            pattern = pattern[1:] + [int(np.argmax(prediction))]

    times = paired_timings(
        {"ours": incremental(paper_model, paper_cfg), "tutorial": tutorial,
         "default": incremental(default_model, default_cfg)},
        repeats=s.repeats,
    )
    ours = s.gen_tokens / med(times["ours"])
    base = s.gen_tutorial_notes / med(times["tutorial"])
    default = s.gen_tokens / med(times["default"])
    ratio = ours / base
    gap = ""
    if ratio < TARGET_GENERATION_RATIO:
        gap = (f" Gap: {1000 / ours:.1f} ms/token for a step of about "
               f"{lstm_flops(paper_cfg.replace(sequence_length=1))['forward_per_window'] / 1e6:.0f} MFLOP.")
    return [
        row("generate one sequence, tutorial's model shape (tokens/s)", ours, base, "tokens/s", higher_is_better=True,
            target=f">= {TARGET_GENERATION_RATIO:.0f}x", met=ratio >= TARGET_GENERATION_RATIO,
            note=f"same model (paper preset: 3 x LSTM(512), window {window}, {len(vocab)}-token vocabulary); ours: "
                 f"generate.sample_tokens, one LSTM step per token, in numpy from the Keras weights "
                 f"({1000 / ours:.2f} ms/token, {s.gen_tokens} "
                 f"tokens per run); baseline: model.predict on the full {window}-token window per note, as the "
                 f"tutorial does ({1000 / base:.0f} ms/note here, {s.gen_tutorial_notes} notes per run; the issue "
                 f"measured {TUTORIAL_MS_PER_NOTE:.0f} ms). Ratio against the issue's {TUTORIAL_MS_PER_NOTE:.0f} ms/note: "
                 f"{ours * TUTORIAL_MS_PER_NOTE / 1000:.0f}x." + gap,
            samples_ours=times["ours"], samples_baseline=times["tutorial"]),
        row("generate one sequence, default preset (tokens/s)", default, base, "tokens/s", higher_is_better=True,
            note=f"default preset (2 x LSTM(256)) through sample_tokens ({1000 / default:.1f} ms/token) against the "
                 "same tutorial loop as above",
            samples_ours=times["default"]),
    ]
