"""Vocabulary: ids, unknown tokens, JSON persistence and its validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from musiclib.encoding import (
    SPECIAL_TOKENS,
    EventEncoding,
    PaperEncoding,
    Vocabulary,
    load_vocabulary,
    save_vocabulary,
)


def small() -> Vocabulary:
    return Vocabulary.from_tokens(["C4", "E4", "0.4.7"])


def test_specials_come_first_with_fixed_ids():
    vocab = small()
    assert vocab.tokens[:4] == ("PAD", "BOS", "EOS", "UNK")
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2, 3)
    assert vocab.id("PAD") == 0
    assert len(vocab) == 7
    assert "C4" in vocab and "D4" not in vocab


def test_from_tokens_keeps_order_and_skips_duplicates_and_specials():
    vocab = Vocabulary.from_tokens(["b", "a", "b", "EOS", "c"])
    assert vocab.tokens == SPECIAL_TOKENS + ("b", "a", "c")


def test_from_sequences_sorts_and_applies_min_count():
    sequences = [["E4", "C4", "E4"], ["0.4.7", "C4"], ["G4"]]
    vocab = Vocabulary.from_sequences(sequences)
    assert vocab.tokens == SPECIAL_TOKENS + ("0.4.7", "C4", "E4", "G4")
    assert Vocabulary.from_sequences(reversed(sequences)) == vocab  # corpus order does not matter
    assert Vocabulary.from_sequences(sequences, min_count=2).tokens == SPECIAL_TOKENS + ("C4", "E4")
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.from_sequences(sequences, min_count=0)


def test_constructor_rejects_bad_token_lists():
    with pytest.raises(ValueError, match="special"):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match="distinct"):
        Vocabulary(list(SPECIAL_TOKENS) + ["a", "a"])
    with pytest.raises(ValueError, match="non-empty"):
        Vocabulary(list(SPECIAL_TOKENS) + [""])


def test_encode_maps_unknown_to_unk_and_strict_raises():
    vocab = small()
    ids = vocab.encode(["C4", "D4", "0.4.7"])
    assert ids.dtype == np.int32
    assert ids.tolist() == [vocab.id("C4"), vocab.unk_id, vocab.id("0.4.7")]
    with pytest.raises(ValueError, match="D4"):
        vocab.encode(["C4", "D4"], strict=True)
    assert vocab.encode([]).shape == (0,)


def test_decode_and_out_of_range_ids():
    vocab = small()
    assert vocab.decode(vocab.encode(["E4", "C4"])) == ["E4", "C4"]
    assert vocab.decode([]) == []
    with pytest.raises(ValueError, match="ids must be"):
        vocab.decode([len(vocab)])
    with pytest.raises(KeyError):
        vocab.id("nope")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=8), max_size=30))
def test_encode_decode_round_trip(tokens):
    vocab = Vocabulary.from_tokens(tokens)
    assert vocab.decode(vocab.encode(tokens, strict=True)) == list(tokens)


def test_equality_and_hash_by_tokens():
    assert small() == small() and hash(small()) == hash(small())
    assert small() != Vocabulary.from_tokens(["C4"])
    assert small().fingerprint == small().fingerprint
    assert small().fingerprint != Vocabulary.from_tokens(["C4"]).fingerprint


def test_save_load_round_trip_with_encoding(tmp_path):
    encoding = EventEncoding(n_tracks=1)
    vocab = encoding.vocabulary()
    path = save_vocabulary(tmp_path / "vocab.json", vocab, encoding)
    data = json.loads(path.read_text())
    assert data["format"] == 1 and data["encoding"] == "events" and data["config"]["n_tracks"] == 1
    assert Vocabulary.load(path) == vocab
    loaded, rebuilt = load_vocabulary(path)
    assert loaded == vocab and rebuilt == encoding
    assert rebuilt.vocabulary() == vocab


def test_save_accepts_encoding_config_alias(tmp_path):
    encoding = PaperEncoding(step=0.25)
    path = small().save(tmp_path / "v.json", encoding="paper", encoding_config=encoding.config())
    assert load_vocabulary(path) == (small(), encoding)
    with pytest.raises(ValueError, match="not both"):
        small().save(tmp_path / "w.json", config={}, encoding_config={})


def test_save_load_without_encoding(tmp_path):
    vocab = PaperEncoding().vocabulary([["C4", "0.4.7"]])
    vocab.save(tmp_path / "v.json")
    loaded, encoding = load_vocabulary(tmp_path / "v.json")
    assert loaded == vocab and encoding is None


def test_tampered_file_is_detected(tmp_path):
    path = small().save(tmp_path / "vocab.json")
    data = json.loads(path.read_text())
    data["tokens"][4], data["tokens"][5] = data["tokens"][5], data["tokens"][4]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="fingerprint"):
        Vocabulary.load(path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"kind": "other"}', "not a musiclib vocabulary"),
        ('{"kind": "musiclib.vocabulary", "format": 99}', "unsupported vocabulary format"),
        ('{"kind": "musiclib.vocabulary", "format": 1, "tokens": [1]}', "list of strings"),
        ('{"kind": "musiclib.vocabulary", "format": 1, "tokens": ["a"]}', "fingerprint"),
    ],
)
def test_malformed_files_raise_clear_errors(tmp_path, content, message):
    path = tmp_path / "vocab.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        Vocabulary.load(path)


def test_file_with_bad_token_list_but_matching_fingerprint(tmp_path):
    data = small().to_dict()
    data["tokens"] = ["a", "b"]
    data["size"] = 2
    from musiclib.encoding.vocab import _fingerprint

    data["fingerprint"] = _fingerprint(data["tokens"])
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="special tokens"):
        Vocabulary.load(path)


def test_file_naming_an_invalid_encoding(tmp_path):
    path = small().save(tmp_path / "vocab.json", encoding="events", config={"n_tracks": 0})
    with pytest.raises(ValueError, match="n_tracks"):
        load_vocabulary(path)
