"""Few-shot recipes: which model stands behind each Omniglot record, rebuilt and tested as its recipe does."""
from pathlib import Path

import numpy as np

from hands_on_meta.recipes.fewshot import omniglot_tests

ROOT = Path(__file__).resolve().parents[1]


def test_every_omniglot_record_is_a_meta_test_of_a_recipe():
    from hands_on_meta.records import latest_records, load_records

    tests = omniglot_tests()
    recorded = {(algorithm, setting, way, shot) for algorithm, dataset, split, way, shot, setting
                in latest_records(load_records(ROOT / "results")) if dataset == "omniglot" and split == "test"}
    assert recorded and recorded <= set(tests), f"records no recipe makes: {sorted(recorded - set(tests))}"
    recipe, _, test = tests[("MAML", "clean", 5, 1)]
    assert (recipe.name, test.model, test.variant) == ("adml-omniglot", "maml-1shot", "")
    assert tests[("RelationNet", "transductive batch norm", 20, 5)][2].variant == "transductive"


def test_tested_learner_is_the_recipes_model_in_the_tests_variant(omniglot_test):
    from hands_on_meta.learners import MetaSGD, SemiProtoNet
    from hands_on_meta.transductive import Transductive

    tests = omniglot_tests()
    recipe, cfg, test = tests[("Meta-SGD", "", 5, 1)]
    meta_sgd = recipe.tested_learner(cfg, test)
    assert isinstance(meta_sgd, MetaSGD)
    weights = sum(int(np.prod(w.shape)) for w in meta_sgd.network.trainable_variables)
    assert sum(int(np.prod(w.shape)) for w in meta_sgd.trainable_variables) == 2 * weights  # one rate per weight
    recipe, cfg, test = tests[("ProtoNet + test-time soft k-means", "5 unlabelled/class, no distractors", 5, 1)]
    assert isinstance(recipe.tested_learner(cfg, test), SemiProtoNet)
    recipe, cfg, test = tests[("RelationNet", "transductive batch norm", 5, 1)]
    assert isinstance(recipe.tested_learner(cfg, test), Transductive)


def test_test_episodes_are_the_same_one_at_a_time_and_in_meta_batches(omniglot_test):
    recipe, cfg, test = omniglot_tests()[("ProtoNet", "", 20, 1)]
    batch = next(iter(recipe.test_episodes(cfg, test, omniglot_test)))
    single = list(recipe.test_episodes(cfg, test, omniglot_test, meta_batch=None).take(cfg["test_batch"]))
    assert batch["query_x"].shape[0] == cfg["test_batch"] == len(single)
    for key in ("support_x", "support_y", "query_x", "query_y"):
        np.testing.assert_array_equal(batch[key].numpy(), np.stack([episode[key].numpy() for episode in single]))
