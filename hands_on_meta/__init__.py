"""hands_on_meta: meta-learning with TensorFlow 2 / Keras 3, the companion to *Hands-On Meta Learning
with Python*.

>>> import hands_on_meta as hom
>>> hom.set_seed(0)
>>> train = hom.datasets.load_omniglot("train")          # doctest: +SKIP
>>> episodes = hom.episodes.episode_dataset(train, n_way=5, k_shot=1, n_query=15, seed=0)  # doctest: +SKIP
"""
import os

# TensorFlow turns its oneDNN CPU kernels on by default only on some Intel CPUs. Elsewhere (AMD EPYC
# here) its own kernels run, built without AVX2/FMA, and ProtoNet trains about half as fast (measured
# in benchmarks/protonet_vs_torch.py). This takes effect when hands_on_meta is imported before
# TensorFlow; TF_ENABLE_ONEDNN_OPTS=0 opts out.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def _import_tensorflow_quietly():
    """Import TensorFlow with the process's stderr sent to /dev/null: its C++ start-up lines (oneDNN, CUDA
    drivers, CPU features) are written there before any log setting applies (TF_CPP_MIN_LOG_LEVEL does not
    hide them), and would fill every notebook's outputs. Listing the devices here also emits the CUDA probe's
    line, without fixing any setting a user may still change (thread counts). HANDS_ON_META_TF_LOGS=1 keeps them."""
    import sys

    if "tensorflow" in sys.modules or os.environ.get("HANDS_ON_META_TF_LOGS") == "1":
        return
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no file descriptor 2 to redirect
        return
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

# layers and learners: imported so that every one is registered with Keras (keras.models.load_model)
from hands_on_meta import datasets, layers, learners
from hands_on_meta.seeding import set_seed

__version__ = "0.1.0"
__all__ = ["__version__", "datasets", "layers", "learners", "set_seed"]
