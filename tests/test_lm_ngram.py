"""Count-based baselines: normalisation, Kneser-Ney by hand, scoring, sampling, speed."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from musiclib.lm.ngram import BOS_ID, EOS_ID, PAD_ID, UNK_ID, NGramModel, UnigramModel, baseline_table


def markov_tunes(n_tunes: int, vocab: int, *, seed: int = 0, length: tuple[int, int] = (20, 60)) -> list[np.ndarray]:
    """Tunes from a sparse second-order Markov chain over ids 4..vocab-1 (BOS ... EOS)."""
    rng = np.random.default_rng(seed)
    table = rng.integers(4, vocab, size=(vocab, vocab, 2))
    tunes = []
    for _ in range(n_tunes):
        body = list(rng.integers(4, vocab, size=2))
        for _ in range(int(rng.integers(*length))):
            body.append(int(table[body[-2], body[-1], rng.integers(0, 2)]))
        tunes.append(np.array([BOS_ID, *body, EOS_ID], dtype=np.int32))
    return tunes


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_distributions_sum_to_one_and_are_positive(order):
    vocab = 40
    model = (UnigramModel() if order == 1 else NGramModel(order)).fit(markov_tunes(30, vocab), vocab_size=vocab)
    rng = np.random.default_rng(order)
    contexts = rng.integers(0, vocab, size=(50, 6))
    contexts[:10, :3] = markov_tunes(10, vocab, seed=9)[0][:3]  # some seen histories too
    probs = model.distributions(contexts)
    assert probs.shape == (50, vocab)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert probs.min() > 0
    # short and empty contexts work as well
    for context in ([], [BOS_ID], [BOS_ID, 5]):
        assert model.distribution(context).sum() == pytest.approx(1.0)


def test_bigram_kneser_ney_matches_a_hand_computation():
    # tokens: BOS=1, EOS=2, a=4, b=5; V=6
    a, b = 4, 5
    tunes = [[BOS_ID, a, b, a, EOS_ID], [BOS_ID, a, a, EOS_ID]]
    d, vocab = 0.75, 6
    model = NGramModel(2, discount=d).fit(tunes, vocab_size=vocab)
    # bigrams (history, token): (1,a) x2, (a,b), (b,a), (a,2) x2, (a,a)
    # continuation counts of unigrams: a <- {1, b, a} = 3, b <- {a} = 1, EOS <- {a} = 1; total 5, 3 types
    unigram = np.zeros(vocab)
    unigram[[a, b, EOS_ID]] = np.array([3, 1, 1]) - d
    unigram = (unigram + d * 3 / vocab) / 5
    # history a: c(a,b)=1, c(a,EOS)=2, c(a,a)=1 -> total 4, 3 types
    counts = np.zeros(vocab)
    counts[[b, EOS_ID, a]] = [1, 2, 1]
    expected = (np.maximum(counts - d, 0) + d * 3 * unigram) / 4
    np.testing.assert_allclose(model.distribution([BOS_ID, a]), expected, rtol=1e-12)
    # an unseen history falls back to the unigram level
    np.testing.assert_allclose(model.distribution([EOS_ID]), unigram, rtol=1e-12)
    assert model.log_prob([a], EOS_ID) == pytest.approx(math.log(expected[EOS_ID]))


def test_unigram_is_add_one_over_tokens_after_bos():
    tunes = [[BOS_ID, 4, 4, 5, EOS_ID]]
    model = UnigramModel().fit(tunes, vocab_size=6)
    expected = (np.array([0, 0, 1, 0, 2, 1]) + 1) / (4 + 6)
    np.testing.assert_allclose(model.distribution([BOS_ID]), expected)
    scores = model.nll(tunes)
    assert scores["tokens"] == 4
    assert scores["nll"] == pytest.approx(-np.log(expected[[4, 4, 5, EOS_ID]]).mean())
    assert scores["accuracy"] == pytest.approx(0.5)  # argmax is token 4: right twice


def test_higher_orders_beat_the_unigram_on_markov_data_and_count_the_same_tokens():
    vocab = 30
    tunes = markov_tunes(300, vocab)
    train, test = tunes[:250], tunes[250:]
    rows = baseline_table(train, test, vocab_size=vocab, orders=(1, 2, 3))
    by_order = {row["order"]: row for row in rows}
    assert [row["model"] for row in rows] == ["unigram (add-one)", "2-gram KN", "3-gram KN"]
    assert {row["tokens"] for row in rows} == {sum(len(t) - 1 for t in test)}
    assert by_order[3]["nll"] < by_order[2]["nll"] < by_order[1]["nll"]
    # two equally likely successors per history, apart from each tune's random start and its end
    assert by_order[3]["nll"] < 0.4 * by_order[1]["nll"]
    assert by_order[3]["accuracy"] > 0.4
    for row in rows:
        assert row["perplexity"] == pytest.approx(math.exp(row["nll"]))


def test_sampling_is_seeded_stops_at_eos_and_avoids_special_tokens():
    vocab = 30
    model = NGramModel(3).fit(markov_tunes(50, vocab), vocab_size=vocab)
    one = model.sample(max_tokens=200, seed=4)
    assert one == model.sample(max_tokens=200, seed=4)
    assert one != model.sample(max_tokens=200, seed=5)
    assert one[0] == BOS_ID and len(one) <= 201
    assert not {PAD_ID, UNK_ID} & set(one) and BOS_ID not in one[1:]
    assert EOS_ID not in one[:-1]
    greedy = model.sample(max_tokens=30, greedy=True, seed=0)
    assert greedy == model.sample(max_tokens=30, greedy=True, seed=99)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="order"):
        NGramModel(0)
    with pytest.raises(ValueError, match="discount"):
        NGramModel(3, discount=0.0)
    with pytest.raises(ValueError, match="not fitted"):
        NGramModel(3).nll([[1, 4, 2]])
    with pytest.raises(ValueError, match="token ids"):
        NGramModel(2).fit([[1, 9, 2]], vocab_size=5)
    with pytest.raises(ValueError, match="overflow"):
        NGramModel(6).fit([[1, 4, 2]], vocab_size=2_000_000)
    with pytest.raises(ValueError, match="temperature"):
        NGramModel(2).fit([[1, 4, 2]], vocab_size=5).sample(max_tokens=3, temperature=0)


def test_nottingham_sized_data_fits_and_scores_quickly():
    # about 1M tokens over 300 token types, scored on about 100k
    rng = np.random.default_rng(0)
    vocab, n_tunes, length = 300, 2000, 500
    step = rng.integers(-3, 4, size=(n_tunes, length))
    body = 4 + np.mod(np.cumsum(step, axis=1) + rng.integers(0, vocab - 4, size=(n_tunes, 1)), vocab - 4)
    tunes = [np.concatenate([[BOS_ID], row, [EOS_ID]]) for row in body]
    start = time.perf_counter()
    rows = baseline_table(tunes[:1800], tunes[1800:], vocab_size=vocab, orders=(2, 3, 4, 5))
    elapsed = time.perf_counter() - start
    assert elapsed < 30, f"fitting and scoring orders 2-5 took {elapsed:.1f} s"
    assert rows[0]["nll"] < math.log(7) + 0.1  # a random walk: 7 possible steps
