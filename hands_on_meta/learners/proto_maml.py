"""Proto-MAML (Triantafillou et al. 2020): MAML whose output layer starts, for every task, from the
prototypical network's classifier, then adapts with the rest of the network.

The network is ``encoder`` followed by a linear head with ``n_way`` outputs. For a task, the class
prototypes ``c_k`` (mean support embedding of class k) give the head's starting weights
``W_k = 2 c_k`` and ``b_k = -|c_k|^2``: the logits are then ProtoNet's ``-|f(x) - c_k|^2`` up to a
term equal for all classes. The inner loop (:func:`hands_on_meta.inner_loop.adapt`) adapts from there;
the meta-gradient also flows through the prototypes into the encoder. The head's own variables are
never used, so the outer optimizer trains the encoder only.

>>> from hands_on_meta.layers import conv4
>>> proto_maml = ProtoMAML(conv4(), n_way=5, inner_lr=0.1, inner_steps=1)
>>> [w.name for w in proto_maml.network.trainable_variables[-2:]]
['kernel', 'bias']
"""
import keras
import tensorflow as tf

from hands_on_meta.episodes import check_episodes
from hands_on_meta.inner_loop import forward
from hands_on_meta.layers.distances import class_prototypes
from hands_on_meta.learners.base import built_model
from hands_on_meta.learners.gradient_based import GradientBasedLearner, refuse_argument
from hands_on_meta.validation import check_int


@keras.saving.register_keras_serializable(package="hands_on_meta")
class ProtoMAML(GradientBasedLearner):
    """MAML with a prototype-initialised output layer (see module docstring)."""

    def __init__(self, encoder, n_way, task="classification", **kwargs):
        if task != "classification":
            raise ValueError(f"ProtoMAML classifies (task='classification'), got task={task!r}")
        refuse_argument("ProtoMAML", "network", kwargs, "it builds its network from encoder and n_way")
        encoder = built_model(encoder, "encoder", vector_output=True)
        n_way = check_int("n_way", n_way, 2)
        network = keras.Sequential([keras.Input(encoder.input_shape[1:]), encoder,
                                    keras.layers.Dense(n_way, name="head")], name="proto_maml_network")
        super().__init__(network, task=task, **kwargs)
        self.encoder, self.n_way = encoder, n_way

    @property
    def outer_variables(self):
        head = {id(w) for w in self.network.layers[-1].trainable_weights}
        return [w for w in self.trainable_variables if id(w) not in head]

    def initial_weights(self, support_x, support_y, training):
        weights = [tf.convert_to_tensor(w) for w in self.network.trainable_variables]
        body = weights[:-2]
        embeddings = forward(self.encoder, body, support_x, training=True)  # support statistics, as MAML adapts
        prototypes = class_prototypes(embeddings, tf.cast(support_y, tf.int32), self.n_way)
        return body + [2.0 * tf.transpose(prototypes), -tf.reduce_sum(tf.square(prototypes), axis=-1)]

    def episode_outputs(self, episodes, training=False):
        check_episodes(episodes, self.n_way, self.encoder.input_shape[1:])
        return super().episode_outputs(episodes, training)

    def get_config(self):
        config = super().get_config()
        config.pop("network")
        return {**config, "encoder": keras.saving.serialize_keras_object(self.encoder), "n_way": self.n_way}
