"""The piano-roll GAN: config, builders, train_step, gradient penalty, metrics, resume, bundles, MIDI."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from musiclib.gan import metrics as gm  # noqa: E402
from musiclib import gan as gt  # noqa: E402
from musiclib.encoding import PianoRollEncoding  # noqa: E402
from musiclib.gan.model import (
    LOSS_NAMES,
    PRESETS,
    GANConfig,
    MusicGAN,
    build_critic,
    build_generator,
    config_for,
)
from musiclib.io import read_midi  # noqa: E402
from support import EVIL_MODULE, custom_object_model_file, lambda_model_file, link_outside  # noqa: E402

TINY = config_for("tiny", epochs=2)


def toy_phrases(n: int = 64, seed: int = 0) -> np.ndarray:
    """Phrases shaped like Nottingham's: a melody note per beat, a triad held per bar."""
    rng = np.random.default_rng(seed)
    phrases = np.zeros((n, *TINY.phrase_shape), dtype=bool)
    for i in range(n):
        for bar in range(TINY.n_bars):
            root = rng.choice([0, 5, 7])  # C, F, G from C2 (row 12)
            for interval in (0, 4, 7):
                phrases[i, bar, :, 12 + root + interval, 1] = True
            for beat in range(4):
                phrases[i, bar, beat * 4 : beat * 4 + 3, 36 + rng.integers(0, 12), 0] = True
    return phrases


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two tiny epochs of uninterrupted training, shared by the resume, bundle and MIDI tests."""
    out = tmp_path_factory.mktemp("gan_run")
    result = gt.train(TINY, toy_phrases(), out_dir=out, verbose=0)
    return out, result


# ----------------------------------------------------------------------------- config and builders


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_bars", 0),
        ("latent_dim", 2.5),
        ("architecture", "rnn"),
        ("loss", "hinge"),
        ("norm", "batch"),
        ("critic_steps", 0),
        ("gp_weight", -1.0),
        ("learning_rate", 0),
        ("beta_2", 1.0),
        ("generator_filters", (8, 8)),
        ("steps_per_bar", 6),
        ("n_pitches", 80),
        ("seed", -1),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        GANConfig(**{field: value})


def test_config_round_trips_through_json_and_presets_exist():
    config = config_for("default", epochs=3)
    again = GANConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and isinstance(again.generator_filters, tuple)
    assert {"default", "short", "tiny", "paper"} <= set(PRESETS)
    short, default = config_for("short"), config_for("default")
    for name in gt.NOTE_LEVERS:  # the walkthrough writes notes as the recipe does, on 4-bar phrases
        assert getattr(short, name) == getattr(default, name)
    assert (short.n_bars, default.n_bars, default.temporal_network, default.ema_decay) == (4, 16, "gru", 0.0)
    assert default.key_of_c and not short.key_of_c  # the recipe's chosen step learns in C
    base = GANConfig()
    assert (base.latent_dim, base.bar_latent_dim, base.critic_steps, base.gp_weight) == (64, 32, 5, 10.0)
    assert (base.learning_rate, base.beta_1, base.beta_2, base.batch_size) == (1e-3, 0.5, 0.9, 64)
    assert config.critic_steps == 3 and config_for("paper").loss == "gan"
    with pytest.raises(ValueError, match="unknown GANConfig"):
        GANConfig.from_dict({**config.to_dict(), "units": 3})


@pytest.mark.parametrize("preset", ["tiny", "paper"])
def test_builders_give_the_phrase_shape(preset):
    config = config_for(preset)
    if preset == "paper":  # keep the dense baseline small in the test
        config = config.replace(generator_filters=(16,), critic_filters=(16,))
    generator, critic = build_generator(config), build_critic(config)
    z = np.zeros((3, config.latent_dim), "float32")
    z_bars = np.zeros((3, config.n_bars, config.bar_latent_dim), "float32")
    roll = keras.ops.convert_to_numpy(generator([z, z_bars]))
    assert roll.shape == (3, 4, 16, 84, 2)
    assert 0.0 <= roll.min() and roll.max() <= 1.0
    assert tuple(critic(roll).shape) == (3, 1)
    assert not any("batch_norm" in layer.name for layer in critic.layers)


def test_generate_is_deterministic_for_a_seed():
    gan = MusicGAN.from_config_object(TINY)
    a, b, c = gan.generate(4, seed=5), gan.generate(4, seed=5), gan.generate(4, seed=6)
    assert a.shape == (4, *TINY.phrase_shape) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ----------------------------------------------------------------------------- training step


def test_train_step_returns_the_named_losses_and_updates_both_networks():
    gan = MusicGAN.from_config_object(TINY)
    gan.compile()
    before_g = [w.copy() for w in gan.generator.get_weights()]
    before_c = [w.copy() for w in gan.critic.get_weights()]
    batch = toy_phrases(TINY.phrases_per_step).astype("float32")
    logs = gan.train_step(keras.ops.convert_to_tensor(batch))
    values = {key: float(keras.ops.convert_to_numpy(value)) for key, value in logs.items()}
    assert set(values) == set(LOSS_NAMES)
    assert all(np.isfinite(v) for v in values.values())
    assert values["gp"] >= 0
    assert any(not np.array_equal(a, b) for a, b in zip(before_g, gan.generator.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(before_c, gan.critic.get_weights()))
    assert int(gan.d_optimizer.iterations) == TINY.critic_steps and int(gan.g_optimizer.iterations) == 1


def _linear_critic(config: GANConfig, norm: float) -> keras.Model:
    roll = keras.Input(config.phrase_shape)
    dense = keras.layers.Dense(1, use_bias=False)
    critic = keras.Model(roll, dense(keras.layers.Flatten()(roll)))
    w = np.random.default_rng(0).normal(size=dense.kernel.shape).astype("float32")
    dense.kernel.assign(w / np.linalg.norm(w) * norm)
    return critic


def test_gradient_penalty_is_zero_for_a_1_lipschitz_linear_critic():
    real = toy_phrases(8).astype("float32")
    fake = np.random.default_rng(1).random(real.shape).astype("float32")
    for norm, expected in ((1.0, 0.0), (2.0, 1.0), (0.5, 0.25)):  # (|w| - 1)^2
        gan = MusicGAN(build_generator(TINY), _linear_critic(TINY, norm), TINY)
        gp = float(keras.ops.convert_to_numpy(gan.gradient_penalty(real, fake)))
        assert gp == pytest.approx(expected, abs=1e-4)


# ----------------------------------------------------------------------------- metrics


def _bars(n: int = 1) -> np.ndarray:
    return np.zeros((n, 16, 84, 2), dtype=bool)


def test_metrics_on_hand_made_bars():
    bars = _bars(3)
    # bar 0: a C major triad (C4 E4 G4, rows 36 40 43) held 4 steps in track 0; track 1 empty
    bars[0, 0:4, [36, 40, 43], 0] = True
    # bar 1: one one-step note in each track
    bars[1, 5, 50, 0] = True
    bars[1, 7, 20, 1] = True
    # bar 2: empty
    assert gm.empty_bar_rate(bars) == pytest.approx([1 / 3, 2 / 3])
    assert gm.empty_bar_rate(bars[2:]) == [1.0, 1.0]
    upc = gm.used_pitch_classes(bars[:1])
    assert upc[0] == 3.0 and np.isnan(upc[1])  # UPC counts only bars where the track plays
    assert gm.qualified_note_rate(bars[:1])[0] == 1.0
    assert gm.qualified_note_rate(bars[1:2]) == [0.0, 0.0]
    assert gm.qualified_note_rate(bars[:2])[0] == pytest.approx(3 / 4)
    lengths = gm.note_lengths(bars)
    assert sorted(lengths[0].tolist()) == [1, 4, 4, 4] and lengths[1].tolist() == [1]


def test_tonal_distance_and_collapse():
    bars = _bars(2)
    bars[:, :, [36, 40, 43], 0] = True  # C major in track 0
    bars[:, :, [24, 28, 31], 1] = True  # the same chord an octave lower in track 1
    assert gm.tonal_distance(bars) == pytest.approx(0.0, abs=1e-9)
    other = bars.copy()
    other[:, :, :, 1] = False
    other[:, :, [42, 46, 49], 1] = True  # F# major: far from C major
    assert gm.tonal_distance(other) > 1.0
    real = toy_phrases(8)
    identical = np.broadcast_to(real[0, 0], real.shape).copy()  # one bar, repeated everywhere
    assert gm.collapse_ratio(real, identical) == 0.0
    assert gm.collapse_ratio(real, real) == pytest.approx(1.0)
    table = gm.metrics_table(real, identical)
    assert table["collapse"]["ratio"] == 0.0 and set(table) == {"real", "generated", "collapse"}
    assert "collapse ratio" in gm.format_table(table)


def test_mean_pairwise_distance_matches_a_direct_count():
    bars = np.random.default_rng(0).random((6, 16, 84, 2)) < 0.1
    flat = bars.reshape(6, -1)
    direct = np.mean([np.sum(flat[i] != flat[j]) for i in range(6) for j in range(6) if i != j])
    assert gm.mean_pairwise_distance(bars) == pytest.approx(direct)


# ----------------------------------------------------------------------------- run folder, resume


def test_training_writes_history_checkpoints_and_samples(trained):
    out, result = trained
    history = json.loads((out / gt.HISTORY_FILE).read_text())
    assert history["epoch"] == [0, 1] and history["session"] == [0, 0]
    for key in (*LOSS_NAMES, "ebr_0", "upc_1", "qn_0", "td", "collapse", "epoch_seconds"):
        assert key in history
    assert (out / gt.HISTORY_CSV).read_text().startswith("epoch,session,")
    assert (out / gt.CHECKPOINT_DIR / gt.GENERATOR_FILE).is_file()
    assert (out / gt.CHECKPOINT_DIR / gt.CRITIC_FILE).is_file()
    assert (out / gt.SAMPLES_DIR / "epoch_002.png").read_bytes()[:4] == b"\x89PNG"
    first, last = TINY.learning_rate, TINY.learning_rate * TINY.final_lr_fraction
    assert history["learning_rate"] == pytest.approx([first, last])
    assert not (out / gt.BACKUP_DIR).exists()
    assert set(result.metrics) == {"real", "generated", "collapse"}


class _Interrupt(Exception):
    pass


class _StopAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Interrupt(f"simulated kill at the start of epoch {epoch}")


def test_an_interrupted_run_resumes_and_matches_an_uninterrupted_one(trained, tmp_path):
    _, whole = trained
    with pytest.raises(_Interrupt):
        gt.train(TINY, toy_phrases(), out_dir=tmp_path, verbose=0, callbacks=[_StopAtEpoch(1)])
    assert (tmp_path / gt.BACKUP_DIR).is_dir()
    assert json.loads((tmp_path / gt.HISTORY_FILE).read_text())["epoch"] == [0]
    resumed = gt.train(TINY, toy_phrases(), out_dir=tmp_path, verbose=0)
    assert resumed.history["epoch"] == [0, 1] and resumed.history["session"] == [0, 1]
    assert not (tmp_path / gt.BACKUP_DIR).exists()
    for a, b in zip(resumed.gan.generator.get_weights(), whole.gan.generator.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert resumed.history["d_loss"] == pytest.approx(whole.history["d_loss"], rel=1e-4)


def test_train_gan_rejects_data_of_the_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        gt.train(TINY, np.zeros((64, 4, 16, 72, 2), bool), out_dir=tmp_path)
    with pytest.raises(ValueError, match="fewer than one training step"):
        gt.train(TINY, toy_phrases(8), out_dir=tmp_path)


# ----------------------------------------------------------------------------- bundles and MIDI


def _save(path, result, **kwargs):
    return gt.save_bundle(
        path,
        gan=result.gan,
        encoding=PianoRollEncoding(),
        data_info={"dataset": "toy", "data_hash": gt.phrases_fingerprint(toy_phrases())},
        metrics=result.metrics,
        history=result.history,
        **kwargs,
    )


def test_bundle_round_trip(trained, tmp_path):
    _, result = trained
    path = _save(tmp_path / "bundle", result)
    assert sorted(p.name for p in path.iterdir()) == sorted([*gt.REQUIRED_FILES, gt.CRITIC_FILE])
    bundle = gt.load_bundle(path)
    assert bundle.config == result.gan.config and bundle.encoding == PianoRollEncoding()
    assert bundle.meter == (4, 4) and bundle.data_info["dataset"] == "toy"
    np.testing.assert_allclose(bundle.generate(3, seed=2), result.gan.generate(3, seed=2), atol=1e-6)
    _save(path, result)  # replacing a bundle is allowed


def test_bundle_mismatches_raise_clear_errors(trained, tmp_path):
    _, result = trained
    path = _save(tmp_path / "bundle", result)
    config = json.loads((path / "config.json").read_text())
    config["model"]["latent_dim"] = 99
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(gt.GANBundleError, match="latent_dim=99"):
        gt.load_bundle(path)
    config["model"]["latent_dim"] = TINY.latent_dim
    config["encoding"]["n_pitches"] = 72
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(gt.GANBundleError, match="must match"):
        gt.load_bundle(path)
    (path / gt.GENERATOR_FILE).unlink()  # the critic is optional; the generator is not
    with pytest.raises(gt.GANBundleError, match="missing generator.keras"):
        gt.load_bundle(path)
    with pytest.raises(gt.GANBundleError, match="must match"):
        _save(tmp_path / "other", result, meter=(3, 4))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(gt.GANBundleError, match="not a GAN bundle"):
        _save(tmp_path / "taken", result)


@pytest.fixture()
def gan_bundle(trained, tmp_path):
    return _save(tmp_path / "bundle", trained[1])


@pytest.mark.parametrize("name", [gt.GENERATOR_FILE, gt.CRITIC_FILE])
def test_lambda_layer_is_refused_before_keras_reads_it_and_its_code_never_runs(gan_bundle, tmp_path, name):
    marker = tmp_path / "lambda_ran"
    lambda_model_file(gan_bundle / name, gan_bundle / name, marker)
    refused = rf"{name} was refused: it holds a Lambda layer 'touch'"
    with pytest.raises(gt.GANBundleError, match=refused) as info:
        gt.load_bundle(gan_bundle)
    assert "safe_mode=False" not in str(info.value) and not marker.exists()
    keras.saving.load_model(gan_bundle / name, safe_mode=False, compile=False)
    assert marker.exists()  # the file was hostile: an unsafe load runs its code


def test_custom_object_is_refused_and_its_module_never_imported(gan_bundle, tmp_path, monkeypatch):
    import sys

    modules, marker = tmp_path / "modules", tmp_path / "module_imported"
    modules.mkdir()
    monkeypatch.syspath_prepend(str(modules))
    generator = gan_bundle / gt.GENERATOR_FILE
    custom_object_model_file(generator, generator, modules, marker)
    with pytest.raises(gt.GANBundleError, match=f"custom object 'Sneaky' from module '{EVIL_MODULE}'"):
        gt.load_bundle(gan_bundle)
    assert not marker.exists() and EVIL_MODULE not in sys.modules


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("encoding", {"name": "midi-like"}, "the encoding config does not parse: unknown encoding 'midi"),
        ("encoding", {"name": "events"}, "a GAN needs the 'pianoroll' encoding, got 'events'"),
        ("meter", 4, "'meter' must be two positive integers"),
        ("meter", ["4", "4"], "'meter' must be two positive integers"),
    ],
    ids=["unknown-encoding", "token-encoding", "meter-number", "meter-strings"],
)
def test_bad_config_json_is_named(gan_bundle, key, value, message):
    config = json.loads((gan_bundle / "config.json").read_text())
    (gan_bundle / "config.json").write_text(json.dumps({**config, key: value}))
    with pytest.raises(gt.GANBundleError, match=rf"config\.json: {message}"):
        gt.load_bundle(gan_bundle)


@pytest.mark.parametrize("name", [gt.GENERATOR_FILE, gt.CRITIC_FILE, "config.json", "data.json"])
def test_file_linked_from_outside_the_bundle_is_refused(gan_bundle, tmp_path, name):
    elsewhere = link_outside(gan_bundle, name, tmp_path / "elsewhere" / name)
    refused = rf"{name} is a symbolic link to {elsewhere}, outside the bundle"
    with pytest.raises(gt.GANBundleError, match=refused):
        gt.load_bundle(gan_bundle)


def test_generated_midi_reads_back_with_one_note_per_run(trained, tmp_path):
    _, result = trained
    bundle = gt.load_bundle(_save(tmp_path / "bundle", result))
    probabilities = bundle.generate(2, seed=3)
    threshold = float(np.quantile(probabilities, 0.97))  # a barely trained generator: take its top 3%
    paths = gt.generate_midi(bundle, tmp_path / "midi", n=2, seed=3, threshold=threshold)
    assert [p.name for p in paths] == ["gan_s3_000.mid", "gan_s3_001.mid"]
    rolls = gt.binarize(probabilities, threshold=threshold)
    for path, roll in zip(paths, rolls):
        tune = read_midi(path)
        runs = sum(len(x) for x in gm.note_lengths(roll.reshape(1, -1, 84, 2)))
        assert sum(len(track.notes) for track in tune.tracks) == runs
    again = gt.generate_midi(bundle, tmp_path / "again", n=2, seed=3, threshold=threshold)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]
    sampled = gt.generate_midi(bundle, tmp_path / "bern", n=1, seed=3, bernoulli=True)
    assert read_midi(sampled[0]).tracks


# ----------------------------------------------------------------------------- the recipe's levers

RECIPE = config_for("tiny", epochs=2, onsets=True, monophonic_melody=True, straight_through=True,
                    temporal_network="gru", ema_decay=0.9, critic_filters=(16, 16, 16, 16))


def toy_phrases_with_onsets(n: int = 64, seed: int = 0) -> np.ndarray:
    """:func:`toy_phrases` with an onset channel per track (a run of a pitch starts a note)."""
    sounding = toy_phrases(n, seed)
    flat = sounding.reshape(n, -1, *sounding.shape[3:])
    before = np.concatenate([np.zeros_like(flat[:, :1]), flat[:, :-1]], axis=1)
    onsets = (flat & ~before).reshape(sounding.shape)
    return np.concatenate([sounding, onsets], axis=-1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"architecture": "dense", "onsets": True, "generator_filters": (8,), "critic_filters": (8,)}, "conv"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"temporal_network": "lstm"}, "temporal_network"),
        ({"critic_filters": (8, 8, 8, 8), "n_bars": 6}, "multiple of 4"),
        ({"onsets": 1}, "onsets"),
        ({"hop_bars": 0}, "hop_bars"),
        ({"melody_steps": 3}, "divide steps_per_bar"),
        ({"accompaniment_steps": 4}, "only with monophonic_melody"),
    ],
)
def test_recipe_options_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        config_for("tiny", **changes)


def test_recipe_generator_writes_a_monophonic_melody_and_onsets():
    assert RECIPE.phrase_shape == (4, 16, 84, 4) and RECIPE.n_channels == 4
    generator = build_generator(RECIPE)
    names = {layer.name for layer in generator.layers}
    assert {"temporal", "melody_softmax", "melody_rest", "onset_up", "pitch_up"} <= names
    assert isinstance(generator.get_layer("temporal"), keras.layers.GRU)
    assert "group_conv" in {layer.name for layer in build_critic(RECIPE).layers}
    gan = MusicGAN(generator, build_critic(RECIPE), RECIPE)
    probabilities = gan.generate(3, seed=1)
    assert probabilities.shape == (3, *RECIPE.phrase_shape)
    melody = probabilities[..., 0].sum(axis=-1)  # the pitches' share of each step's softmax
    assert (melody <= 1 + 1e-5).all() and (melody > 0).all()
    notes = gt.harden(probabilities, RECIPE)
    assert notes.dtype == bool and notes[..., 0].sum(axis=-1).max() <= 1
    assert not (notes[..., 2:] & ~notes[..., :2]).any()  # an onset only where the cell sounds


def test_harden_takes_the_most_likely_pitch_or_a_rest():
    probabilities = np.zeros((1, 1, 3, 84, 4), dtype=np.float32)
    probabilities[0, 0, 0, 10, 0] = 0.4  # rest 0.6 - 0.1 below it: the rest wins
    probabilities[0, 0, 0, 11, 0] = 0.1
    probabilities[0, 0, 1, 10, 0] = 0.3  # rest 0.3 - 0.3 + 0.4: pitch 12 wins
    probabilities[0, 0, 1, 12, 0] = 0.4
    probabilities[0, 0, :, 5, 1] = 0.9  # chords: a sigmoid cell
    probabilities[0, 0, :, 5, 3] = [0.9, 0.1, 0.9]  # its onsets
    probabilities[0, 0, :, 12, 2] = 0.9
    notes = gt.harden(probabilities, RECIPE)
    assert not notes[0, 0, 0, :, 0].any()
    assert np.flatnonzero(notes[0, 0, 1, :, 0]).tolist() == [12]
    assert notes[0, 0, :, 5, 1].all() and notes[0, 0, :, 5, 3].tolist() == [True, False, True]
    assert np.flatnonzero(notes[0, 0, :, 12, 2]).tolist() == [1]  # onsets of silent cells are dropped
    drawn = [gt.harden(probabilities, RECIPE, bernoulli=True, seed=s)[..., 0].sum(axis=-1).max() for s in range(5)]
    assert max(drawn) <= 1
    same = gt.harden(probabilities, RECIPE, bernoulli=True, seed=3)
    np.testing.assert_array_equal(same, gt.harden(probabilities, RECIPE, bernoulli=True, seed=3))


def test_the_critic_sees_binary_notes_and_the_generator_still_gets_gradients():
    tf = pytest.importorskip("tensorflow")
    gan = MusicGAN.from_config_object(RECIPE)
    z, z_bars = gan.sample_latents(2, seed=0)
    with tf.GradientTape() as tape:
        shown = gan._as_critic_input(gan.generator([z, z_bars], training=True))
        score = keras.ops.mean(gan.critic(shown))
    values = np.unique(keras.ops.convert_to_numpy(shown))
    assert set(values.tolist()) <= {0.0, 1.0}
    grads = tape.gradient(score, gan.generator.trainable_variables)
    assert all(g is not None for g in grads)
    assert sum(float(np.abs(keras.ops.convert_to_numpy(g)).sum()) for g in grads) > 0


def test_the_weight_average_follows_the_generator_and_is_what_generates():
    gan = MusicGAN.from_config_object(RECIPE)
    gan.compile()
    before = [w.copy() for w in gan.generator.get_weights()]
    gan.train_step(keras.ops.convert_to_tensor(toy_phrases_with_onsets(RECIPE.phrases_per_step), "float32"))
    after = gan.generator.get_weights()
    for average, old, new in zip(gan.ema_generator.get_weights(), before, after):
        np.testing.assert_allclose(average, 0.9 * old + 0.1 * new, rtol=1e-5, atol=1e-6)
    assert gan.sampler is gan.ema_generator
    assert any(not np.allclose(a, b) for a, b in zip(before, after))


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gan_recipe_run")
    return out, gt.train(RECIPE, toy_phrases_with_onsets(), out_dir=out, verbose=0)


def test_the_recipe_resumes_exactly_with_its_weight_average(recipe_run, tmp_path):
    _, whole = recipe_run
    with pytest.raises(_Interrupt):
        gt.train(RECIPE, toy_phrases_with_onsets(), out_dir=tmp_path, verbose=0, callbacks=[_StopAtEpoch(1)])
    resumed = gt.train(RECIPE, toy_phrases_with_onsets(), out_dir=tmp_path, verbose=0)
    assert resumed.history["session"] == [0, 1]
    for a, b in zip(resumed.gan.ema_generator.get_weights(), whole.gan.ema_generator.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_recipe_bundle_saves_the_average_and_decodes_onsets(recipe_run, tmp_path):
    _, result = recipe_run
    path = gt.save_bundle(tmp_path / "bundle", gan=result.gan, encoding=PianoRollEncoding(),
                          data_info={"dataset": "toy", "data_hash": "x"})
    bundle = gt.load_bundle(path)
    for a, b in zip(bundle.generator.get_weights(), result.gan.ema_generator.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(bundle.generate(2, seed=4), result.gan.generate(2, seed=4), atol=1e-6)
    tunes = gt.generate_tunes(bundle, n=2, seed=4, phrases_per_piece=2)
    notes = gt.harden(bundle.generate(4, seed=4), bundle.config)
    for tune, pair in zip(tunes, notes.reshape(2, 2, *notes.shape[1:])):
        roll = pair.reshape(-1, 84, 4)
        again = PianoRollEncoding().encode(tune, onsets=True, n_steps=len(roll))
        np.testing.assert_array_equal(again[..., :2], roll[..., :2])  # the sounding cells survive
        sounding = roll[..., :2]
        before = np.concatenate([np.zeros_like(sounding[:1]), sounding[:-1]])
        # a note starts where a cell begins to sound or where the generator wrote an onset
        np.testing.assert_array_equal(again[..., 2:], sounding & (~before | roll[..., 2:]))


# ----------------------------------------------------------------------------- generation-only and reference bundles


def test_a_generation_only_reference_loads_by_name_and_generates(recipe_run, tmp_path):
    from musiclib.lm.bundle import BundleError
    from musiclib.lm.reference import load_reference as load_token_reference

    _, result = recipe_run
    split = tmp_path / "split.json"
    split.write_text('{"format": "musiclib-split-v1", "train": [], "valid": [], "test": []}')
    full = gt.save_bundle(tmp_path / "full", gan=result.gan, encoding=PianoRollEncoding(),
                          data_info={"dataset": "toy", "data_hash": "abc"}, split_path=split)
    root = tmp_path / "reference"
    folder = gt.export_reference(full, "toy-gan", command="benchmarks/gan_recipe.py --export toy-gan", root=root)
    assert not (folder / gt.CRITIC_FILE).exists() and (folder / gt.SPLIT_FILE).is_file()
    with zipfile.ZipFile(folder / gt.GENERATOR_FILE) as archive:
        assert all(m.compress_type == zipfile.ZIP_DEFLATED for m in archive.infolist())
    bundle = gt.load_reference("toy-gan", root=root)
    assert bundle.critic is None and bundle.split_path == folder / gt.SPLIT_FILE
    np.testing.assert_allclose(bundle.generate(2, seed=5), result.gan.generate(2, seed=5), atol=1e-6)
    with pytest.raises(gt.GANBundleError, match="generation-only"):
        bundle.gan  # noqa: B018 - cannot train without a critic
    with pytest.raises(BundleError, match="ml.gan.load_reference"):
        load_token_reference("toy-gan", root=root)
    record = json.loads((folder / "reference.json").read_text())
    (folder / "reference.json").write_text(json.dumps({**record, "data_hash": "other"}))
    with pytest.raises(gt.GANBundleError, match="other training data"):
        gt.load_reference("toy-gan", root=root)


def test_musiclib_generate_takes_a_gan_bundle(recipe_run, tmp_path):
    from musiclib import cli

    _, result = recipe_run
    generator = keras.models.clone_model(result.gan.sampler)
    generator.set_weights(result.gan.sampler.get_weights())
    rest = generator.get_layer("melody_rest")
    rest.set_weights([rest.get_weights()[0], np.full_like(rest.get_weights()[1], -20.0)])  # a melody always sounds
    path = gt.save_bundle(tmp_path / "bundle", generator=generator, critic=result.gan.critic, config=RECIPE,
                          encoding=PianoRollEncoding(), data_info={"dataset": "toy", "data_hash": "abc"})
    out = tmp_path / "midi"
    assert cli.main(["generate", "--bundle", str(path), "-n", "3", "--bars", "6", "--out", str(out)]) == 0
    files = sorted(out.glob("*.mid"))
    assert [f.name for f in files] == ["gan_s0_000.mid", "gan_s0_001.mid", "gan_s0_002.mid"]
    for file in files:  # two 4-bar phrases, cut to 6 bars of 4 quarters
        ends = [float((t.notes["start"] + t.notes["duration"]).max()) for t in read_midi(file).tracks if len(t.notes)]
        assert 20 < max(ends) <= 24
    assert cli.main(["generate", "--bundle", str(path), "--primer", str(files[0]), "--out", str(out)]) == 2


def test_the_critic_interval_view_reads_pitch_differences_of_the_melody():
    config = RECIPE.replace(critic_intervals=True)
    critic = build_critic(config)
    view = keras.Model(critic.inputs, critic.get_layer("melody_intervals").output)
    phrase = np.zeros((1, *config.phrase_shape), dtype=np.float32)
    pitches = [40, 40, 43, 47, 45, 40, 52, 50] * 8  # one melody note per step, 64 steps
    for step, pitch in enumerate(pitches):
        phrase[0, step // 16, step % 16, pitch, 0] = 1.0
    phrase[..., 1] = 1.0  # chords everywhere: the view must ignore them
    out = keras.ops.convert_to_numpy(view(phrase))[0]  # (time, readouts * (1 + lags))
    kernel = critic.get_layer("melody_height").get_weights()[0]  # (pitches, readouts)
    height = kernel[pitches]
    readouts = kernel.shape[1]
    np.testing.assert_allclose(out[:, :readouts], height, atol=1e-5)
    for index, lag in enumerate((1, 2, 4, 8), start=1):
        earlier = np.concatenate([np.zeros((lag, readouts)), height[:-lag]])
        np.testing.assert_allclose(out[:, index * readouts : (index + 1) * readouts], height - earlier, atol=1e-5)


def test_grouped_steps_share_one_decision_and_onsets_keep_every_step():
    config = RECIPE.replace(melody_steps=2, accompaniment_steps=4)
    generator = build_generator(config)
    probabilities = MusicGAN(generator, build_critic(config), config).generate(4, seed=2)
    by_step = probabilities.reshape(4, -1, 84, 4)
    np.testing.assert_allclose(by_step[:, 0::2, :, 0], by_step[:, 1::2, :, 0], atol=1e-6)  # eighths
    beats = by_step[..., 1].reshape(4, -1, 4, 84)
    np.testing.assert_allclose(beats, np.repeat(beats[:, :, :1], 4, axis=2), atol=1e-6)  # beats
    assert not np.allclose(by_step[:, 0::2, :, 2], by_step[:, 1::2, :, 2])  # onsets: every sixteenth


# ----------------------------------------------------------------------------- conditions: meters and openings

METERS = config_for("tiny", epochs=2, meters=((4, 4), (6, 8)), opening_condition=True)


def _scale_tune(meter: tuple[int, int], n_bars: int, *, pickup: bool = False):
    """A two-track tune of ``n_bars`` bars in ``meter``: an eighth-note melody and a chord per bar.

    With ``pickup`` the first bar holds only its last beat (the melody starts late).
    """
    from musiclib.tune import TimeSignature, Track, Tune, make_notes

    bar = meter[0] * 4.0 / meter[1]
    starts = np.arange(0, n_bars * bar, 0.5)
    if pickup:
        starts = starts[starts >= bar - 1.0]
    melody = make_notes(starts, np.full(len(starts), 0.5), 60 + (np.arange(len(starts)) % 7))
    chord_starts = np.repeat(np.arange(n_bars) * bar, 3)
    chords = make_notes(chord_starts, np.full(len(chord_starts), bar), np.tile([48, 52, 55], n_bars))
    return Tune(tracks=(Track(melody, name="melody"), Track(chords, name="chords")),
                time_signatures=(TimeSignature(0.0, *meter),))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"meters": ()}, "meters"),
        ({"meters": ((4, 4), (4, 4))}, "twice"),
        ({"meters": ((4, 0),)}, "meters"),
        ({"meters": ((4, 4), (3, 4)), "meter_shares": (1.0,)}, "meter_shares"),
        ({"meters": ((4, 4), (3, 4)), "meter_shares": (-1.0, 2.0)}, "meter_shares"),
        ({"meters": ((4, 4), (3, 8)), "melody_steps": 4, "accompaniment_steps": 4}, "6 steps of a 3/8 bar"),
        ({"meters": ((4, 4), (5, 12))}, "whole number of steps"),
        ({"opening_condition": 1}, "opening_condition"),
    ],
)
def test_condition_options_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        config_for("tiny", **changes)


def test_a_conditional_config_round_trips_and_counts_its_conditions():
    assert METERS.meter_steps == (16, 12) and METERS.n_conditions == 3
    assert config_for("tiny", opening_condition=True).n_conditions == 1 and TINY.n_conditions == 0
    data = json.loads(json.dumps(METERS.replace(meter_shares=(3, 1)).to_dict()))
    again = GANConfig.from_dict(data)
    assert again == METERS.replace(meter_shares=(0.75 * 4, 0.25 * 4))
    assert again.meters == ((4, 4), (6, 8)) and again.to_dict() == data


def test_phrases_of_every_meter_are_padded_and_openings_marked():
    jig, reel = _scale_tune((6, 8), 6, pickup=True), _scale_tune((4, 4), 5)
    phrases, conditions, meter_index = gt.conditioned_phrases([jig, reel], METERS)
    encoding = PianoRollEncoding()
    jig_bars = encoding.bars(jig, bars_per_sample=4, meter=(6, 8))
    reel_bars = encoding.bars(reel, bars_per_sample=4)
    assert meter_index.tolist() == [1, 1, 1, 0, 0]  # 6 - 4 + 1 jig phrases, then 2 reel phrases
    np.testing.assert_array_equal(phrases[:3, :, :12], jig_bars)
    assert not phrases[:3, :, 12:].any()  # past a 6/8 bar: silence
    np.testing.assert_array_equal(phrases[3:], reel_bars)
    np.testing.assert_array_equal(conditions, [[0, 1, 1], [0, 1, 0], [0, 1, 0], [1, 0, 1], [1, 0, 0]])
    assert not phrases[0, 0, :8, :, 0].any() and phrases[0, 0, 8:12, :, 0].any()  # the melody's pick-up
    _, starts = encoding.bars(jig, bars_per_sample=4, meter=(6, 8), with_starts=True)
    assert starts.tolist() == [0, 1, 2]
    assert gt.tune_meter_shares([jig, reel, _scale_tune((3, 4), 4)], METERS) == (0.5, 0.5)


def test_a_conditional_gan_trains_masks_short_bars_and_needs_its_conditions(tmp_path):
    gan = MusicGAN.from_config_object(METERS)
    assert [tuple(t.shape) for t in gan.generator.inputs][-1] == (None, 3)
    assert [tuple(t.shape) for t in gan.critic.inputs][-1] == (None, 3)
    jig_conditions = gt.conditions_for(METERS, [1, 1], [True, False])
    jig = gan.generate(2, seed=1, conditions=jig_conditions)
    assert not jig[:, :, 12:].any() and jig[:, :, :12].any()
    reel = gan.generate(2, seed=1, conditions=gt.conditions_for(METERS, [0, 0], [True, False]))
    assert reel[:, :, 12:].any()
    with pytest.raises(ValueError, match="shape"):
        gan.generate(2, seed=1, conditions=jig_conditions[:, :2])
    with pytest.raises(ValueError, match="unconditional"):
        MusicGAN.from_config_object(TINY).generate(2, seed=1, conditions=jig_conditions)
    # a fake phrase is cut to its meter's bar before the critic sees it
    full = keras.ops.ones((2, *METERS.phrase_shape))
    seen = keras.ops.convert_to_numpy(gan._as_critic_input(full, keras.ops.convert_to_tensor(jig_conditions)))
    assert seen[:, :, :12].all() and not seen[:, :, 12:].any()
    phrases, conditions, _ = gt.conditioned_phrases([_scale_tune((6, 8), 12), _scale_tune((4, 4), 12)] * 4,
                                                    METERS.replace(hop_bars=1))
    gan.compile()
    n = METERS.phrases_per_step
    logs = gan.train_step((keras.ops.convert_to_tensor(phrases[:n].astype("float32")),
                           keras.ops.convert_to_tensor(conditions[:n])))
    assert all(np.isfinite(float(keras.ops.convert_to_numpy(v))) for v in logs.values())
    with pytest.raises(ValueError, match="conditional"):
        gt.train(METERS, phrases, out_dir=tmp_path / "no-conditions", verbose=0)
    with pytest.raises(ValueError, match="shape"):
        gt.train(METERS, phrases, conditions=conditions[:, :2], out_dir=tmp_path / "bad", verbose=0)


@pytest.fixture(scope="module")
def meters_run(tmp_path_factory):
    tunes = [_scale_tune((6, 8), 12, pickup=True), _scale_tune((4, 4), 12), _scale_tune((3, 4), 12)] * 4
    config = METERS.replace(hop_bars=1, meter_shares=(0.25, 0.75))
    phrases, conditions, _ = gt.conditioned_phrases(tunes, config)
    out = tmp_path_factory.mktemp("gan_meters_run")
    return config, phrases, conditions, gt.train(config, phrases, conditions=conditions, out_dir=out, verbose=0)


def test_a_conditional_run_resumes_exactly(meters_run, tmp_path):
    config, phrases, conditions, whole = meters_run
    with pytest.raises(_Interrupt):
        gt.train(config, phrases, conditions=conditions, out_dir=tmp_path, verbose=0, callbacks=[_StopAtEpoch(1)])
    resumed = gt.train(config, phrases, conditions=conditions, out_dir=tmp_path, verbose=0)
    assert resumed.history["session"] == [0, 1]
    for a, b in zip(resumed.gan.generator.get_weights(), whole.gan.generator.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_conditional_bundle_writes_pieces_in_the_drawn_meters(meters_run, tmp_path):
    config, _, _, result = meters_run
    path = gt.save_bundle(tmp_path / "bundle", gan=result.gan, encoding=PianoRollEncoding(),
                          data_info={"dataset": "toy", "data_hash": "x"})
    bundle = gt.load_bundle(path)
    assert bundle.config == config
    tunes = gt.generate_tunes(bundle, n=40, seed=2, phrases_per_piece=2)
    conditions, meter_index = gt.piece_conditions(config, 40, phrases_per_piece=2, seed=2)
    assert 0.5 < np.mean(meter_index == 1) < 0.95  # drawn by the shares (0.25, 0.75): mostly 6/8
    np.testing.assert_array_equal(conditions[::2, -1], 1)  # each piece's first phrase opens it
    np.testing.assert_array_equal(conditions[1::2, -1], 0)
    for tune, m in zip(tunes, meter_index):
        signature = tune.time_signatures[0]
        assert (signature.numerator, signature.denominator) == config.meters[m]
        bar = config.meter_steps[m] / 4
        assert tune.end <= 8 * bar + 1e-9  # two 4-bar phrases of that meter, nothing past the bars
    with pytest.raises(gt.GANBundleError, match="not one of the GANConfig's meters"):
        gt.save_bundle(tmp_path / "other", gan=result.gan, encoding=PianoRollEncoding(), meter=(2, 2),
                       data_info={"dataset": "toy", "data_hash": "x"})


def test_training_data_fills_the_meter_shares_and_subsets_phrases_with_their_conditions():
    tunes = [_scale_tune((6, 8), 8, pickup=True), _scale_tune((4, 4), 8), _scale_tune((4, 4), 6)]
    config, phrases, conditions = gt.training_data(tunes, METERS)
    assert config.meter_shares == (2 / 3, 1 / 3) and config.replace(meter_shares=()) == METERS
    again, subset, subset_conditions = gt.training_data(tunes, METERS, max_phrases=4, seed=1)
    assert len(subset) == 4 and again == config
    rows = [int(np.flatnonzero((phrases == one).all(axis=(1, 2, 3, 4)))[0]) for one in subset]
    np.testing.assert_array_equal(subset_conditions, conditions[rows])
    plain_config, plain, none = gt.training_data(tunes, TINY)
    assert none is None and plain_config == TINY
    np.testing.assert_array_equal(plain, gt.phrases_from_tunes(tunes, n_bars=4))


# ----------------------------------------------------------------------------- key of C


def _in_key(tune, sharps: int, mode: str = "major"):
    """``tune`` (written in C) moved to the key of ``sharps``, its key signature set."""
    import dataclasses

    from musiclib.tune import KeySignature

    shift = (sharps * 7) % 12
    shift = shift - 12 if shift > 6 else shift
    return dataclasses.replace(tune.transpose(shift), key_signatures=(KeySignature(0.0, sharps, mode),))


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"key_of_c": 1}, "key_of_c"), ({"key_shift_shares": (1.0,) * 12}, "needs key_of_c"),
     ({"key_of_c": True, "key_shift_shares": (1.0, 2.0)}, "key_shift_shares"),
     ({"key_of_c": True, "key_shift_shares": (0.0,) * 12}, "not all zero")],
)
def test_key_options_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        config_for("tiny", **changes)


def test_key_of_c_trains_on_tunes_moved_to_c_and_records_the_tunes_keys():
    from musiclib.encoding import transpose_to_c

    tunes = [_in_key(_scale_tune((4, 4), 8), 1), _in_key(_scale_tune((4, 4), 8), 2), _in_key(_scale_tune((4, 4), 6), 1)]
    keyed = TINY.replace(key_of_c=True)
    config, phrases, _ = gt.training_data(tunes, keyed)
    # G major (1 sharp) sits 5 semitones down from C (-semitones_to_c: -5), D major (2 sharps) 2 up
    shares = dict(zip(gt.KEY_SHIFTS, config.key_shift_shares))
    assert shares[-5] == pytest.approx(2 / 3) and shares[2] == pytest.approx(1 / 3) and sum(shares.values()) == 1
    np.testing.assert_array_equal(phrases, gt.phrases_from_tunes([transpose_to_c(t) for t in tunes], n_bars=4))
    assert not np.array_equal(phrases, gt.phrases_from_tunes(tunes, n_bars=4))
    assert gt.training_data(tunes, config)[0] == config  # shares already set are kept
    json_again = GANConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert json_again == config


def test_key_of_c_moves_each_generated_piece_by_a_drawn_shift(trained, tmp_path):
    _, result = trained
    plain = gt.save_bundle(tmp_path / "plain", gan=result.gan, encoding=PianoRollEncoding(),
                           data_info={"dataset": "toy", "data_hash": "x"})
    shares = tuple(1.0 if shift in (-5, 2) else 0.0 for shift in gt.KEY_SHIFTS)
    keyed_config = TINY.replace(key_of_c=True, key_shift_shares=shares)
    keyed_gan = MusicGAN.from_config_object(keyed_config)
    keyed_gan.generator.set_weights(result.gan.generator.get_weights())
    keyed = gt.save_bundle(tmp_path / "keyed", gan=keyed_gan, encoding=PianoRollEncoding(),
                           data_info={"dataset": "toy", "data_hash": "x"})
    shifts = gt.sample_key_shifts(keyed_config, 30, seed=4)
    assert set(shifts.tolist()) == {-5, 2}  # only the shifts with a share, both drawn in 30
    np.testing.assert_array_equal(shifts, gt.sample_key_shifts(keyed_config, 30, seed=4))
    assert not gt.sample_key_shifts(TINY, 30, seed=4).any()
    for before, after, shift in zip(gt.generate_tunes(plain, n=30, seed=4), gt.generate_tunes(keyed, n=30, seed=4),
                                    shifts):
        for a, b in zip(before.tracks, after.tracks):
            np.testing.assert_array_equal(a.notes["pitch"] + shift, b.notes["pitch"])
