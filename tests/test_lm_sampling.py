"""Generation (sampling, MIDI, primers) and model bundles (save, load, mismatch checks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from musiclib._files import read_json, write_json
from musiclib.encoding import Vocabulary, count_bars, get_encoding
from musiclib.encoding.grammar import EventGrammar
from musiclib.lm.bundle import REQUIRED_FILES, BundleError, load_bundle, save_bundle
from musiclib.lm.lstm import build_lstm, config_for
from musiclib.lm.ngram import NGramModel
from musiclib.lm.sampling import (
    MAX_TOKENS_PER_BAR,
    STEP_SEMITONES,
    BarCopy,
    GenerationResult,
    LeapPenalty,
    ModelParts,
    _bar_copy,
    generate_midi,
    next_token,
    primer_from_tune,
    sample_many,
    sample_tokens,
)
from musiclib.lm.training import train
from musiclib.tune import TimeSignature, Track, Tune, make_notes
from support import EVIL_MODULE, custom_object_model_file, lambda_model_file, link_outside

REPO = Path(__file__).resolve().parents[1]
DATA_INFO = {"data_hash": "0123abcd", "dataset": "toy"}


def toy_tune(seed: int, n_bars: int = 4) -> Tune:
    """A one-track 4/4 tune of eighth notes walking up and down a scale."""
    rng = np.random.default_rng(seed)
    n = 8 * n_bars
    steps = np.cumsum(rng.choice([-2, -1, 1, 2], size=n))
    pitches = 60 + np.clip(steps, -12, 12)
    notes = make_notes(np.arange(n) * 0.5, np.full(n, 0.5), pitches)
    return Tune(tracks=(Track(notes, name="melody"),), time_signatures=(TimeSignature(0.0, 4, 4),))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny LSTM trained for a few epochs on toy tunes in the event encoding."""
    encoding = get_encoding("events")
    vocab = encoding.vocabulary()
    tunes = [vocab.encode(encoding.encode(toy_tune(seed))) for seed in range(40)]
    config = config_for(
        "tiny", len(vocab), lstm_units=(48,), sequence_length=32, batch_size=4, epochs=8, learning_rate=1e-2
    )
    model = build_lstm(config)
    history = train(model, config, tunes[:34], tunes[34:], out_dir=tmp_path_factory.mktemp("run"), verbose=0)
    return ModelParts(model=model, vocab=vocab, config=config, encoding=encoding), history


@pytest.fixture(scope="module")
def bundle_dir(trained, tmp_path_factory):
    parts, history = trained
    split = tmp_path_factory.mktemp("split") / "split.json"
    write_json(split, {"train": ["a"], "valid": ["b"], "test": ["c"]})
    path = tmp_path_factory.mktemp("bundles") / "tiny"
    save_bundle(
        path,
        model=parts.model,
        config=parts.config,
        vocab=parts.vocab,
        encoding_config=parts.encoding,
        data_info=DATA_INFO,
        split_path=split,
        metrics={"test_nll": 1.5},
        history=history,
    )
    return path


# ----------------------------------------------------------------------------- sampling


def test_same_seed_same_tokens_and_sampling_options(trained):
    parts, _ = trained
    one = sample_tokens(parts, max_tokens=60, seed=3)
    assert one[0] == "BOS" and len(one) <= 61
    assert one == sample_tokens(parts, max_tokens=60, seed=3)
    assert one != sample_tokens(parts, max_tokens=60, seed=4)
    greedy = sample_tokens(parts, max_tokens=40, greedy=True, seed=1)
    assert greedy == sample_tokens(parts, max_tokens=40, greedy=True, seed=2)
    assert sample_tokens(parts, max_tokens=40, top_k=1, seed=7) == greedy
    assert not {"PAD", "UNK"} & set(one) and "BOS" not in one[1:]
    # the trained model has learnt the grammar's start: BOS Meter_4/4 Bar
    assert greedy[1:3] == ["Meter_4/4", "Bar"]


def test_primer_is_kept_and_n_bars_limits_new_bars(trained):
    parts, _ = trained
    primer = primer_from_tune(parts.encoding, toy_tune(100), n_bars=2)
    tokens = sample_tokens(parts, primer=primer, n_bars=2, max_tokens=400, seed=0)
    assert tokens[: len(primer)] == primer
    assert count_bars(tokens[len(primer) :]) <= 2


class FixedModel:
    """A 'model' that always predicts the same token (for exact stopping rules)."""

    def __init__(self, vocab: Vocabulary, token: str) -> None:
        self.probs = np.zeros(len(vocab))
        self.probs[vocab.id(token)] = 1.0

    def distribution(self, context):
        return self.probs


def test_stopping_rules_are_exact():
    vocab = get_encoding("events").vocabulary()
    bars = sample_tokens(ModelParts(FixedModel(vocab, "Bar"), vocab), n_bars=3, seed=0)
    assert bars == ["BOS", "Bar", "Bar", "Bar"]  # stops before a 4th bar would open
    ends = sample_tokens(ModelParts(FixedModel(vocab, "EOS"), vocab), max_tokens=10, seed=0)
    assert ends == ["BOS", "EOS"]
    capped = sample_tokens(ModelParts(FixedModel(vocab, "Pos_0"), vocab), max_tokens=5, n_bars=2, seed=0)
    assert capped == ["BOS"] + ["Pos_0"] * 5
    # a model that never opens a bar still stops
    endless = sample_tokens(ModelParts(FixedModel(vocab, "Pos_0"), vocab), n_bars=1, seed=0)
    assert len(endless) == 1 + MAX_TOKENS_PER_BAR


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"max_tokens": 10, "temperature": 0}, "temperature"),
        ({"max_tokens": 10, "temperature": -1.0}, "temperature"),
        ({"max_tokens": 10, "top_k": 0}, "top_k"),
        ({"max_tokens": 10, "top_p": 0.0}, "top_p"),
        ({"max_tokens": 10, "top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"n_bars": -2}, "n_bars"),
        ({}, "max_tokens or n_bars"),
        ({"max_tokens": 10, "seed": -1}, "seed"),
        ({"max_tokens": 10, "primer": ["BOS", "Pitch_999"]}, "primer"),
        ({"max_tokens": 10, "primer": []}, "primer"),
    ],
)
def test_bad_sampling_parameters_are_named(trained, options, name):
    parts, _ = trained
    with pytest.raises(ValueError, match=name):
        sample_tokens(parts, **options)


def test_next_token_follows_temperature_top_k_and_top_p():
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    logits = np.log(probs)
    rng = np.random.default_rng(0)
    draws = 8_000  # frequency standard errors below 0.006

    def frequencies(**options):
        picks = [next_token(logits, rng, **options) for _ in range(draws)]
        return np.bincount(picks, minlength=probs.size) / draws

    np.testing.assert_allclose(frequencies(), probs, atol=0.025)
    np.testing.assert_allclose(frequencies(top_k=2), [0.625, 0.375, 0, 0], atol=0.025)
    np.testing.assert_allclose(frequencies(top_p=0.6), [0.625, 0.375, 0, 0], atol=0.025)
    assert frequencies(top_p=0.5)[0] == 1.0
    hot = probs**0.5 / (probs**0.5).sum()
    np.testing.assert_allclose(frequencies(temperature=2.0), hot, atol=0.025)
    assert next_token(logits, rng, greedy=True) == 0


def test_ngram_baselines_generate_through_the_same_function(trained):
    parts, _ = trained
    encoding, vocab = parts.encoding, parts.vocab
    tunes = [vocab.encode(encoding.encode(toy_tune(seed))) for seed in range(20)]
    ngram = NGramModel(4).fit(tunes, vocab_size=len(vocab))
    tokens = sample_tokens(ModelParts(ngram, vocab), max_tokens=200, seed=1)
    assert tokens == sample_tokens(ModelParts(ngram, vocab), max_tokens=200, seed=1)
    assert tokens[1:3] == ["Meter_4/4", "Bar"]  # every training tune starts so
    assert encoding.decode(tokens).tune.tracks[0].notes.size > 0


def test_numpy_step_computes_what_the_keras_step_model_computes(trained):
    from musiclib.lm.lstm import build_step_model
    from musiclib.lm.sampling import _NumpyStep

    parts, _ = trained
    assert _NumpyStep.supports(parts.model, parts.config)
    fast = _NumpyStep(parts.model, parts.config)
    keras_step = build_step_model(parts.model, parts.config)
    rng = np.random.default_rng(0)
    states = [rng.normal(size=s.shape).astype(np.float32) for s in fast.initial_states(5)]
    tokens = rng.integers(0, len(parts.vocab), size=(5, 1)).astype(np.int32)
    for _ in range(3):  # a few steps, feeding each output state back
        logits, new_states = fast(tokens, states)
        expected = keras_step.predict_on_batch([tokens, *states])
        np.testing.assert_allclose(logits, expected[0], rtol=1e-4, atol=1e-5)
        for got, want in zip(new_states, expected[1:]):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        states, tokens = new_states, logits.argmax(axis=1).reshape(-1, 1).astype(np.int32)


def test_sample_many_gives_each_seed_the_sequence_sample_tokens_gives(trained):
    parts, _ = trained
    primers = [["BOS"], ["BOS", "Meter_4/4", "Bar"], ["BOS", "Meter_4/4"]]
    seeds = [0, 1, 2, 3, 4, 5, 6]
    options = dict(n_bars=3, temperature=1.3, top_p=0.9)
    expected = [sample_tokens(parts, primer=primers[i % 3], seed=seed, **options) for i, seed in enumerate(seeds)]
    batched = sample_many(parts, seeds=seeds, primers=[primers[i % 3] for i in range(len(seeds))], batch_size=3,
                          **options)
    assert batched == expected
    assert len({tuple(tokens) for tokens in batched}) > 1  # different seeds, different pieces
    # rows stop independently: max_tokens and EOS, one primer for all
    short = sample_many(parts, seeds=[8, 9], max_tokens=5)
    assert short == [sample_tokens(parts, seed=s, max_tokens=5) for s in (8, 9)]


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(seeds=[]), "seeds"),
        (dict(seeds=[0, 1], primers=[["BOS"]] * 3), "one primer or one per seed"),
        (dict(seeds=[0], primers=[["Nope"]]), "not in the vocabulary"),
        (dict(seeds=[0], batch_size=0), "batch_size"),
        (dict(seeds=[-1]), "seed"),
    ],
)
def test_sample_many_rejects_bad_arguments(trained, options, message):
    parts, _ = trained
    with pytest.raises(ValueError, match=message):
        sample_many(parts, n_bars=2, **options)


def test_bar_copy_offers_the_next_token_of_the_bar_lag_bars_back_while_the_open_bar_matches_it():
    bar = 9
    copy = BarCopy((2, 1), 0.5, bar)
    assert copy.candidate() is None  # before the first bar: nothing to copy
    for token in (1, bar, 3, 4, bar, 5, 6, bar):
        copy.feed(token)
    assert copy.bars == [[3, 4], [5, 6]] and copy.current == []
    assert copy.candidate() == 3  # two bars back first
    copy.feed(3)
    assert copy.candidate() == 4
    copy.feed(4)
    assert copy.candidate() == bar  # the copied bar is complete: close this one
    copy.feed(bar)
    copy.feed(7)  # differs from two bars back ([5, 6]) and from one bar back ([3, 4])
    assert copy.candidate() is None
    copy = BarCopy((2, 1), 0.5, bar)
    for token in (bar, 3, 4, bar, 8):  # bar 2 has no bar 2 back; one back it already differs
        copy.feed(token)
    assert copy.candidate() is None
    logits = np.zeros(10)
    logits[3] = -np.inf
    copy = BarCopy((1,), 0.99, bar)
    for token in (bar, 3, bar):
        copy.feed(token)
    assert copy.draw(logits, np.random.default_rng(0)) is None  # what the grammar forbids is never copied


def test_bar_copy_never_copies_a_pickup_bar():
    bar, downbeat, later = 9, 0, 5  # later: an onset after the bar line
    copy = BarCopy((2, 1), 0.5, bar, downbeat_id=downbeat)
    for token in (bar, later, 6, bar):  # the first bar is a pickup: a rest, then a note
        copy.feed(token)
    assert copy.bars == [None] and copy.candidate() is None  # one bar back is the pickup: nothing to copy
    for token in (downbeat, 7, bar):
        copy.feed(token)
    assert copy.candidate() == downbeat  # the first full bar is a source (one bar back; two back is the pickup)
    for token in (later, 8, bar):  # a later bar that opens with a rest is a source like any other
        copy.feed(token)
    assert copy.bars == [None, [downbeat, 7], [later, 8]]  # recorded, not None
    full = BarCopy((1,), 0.5, bar, downbeat_id=downbeat)
    for token in (bar, downbeat, 6, bar):
        full.feed(token)
    assert full.candidate() == downbeat  # a first bar on the bar line is a source
    unknown = BarCopy((1,), 0.5, bar)  # no downbeat token known: every bar is a source
    for token in (bar, later, 6, bar):
        unknown.feed(token)
    assert unknown.candidate() == later


def test_sampling_tells_the_copy_prior_the_event_encodings_downbeat(trained):
    parts, _ = trained
    copy = _bar_copy((4,), 0.5, parts.vocab, "Bar")
    assert copy.downbeat_id == parts.vocab.id("Pos_0") and copy.bar_id == parts.vocab.id("Bar")


def test_copy_prior_repeats_bars_keeps_the_grammar_and_is_off_by_default(trained):
    parts, _ = trained
    options = dict(n_bars=8, temperature=1.5, top_p=0.95)
    plain = sample_many(parts, seeds=range(12), **options)
    assert plain == sample_many(parts, seeds=range(12), copy_lags=(4,), copy_weight=0.0, **options)
    copied = sample_many(parts, seeds=range(12), copy_lags=(4,), copy_weight=0.99, **options)
    assert copied == [sample_tokens(parts, seed=s, copy_lags=(4,), copy_weight=0.99, **options) for s in range(12)]

    def repeated_share(sequences):  # bars from the fifth on that open as the bar four back did
        shares = []
        for tokens in sequences:
            bars = [bar.split()[:4] for bar in " ".join(tokens).split(" Bar")[1:]]  # from the first Bar on
            shares += [bars[i] == bars[i - 4] for i in range(4, len(bars))]
        return float(np.mean(shares))

    assert repeated_share(copied) > repeated_share(plain) + 0.3
    grammar = EventGrammar(parts.encoding, parts.vocab)
    for tokens in copied:  # every copied token is one the grammar allowed there
        state = grammar.start()
        for token_id in parts.vocab.encode(tokens):
            state.feed(token_id)
        assert state.repaired == 0


@pytest.mark.parametrize("options, message", [
    (dict(copy_weight=1.0, copy_lags=(4,)), "copy_weight"), (dict(copy_weight=-0.1, copy_lags=(4,)), "copy_weight"),
    (dict(copy_weight=0.5), "needs copy_lags"), (dict(copy_weight=0.5, copy_lags=(0,)), "copy_lags"),
    (dict(copy_weight=0.5, copy_lags=(True,)), "copy_lags")])
def test_bad_copy_options_are_named(trained, options, message):
    parts, _ = trained
    with pytest.raises(ValueError, match=message):
        sample_tokens(parts, n_bars=2, **options)
    with pytest.raises(ValueError, match=message):
        sample_many(parts, seeds=[0], n_bars=2, **options)


def _fed(grammar, vocab, tokens):
    state = grammar.start()
    for token_id in vocab.encode(tokens):
        state.feed(token_id)
    assert state.repaired == 0
    return state


def test_leap_penalty_charges_each_semitone_beyond_a_whole_tone_of_a_melody_pitch_only():
    encoding = get_encoding("events", n_tracks=2)
    vocab = encoding.vocabulary()
    grammar = EventGrammar(encoding, vocab, monophonic=(0,))
    leap = LeapPenalty(0.5, grammar)
    opening = ["BOS", "Meter_4/4", "Bar", "Pos_0", "Track_0", "Pitch_60", "Dur_12", "Track_1", "Pitch_48",
               "Dur_24", "Pos_12", "Track_0"]
    state = grammar.start()
    for token_id in vocab.encode(opening):
        state.feed(token_id)
        leap.feed(token_id, state)
    assert state.awaiting_pitch and leap.previous == {0: 60}  # the chord track's 48 is not the melody's
    logits = leap.apply(np.zeros(len(vocab)), state)
    cost = {pitch: -logits[vocab.id(f"Pitch_{pitch}")] for pitch in (58, 60, 62, 63, 67, 72, 48)}
    assert cost == {58: 0.0, 60: 0.0, 62: 0.0, 63: 0.5, 67: 2.5, 72: 5.0, 48: 5.0}
    assert STEP_SEMITONES == 2
    assert not np.any(logits[~grammar.is_pitch])  # only pitches are charged
    chord = _fed(grammar, vocab, opening[:-1] + ["Track_1"])  # a chord-track pitch is never charged
    assert not np.any(leap.apply(np.zeros(len(vocab)), chord))
    first = LeapPenalty(0.5, grammar)  # the melody's first note has nothing to leap from
    assert not np.any(first.apply(np.zeros(len(vocab)), _fed(grammar, vocab, opening[:5])))


def test_leap_penalty_narrows_the_melodys_intervals_keeps_the_grammar_and_is_off_by_default(trained):
    parts, _ = trained
    parts = parts._replace(monophonic=(0,))
    options = dict(n_bars=8, temperature=2.0)
    plain = sample_many(parts, seeds=range(12), **options)
    assert plain == sample_many(parts, seeds=range(12), leap_penalty=0.0, **options)
    narrow = sample_many(parts, seeds=range(12), leap_penalty=1.0, **options)
    assert narrow == [sample_tokens(parts, seed=s, leap_penalty=1.0, **options) for s in range(12)]

    def mean_leap(sequences):
        intervals = []
        for tokens in sequences:
            pitches = [int(t.split("_")[1]) for t in tokens if t.startswith("Pitch_")]
            intervals += list(np.abs(np.diff(pitches)))
        return float(np.mean(intervals))

    assert mean_leap(narrow) < mean_leap(plain) - 1.0
    # no monophonic track (piano music): nothing to keep smooth, the model alone
    piano = parts._replace(monophonic=())
    assert sample_many(piano, seeds=range(12), leap_penalty=1.0, **options) == sample_many(piano, seeds=range(12),
                                                                                            **options)
    grammar = EventGrammar(parts.encoding, parts.vocab, monophonic=(0,))
    for tokens in narrow:
        _fed(grammar, parts.vocab, tokens)


@pytest.mark.parametrize("options, message", [
    (dict(leap_penalty=-0.1), "leap_penalty"), (dict(leap_penalty=float("inf")), "leap_penalty"),
    (dict(leap_penalty=True), "leap_penalty"), (dict(leap_penalty=0.5, constrained=False), "grammar")])
def test_bad_leap_options_are_named(trained, options, message):
    parts, _ = trained
    parts = parts._replace(monophonic=(0,))
    with pytest.raises(ValueError, match=message):
        sample_tokens(parts, n_bars=2, **options)
    with pytest.raises(ValueError, match=message):
        sample_many(parts, seeds=[0], n_bars=2, **options)


def test_sample_many_refuses_ngram_models(trained):
    parts, _ = trained
    ngram = NGramModel(order=2).fit([[1, 2, 3, 2]], vocab_size=len(parts.vocab))
    with pytest.raises(TypeError, match="sample_tokens"):
        sample_many(ModelParts(ngram, parts.vocab), seeds=[0], n_bars=1)


def test_primer_from_tune_cuts_before_the_next_bar():
    encoding = get_encoding("events")
    tune = toy_tune(5, n_bars=4)
    tokens = encoding.encode(tune)
    primer = primer_from_tune(encoding, tune, n_bars=2)
    assert count_bars(primer) == 2 and tokens[len(primer)] == "Bar"
    assert primer == tokens[: len(primer)]
    assert primer_from_tune(encoding, tune, n_bars=0) == ["BOS", "Meter_4/4"]
    assert primer_from_tune(encoding, tune, n_bars=10) == tokens[:-1]  # whole tune, no EOS
    with pytest.raises(ValueError, match="n_bars"):
        primer_from_tune(encoding, tune, n_bars=-1)


# ----------------------------------------------------------------------------- MIDI


def test_generate_midi_is_byte_identical_for_a_seed(trained, tmp_path):
    parts, _ = trained
    a = generate_midi(parts, tmp_path / "a.mid", max_tokens=150, seed=11, temperature=0.9)
    b = generate_midi(parts, tmp_path / "b.mid", max_tokens=150, seed=11, temperature=0.9)
    generate_midi(parts, tmp_path / "c.mid", max_tokens=150, seed=12, temperature=0.9)
    assert isinstance(a, GenerationResult) and a.path == tmp_path / "a.mid"
    assert a.tokens == b.tokens and isinstance(a.dropped, int) and a.dropped >= 0
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
    assert (tmp_path / "a.mid").read_bytes() != (tmp_path / "c.mid").read_bytes()
    assert sum(track.notes.size for track in a.tune.tracks) > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


# ----------------------------------------------------------------------------- bundles


def test_bundle_round_trip(trained, bundle_dir):
    parts, history = trained
    assert sorted(p.name for p in bundle_dir.iterdir()) == sorted([*REQUIRED_FILES, "split.json"])
    bundle = load_bundle(bundle_dir)
    assert bundle.config == parts.config and bundle.vocab == parts.vocab
    assert bundle.encoding == parts.encoding
    assert bundle.data_info == DATA_INFO and bundle.metrics == {"test_nll": 1.5}
    assert bundle.history == history and bundle.split_path == bundle_dir / "split.json"
    config = read_json(bundle_dir / "config.json")
    assert config["vocab_fingerprint"] == parts.vocab.fingerprint and config["vocab_size"] == len(parts.vocab)
    x = np.arange(1, 30, dtype=np.int32)[None]
    np.testing.assert_allclose(bundle.model.predict_on_batch(x), parts.model.predict_on_batch(x), atol=1e-6)
    assert sample_tokens(bundle, max_tokens=50, seed=2) == sample_tokens(parts, max_tokens=50, seed=2)


GENERATE_SCRIPT = textwrap.dedent(
    """
    import sys
    from musiclib.lm.bundle import load_bundle
    from musiclib.lm.sampling import generate_midi
    bundle = load_bundle(sys.argv[1])
    result = generate_midi(bundle, sys.argv[2], max_tokens=120, seed=5, top_p=0.95)
    print(len(result.tokens), result.dropped)
    """
)


def test_bundle_saved_here_loads_and_generates_in_another_process(bundle_dir, tmp_path):
    script = tmp_path / "gen.py"
    script.write_text(GENERATE_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, str(script), str(bundle_dir), str(tmp_path / "there.mid")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    here = generate_midi(load_bundle(bundle_dir), tmp_path / "here.mid", max_tokens=120, seed=5, top_p=0.95)
    assert done.stdout.split() == [str(len(here.tokens)), str(here.dropped)]
    assert (tmp_path / "there.mid").read_bytes() == (tmp_path / "here.mid").read_bytes()


@pytest.fixture()
def bundle_copy(bundle_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bundle_dir, copy)
    return copy


@pytest.mark.parametrize("name", ["model.keras", "vocab.json", "config.json", "data.json", "metrics.json"])
def test_missing_file_is_named(bundle_copy, name):
    (bundle_copy / name).unlink()
    with pytest.raises(BundleError, match=f"missing {name}"):
        load_bundle(bundle_copy)


def test_vocabulary_fingerprint_mismatch(bundle_copy):
    tokens = list(Vocabulary.load(bundle_copy / "vocab.json").tokens)
    tokens[10], tokens[11] = tokens[11], tokens[10]  # same size, other ids
    Vocabulary(tokens).save(bundle_copy / "vocab.json")
    with pytest.raises(BundleError, match="not the vocabulary this model was trained with"):
        load_bundle(bundle_copy)


def test_vocabulary_size_mismatch(bundle_copy):
    vocab = Vocabulary.load(bundle_copy / "vocab.json")
    bigger = Vocabulary([*vocab.tokens, "Extra_1", "Extra_2"])
    bigger.save(bundle_copy / "vocab.json")
    config = read_json(bundle_copy / "config.json")
    write_json(bundle_copy / "config.json", {**config, "vocab_fingerprint": bigger.fingerprint, "vocab_size": len(bigger)})
    expected = f"vocab.json has {len(bigger)} tokens but the model predicts {len(vocab)}"
    with pytest.raises(BundleError, match=expected):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    "encoding, message",
    [
        ({"name": "events", "n_tracks": 0}, "n_tracks"),
        ({"name": "midi-like"}, "unknown encoding 'midi-like'"),
        ("events", "must be a mapping with a 'name' key"),
    ],
    ids=["bad-option", "unknown-name", "not-a-mapping"],
)
def test_bad_encoding_config(bundle_copy, encoding, message):
    config = read_json(bundle_copy / "config.json")
    write_json(bundle_copy / "config.json", {**config, "encoding": encoding})
    with pytest.raises(BundleError, match=rf"config\.json: the encoding config does not parse: .*{message}"):
        load_bundle(bundle_copy)


def test_save_bundle_replaces_only_complete_bundles(trained, bundle_copy, tmp_path):
    parts, _ = trained
    common = dict(model=parts.model, config=parts.config, vocab=parts.vocab, encoding_config=parts.encoding)

    class FailingModel:
        outputs = parts.model.outputs

        def save(self, path):
            raise OSError("disk full")

    before = {p.name: p.read_bytes() for p in bundle_copy.iterdir()}
    with pytest.raises(OSError, match="disk full"):
        save_bundle(bundle_copy, **{**common, "model": FailingModel()}, data_info=DATA_INFO)
    assert {p.name: p.read_bytes() for p in bundle_copy.iterdir()} == before  # old bundle untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left

    save_bundle(bundle_copy, **common, data_info={**DATA_INFO, "dataset": "other"})
    assert load_bundle(bundle_copy).data_info["dataset"] == "other"
    assert not (bundle_copy / "split.json").exists()

    other = tmp_path / "not_a_bundle"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not a model bundle"):
        save_bundle(other, **common, data_info=DATA_INFO)
    with pytest.raises(BundleError, match="data_hash"):
        save_bundle(tmp_path / "new", **common, data_info={"dataset": "toy"})
    with pytest.raises(BundleError, match="the vocabulary does not match the weights"):
        save_bundle(tmp_path / "new", **{**common, "vocab": Vocabulary([*parts.vocab.tokens, "X"])}, data_info=DATA_INFO)


# ----------------------------------------------------------------------------- untrusted bundles


def test_lambda_layer_is_refused_before_keras_reads_it_and_its_code_never_runs(bundle_copy, tmp_path):
    import keras

    marker = tmp_path / "lambda_ran"
    lambda_model_file(bundle_copy / "model.keras", bundle_copy / "model.keras", marker)
    refused = r"model\.keras was refused: it holds a Lambda layer 'touch'"
    with pytest.raises(BundleError, match=refused) as info:
        load_bundle(bundle_copy)
    assert "nothing in it was run" in str(info.value)
    assert "safe_mode=False" not in str(info.value)  # no advice that load_bundle cannot follow
    assert not marker.exists()
    keras.saving.load_model(bundle_copy / "model.keras", safe_mode=False, compile=False)
    assert marker.exists()  # the file was hostile: an unsafe load runs its code


def test_custom_object_is_refused_and_its_module_never_imported(bundle_copy, tmp_path, monkeypatch):
    modules, marker = tmp_path / "modules", tmp_path / "module_imported"
    modules.mkdir()
    monkeypatch.syspath_prepend(str(modules))
    custom_object_model_file(bundle_copy / "model.keras", bundle_copy / "model.keras", modules, marker)
    with pytest.raises(BundleError, match=f"custom object 'Sneaky' from module '{EVIL_MODULE}'"):
        load_bundle(bundle_copy)
    assert not marker.exists() and EVIL_MODULE not in sys.modules


@pytest.mark.parametrize(
    "name, message",
    [("paper", "belongs to the encoding 'paper'"), ("midi-like", "unknown encoding 'midi-like'")],
)
def test_vocabulary_of_another_encoding_is_refused(bundle_copy, name, message):
    vocab = Vocabulary.load(bundle_copy / "vocab.json")
    vocab.save(bundle_copy / "vocab.json", encoding=name, config={})  # same tokens, same fingerprint
    with pytest.raises(BundleError, match=rf"vocab\.json.*{message}"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("name", ["model.keras", "vocab.json", "config.json", "split.json"])
def test_file_linked_from_outside_the_bundle_is_refused(bundle_copy, tmp_path, name):
    elsewhere = link_outside(bundle_copy, name, tmp_path / "elsewhere" / name)
    refused = rf"{name} is a symbolic link to {elsewhere}, outside the bundle folder"
    with pytest.raises(BundleError, match=refused):
        load_bundle(bundle_copy)


def test_links_inside_the_bundle_folder_are_allowed(bundle_copy):
    link_outside(bundle_copy, "metrics.json", bundle_copy / "kept" / "metrics.json")
    assert load_bundle(bundle_copy).metrics == {"test_nll": 1.5}
