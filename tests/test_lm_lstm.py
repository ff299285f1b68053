"""The LSTM language model: config validation, presets, builder and the step model."""

from __future__ import annotations

import numpy as np
import pytest

from musiclib.lm.lstm import PRESETS, LSTMConfig, build_lstm, build_step_model, config_for, step_state_sizes

# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("vocab_size", 0),
        ("vocab_size", 2.5),
        ("embedding_dim", -1),
        ("lstm_units", ()),
        ("lstm_units", (64, 0)),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("sequence_length", 0),
        ("loss_on", "first"),
        ("learning_rate", 0),
        ("batch_size", True),
        ("epochs", 0),
        ("patience", -1),
        ("seed", -3),
        ("clipnorm", 0.0),
    ],
)
def test_config_rejects_bad_values_naming_the_parameter(field, value):
    with pytest.raises(ValueError, match=field):
        LSTMConfig(vocab_size=10, **{field: value}) if field != "vocab_size" else LSTMConfig(vocab_size=value)


def test_config_round_trips_through_json_ready_dict():
    config = LSTMConfig(vocab_size=300, lstm_units=(32, 16), loss_on="last", clipnorm=None)
    data = config.to_dict()
    assert data["lstm_units"] == [32, 16]
    again = LSTMConfig.from_dict(data)
    assert again == config and isinstance(again.lstm_units, tuple)
    with pytest.raises(ValueError, match="unknown LSTMConfig keys"):
        LSTMConfig.from_dict({**data, "units": 3})


def test_presets_match_their_description():
    tiny = config_for("tiny", 50)
    assert (tiny.embedding_dim, tiny.lstm_units, tiny.sequence_length, tiny.epochs) == (32, (64,), 64, 2)
    default = config_for("default", 50)
    assert (default.lstm_units, default.sequence_length, default.loss_on) == ((256, 256), 128, "all")
    paper = config_for("paper", 50)
    assert (paper.lstm_units, paper.dropout, paper.sequence_length, paper.loss_on, paper.batch_size) == (
        (512, 512, 512),
        0.3,
        100,
        "last",
        128,
    )
    assert config_for("tiny", 50, epochs=7, lstm_units=[8]).lstm_units == (8,)
    assert set(PRESETS) == {"default", "short", "tiny", "paper"}
    short, default = config_for("short", 50), config_for("default", 50)
    assert (short.epochs, short.learning_rate, short.dropout) == (1, 3e-3, 0.0)
    assert short.replace(epochs=default.epochs, learning_rate=default.learning_rate, dropout=default.dropout) == default
    with pytest.raises(ValueError, match="preset"):
        config_for("huge", 50)
    with pytest.raises(ValueError, match="unknown LSTMConfig fields"):
        config_for("tiny", 50, hidden=3)


# ----------------------------------------------------------------------------- models


def small_config(**changes) -> LSTMConfig:
    return config_for("tiny", 23, **{"embedding_dim": 8, "lstm_units": (12, 16), **changes})


def test_build_lstm_names_layers_and_shapes_outputs():
    model = build_lstm(small_config())
    names = [layer.name for layer in model.layers]
    assert names == ["tokens", "embedding", "lstm_0", "dropout_0", "lstm_1", "dropout_1", "logits"]
    x = np.ones((2, 9), dtype=np.int32)
    assert model.predict_on_batch(x).shape == (2, 9, 23)
    last = build_lstm(small_config(loss_on="last"))
    assert last.predict_on_batch(x).shape == (2, 23)
    assert not last.get_layer("lstm_1").return_sequences and last.get_layer("lstm_0").return_sequences


def test_same_seed_same_initial_weights_and_other_seed_differs():
    a, b = build_lstm(small_config()), build_lstm(small_config())
    c = build_lstm(small_config(seed=1))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))


def run_step_model(step, config, tokens):
    states = [np.zeros((tokens.shape[0], units), np.float32) for units in step_state_sizes(config)]
    outputs = []
    for t in range(tokens.shape[1]):
        result = step.predict_on_batch([tokens[:, t : t + 1], *states])
        outputs.append(np.asarray(result[0]))
        states = [np.asarray(s) for s in result[1:]]
    return np.stack(outputs, axis=1)


@pytest.mark.parametrize("loss_on", ["all", "last"])
def test_step_model_token_by_token_equals_full_model(loss_on):
    config = small_config(loss_on=loss_on)
    model = build_lstm(config)
    # random, non-trivial weights so the comparison means something
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()])
    tokens = rng.integers(0, config.vocab_size, size=(3, 17)).astype(np.int32)
    full = model.predict_on_batch(tokens)
    stepped = run_step_model(build_step_model(model, config), config, tokens)
    got = stepped if loss_on == "all" else stepped[:, -1]  # "last" reports only the final step
    np.testing.assert_allclose(got, full, atol=1e-4)
    assert np.abs(np.diff(stepped, axis=1)).max() > 1e-3  # the logits do depend on the history


def test_step_model_shares_weights_with_the_trained_model():
    config = small_config()
    model = build_lstm(config)
    step = build_step_model(model, config)
    tokens = np.arange(1, 6, dtype=np.int32)[None, :]
    before = run_step_model(step, config, tokens)
    model.set_weights([w * 1.5 for w in model.get_weights()])  # "more training"
    after = run_step_model(step, config, tokens)
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, model.predict_on_batch(tokens), atol=1e-4)


def test_step_model_rejects_a_model_built_with_another_config():
    model = build_lstm(small_config())
    with pytest.raises(ValueError, match="lstm_2"):
        build_step_model(model, small_config(lstm_units=(12, 16, 4)))

