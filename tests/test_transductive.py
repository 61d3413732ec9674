"""Transductive meta-testing: each episode normalised with its own batch statistics, state untouched."""
import keras
import numpy as np
import pytest
from conftest import small_relation_net, toy_episode

from hands_on_meta.layers import conv4
from hands_on_meta.learners import MAML, ProtoNet
from hands_on_meta.transductive import Transductive


def two_episodes():
    first, second = toy_episode(seed=0), toy_episode(seed=1)
    second["query_x"] = second["query_x"] * 3.0 + 1.0  # other statistics than the first episode's
    return {key: np.concatenate([first[key], second[key]]) for key in first}, first, second


@pytest.mark.parametrize("build", [small_relation_net, lambda: ProtoNet(conv4(filters=8))])
def test_each_episode_uses_its_own_batch_statistics_and_the_state_is_untouched(build):
    keras.utils.set_random_seed(0)
    learner = build()
    both, first, second = two_episodes()
    state = [v.numpy().copy() for v in learner.non_trainable_variables]
    transductive = Transductive(learner)
    together = np.asarray(transductive.episode_outputs(both))
    for before, variable in zip(state, learner.non_trainable_variables):
        np.testing.assert_array_equal(before, variable.numpy())
    # with the moving statistics of a fresh model (mean 0, variance 1) the outputs differ
    assert not np.allclose(together, np.asarray(learner(both, training=False)), atol=1e-3)
    for i, episode in enumerate((first, second)):  # one episode alone = that episode in training mode
        np.testing.assert_allclose(together[i], np.asarray(learner(episode, training=True))[0], rtol=1e-4, atol=1e-5)
    scores = np.asarray(transductive.episode_scores(both))
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 100))


def test_gradient_based_learners_and_other_objects_are_refused():
    with pytest.raises(ValueError, match="gradient-based learners take batch_norm='transductive'"):
        Transductive(MAML(conv4(filters=8, outputs=5)))
    with pytest.raises(ValueError, match="Transductive wraps a metric learner"):
        Transductive("relation net")


def test_recipes_test_the_transductive_variant_of_a_model_with_batch_statistics(mirror):
    from hands_on_meta.recipes import get
    from hands_on_meta.recipes.fewshot import Evaluation

    recipe = get("relation-omniglot")
    assert Evaluation(5, 1, "1shot", "transductive", "transductive batch norm") in recipe.config()["eval"]
    cfg = recipe.config(quick=True, episodes=10, eval=[
        {"way": 5, "shot": 1, "model": "1shot"},
        {"way": 5, "shot": 1, "model": "1shot", "variant": "transductive", "setting": "transductive batch norm"}])
    keras.utils.set_random_seed(0)
    results = recipe.evaluate({"1shot": recipe.build(cfg, "1shot", recipe.setting(cfg, "1shot"))}, cfg)
    assert [(fields["model"], fields["setting"]) for _, fields in results] == [
        ("1shot", ""), ("1shot", "transductive batch norm")]
    assert results[0][0].mean != results[1][0].mean  # an untrained model's moving statistics are mean 0, variance 1
