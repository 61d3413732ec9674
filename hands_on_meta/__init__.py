"""hands_on_meta: meta-learning with TensorFlow 2 / Keras 3, the companion to *Hands-On Meta Learning
with Python*.

>>> import hands_on_meta as hom
>>> hom.set_seed(0)
>>> train = hom.datasets.load_omniglot("train")          # doctest: +SKIP
>>> episodes = hom.episodes.episode_dataset(train, n_way=5, k_shot=1, n_query=15, seed=0)  # doctest: +SKIP
"""
from hands_on_meta import datasets
from hands_on_meta.seeding import set_seed

__version__ = "0.1.0"
__all__ = ["__version__", "datasets", "set_seed"]
