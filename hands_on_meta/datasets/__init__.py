"""Real datasets, loaded offline from a mirror (``HANDS_ON_META_DATA``), the cache, or upstream.

>>> from hands_on_meta.datasets import load_omniglot
>>> test = load_omniglot("test")          # doctest: +SKIP
"""
from hands_on_meta.datasets.audio import audio_features, fsdd_metadata, load_esc10, load_fsdd
from hands_on_meta.datasets.base import ClassDataset
from hands_on_meta.datasets.faces import load_faces
from hands_on_meta.datasets.omniglot import load_omniglot

__all__ = ["ClassDataset", "audio_features", "fsdd_metadata", "load_esc10", "load_faces", "load_fsdd",
           "load_omniglot"]
