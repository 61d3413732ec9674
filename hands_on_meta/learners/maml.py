"""MAML (Finn et al. 2017): learn an initialisation from which a few gradient steps on a task's
support set fit that task.

Inner loop: :func:`hands_on_meta.inner_loop.adapt`. Outer loss: the query loss of the adapted
weights, averaged over the meta-batch; its gradient flows through the inner steps (second-order) or
treats the inner gradients as constants (``first_order=True``, FOMAML, whose meta-gradient is taken
at the fast weights, the inner loop off the outer tape). ``anil=True`` adapts only the network's last
layer with weights, the head (ANIL, Raghu et al. 2020); the body still learns in the outer loop.
``agreement=True`` weights each task's meta-gradient by its agreement with the others
(:mod:`hands_on_meta.gradient_agreement`) instead of averaging them (under a ``tf.distribute``
strategy, within each replica's share of the meta-batch). ``inner_steps=0`` trains the network on
query points directly: the "pretrained" baseline, fine-tuned with ``eval_steps`` at test.

``inner_lr`` is one rate, or a list of per-step rates (``[0.4, 0.2]``: 0.4 for the first step, 0.2 for
the second and any later one, e.g. the extra ``eval_steps`` at test time). ``clip_norm`` rescales each
inner step's gradients to at most that global norm (default None: plain SGD steps). ``inner_batch``: if
given, each inner step of meta-training uses the next ``inner_batch`` support examples instead of all of
them (classes interleaved, so a batch is balanced), as Reptile does; testing adapts on the whole support set.
``batch_norm``, ``meta_gradients`` and ``parallel_tasks``: see :mod:`hands_on_meta.learners.gradient_based`.

>>> import keras
>>> net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(40, activation="relu"),
...                         keras.layers.Dense(40, activation="relu"), keras.layers.Dense(1)])
>>> maml = MAML(net, task="regression", inner_lr=0.01, inner_steps=1, eval_steps=10)
>>> maml.compile(optimizer=keras.optimizers.Adam(1e-3))
>>> # maml.fit(sine_tasks(meta_batch=25), steps_per_epoch=1000, epochs=10)
"""
import keras

from hands_on_meta.learners.gradient_based import BATCH_NORM_MODES, GradientBasedLearner

__all__ = ["BATCH_NORM_MODES", "MAML"]


@keras.saving.register_keras_serializable(package="hands_on_meta")
class MAML(GradientBasedLearner):
    """Model-agnostic meta-learning around any built Keras ``network`` (see module docstring)."""
