"""Demo selection of KB-Coder (paper 10): fixed stratified random (`slice_random`) and KB-Coder-R's nearest demos."""

import numpy as np

from embedlab.models.kbqa.prompt import nearest, slice_random


def test_slice_random_takes_one_item_from_each_of_k_equal_slices_the_same_every_time():
    pool = list(range(10))
    chosen = slice_random(pool, 3, seed=7)
    # np.linspace(0, 10, 4) -> slice bounds 0, 3, 6, 10 (by hand)
    assert len(chosen) == 3
    assert 0 <= chosen[0] < 3 <= chosen[1] < 6 <= chosen[2] < 10
    assert slice_random(pool, 3, seed=7) == chosen


def test_slice_random_with_k_above_the_pool_keeps_the_whole_pool_in_order():
    assert slice_random(list("abcde"), 40) == list("abcde")


def test_nearest_orders_the_pool_by_cosine_to_the_question():
    vectors = {"q": [1.0, 0.0], "a": [0.0, 1.0], "b": [1.0, 1.0], "c": [2.0, 0.1]}

    def encode(texts):
        return np.array([vectors[t] for t in texts], dtype=np.float32)

    # cosines to q by hand: a 0, b 0.7071, c 0.9988 -> c, b first
    assert nearest("q", ["A", "B", "C"], ["a", "b", "c"], 2, encode) == ["C", "B"]
