"""Tests for musiclib.experiments: a rerun of a finished run reuses it instead of training again."""

from __future__ import annotations

import musiclib as ml
import musiclib.lm.training


def test_a_finished_run_is_reused_and_a_changed_config_trains_again(monkeypatch, tmp_path):
    calls = []
    real_train = musiclib.lm.training.train

    def counting_train(*args, **kwargs):
        calls.append(kwargs["out_dir"])
        return real_train(*args, **kwargs)

    monkeypatch.setattr(musiclib.lm.training, "train", counting_train)
    prepared = ml.prepare.prepare(ml.prepare.PrepareConfig(dataset="folk", max_tunes=12))
    first = ml.experiments.train_lstm_experiment(prepared, out_dir=tmp_path, preset="tiny", epochs=1, verbose=0)
    assert len(calls) == 1
    model_file = first.bundle_path / "model.keras"
    written = model_file.stat().st_mtime_ns

    again = ml.experiments.train_lstm_experiment(prepared, out_dir=tmp_path, preset="tiny", epochs=1, verbose=0)
    assert len(calls) == 1, "a finished run with the same config and data trains nothing"
    assert model_file.stat().st_mtime_ns == written
    assert again.table == first.table and again.config == first.config
    assert again.train_seconds == round(first.train_seconds, 1)
    assert again.history["loss"] == first.history["loss"]

    ml.experiments.train_lstm_experiment(prepared, out_dir=tmp_path, preset="tiny", epochs=2, verbose=0)
    assert len(calls) == 2, "another config trains again"
    other_data = ml.prepare.prepare(ml.prepare.PrepareConfig(dataset="folk", max_tunes=12, seed=1))
    ml.experiments.train_lstm_experiment(other_data, out_dir=tmp_path, preset="tiny", epochs=2, verbose=0)
    assert len(calls) == 3, "other data trains again"
    ml.experiments.train_lstm_experiment(other_data, out_dir=tmp_path, preset="tiny", epochs=2, verbose=0,
                                         train_stride=96)
    assert len(calls) == 4, "another window stride trains again"


def test_an_experiment_with_bar_positions_finds_the_bar_token_in_its_vocabulary():
    from musiclib.encoding import get_encoding
    from musiclib.encoding.events import BAR_TOKEN
    from musiclib.experiments import _bar_token_override

    vocab = get_encoding("events").vocabulary()
    bar_id = int(vocab.encode([BAR_TOKEN], strict=True)[0])
    assert _bar_token_override("transformer", "default", vocab, {"position": "rotary-bars"}) == {"bar_token_id": bar_id}
    assert _bar_token_override("transformer", "default", vocab, {}) == {"bar_token_id": bar_id}  # the preset's
    assert _bar_token_override("transformer", "short", vocab, {}) == {}
    assert _bar_token_override("transformer", "default", vocab, {"position": "rotary"}) == {}
    assert _bar_token_override("lstm", "default", vocab, {"position": "rotary-bars"}) == {}
    assert _bar_token_override("transformer", "default", vocab, {"position": "rotary-bars", "bar_token_id": 7}) == {}
