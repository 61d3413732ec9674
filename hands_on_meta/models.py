"""The networks and learners the recipes train, by name, for recipes, notebooks, tests and users.

>>> sine_learner("maml").inner_steps, omniglot_learner("reptile").inner_batch
(1, 10)
"""
import keras

from hands_on_meta.layers import ContextConcat, RelationModule, conv4
from hands_on_meta.learners import ADML, CAML, IMAML, MAML, MetaSGD, ProtoMAML, Reptile, ZeroShotRelationNet

SINE_INNER_LR = 0.01  # the MAML paper's regression step
REPTILE_SINE_STEPS, REPTILE_SINE_BATCH = 5, 10  # the Reptile authors' sine code: 5 SGD steps on distinct batches of 10
OMNIGLOT_INNER_LR = 0.1  # measured choice for every Omniglot learner (RESULTS.md, "How the settings were chosen")


def sine_mlp(hidden=40, seed=0, context=0):
    """The MLP of the MAML paper's regression experiments: 1 -> 40 -> 40 -> 1, ReLU; ``context`` > 0
    concatenates that many context parameters to the input (CAML)."""
    init = keras.initializers.GlorotUniform
    return keras.Sequential([keras.Input((1,))] + ([ContextConcat(context)] if context else []) + [
        keras.layers.Dense(hidden, activation="relu", kernel_initializer=init(seed)),
        keras.layers.Dense(hidden, activation="relu", kernel_initializer=init(seed + 1)),
        keras.layers.Dense(1, kernel_initializer=init(seed + 2)),
    ], name="sine_mlp")


def sine_learner(algorithm, seed=0, inner_lr=SINE_INNER_LR, eval_steps=10):
    """An uncompiled sine-regression learner of ``algorithm``: maml, fomaml, meta-sgd, reptile,
    maml-ga / reptile-ga (gradient agreement), caml, imaml or pretrained (MAML without inner steps:
    the network fitted to all tasks jointly).

    Inner loops: MAML, FOMAML, Meta-SGD one SGD step; Reptile 5 SGD steps, each on the next 10 of a
    training task's points (at test, on all support points, as every learner); CAML one step on 4 context
    parameters at rate 1.0; iMAML 10 steps with a proximal term (lambda 10), gradients clipped to norm
    10 and one conjugate-gradient step for the implicit gradient."""
    common = {"task": "regression", "eval_steps": eval_steps, "name": algorithm.replace("-", "_")}
    net = sine_mlp(seed=seed)
    reptile = {"inner_steps": REPTILE_SINE_STEPS, "inner_batch": REPTILE_SINE_BATCH}
    builders = {
        "maml": lambda: MAML(net, inner_lr=inner_lr, inner_steps=1, **common),
        "fomaml": lambda: MAML(net, inner_lr=inner_lr, inner_steps=1, first_order=True, **common),
        "meta-sgd": lambda: MetaSGD(net, inner_lr=inner_lr, inner_steps=1, **common),
        "reptile": lambda: Reptile(net, inner_lr=inner_lr, **reptile, **common),
        "maml-ga": lambda: MAML(net, inner_lr=inner_lr, inner_steps=1, agreement=True, **common),
        "reptile-ga": lambda: Reptile(net, inner_lr=inner_lr, agreement=True, **reptile, **common),
        "caml": lambda: CAML(sine_mlp(seed=seed, context=4), inner_lr=1.0, inner_steps=1, **common),
        "imaml": lambda: IMAML(net, inner_lr=inner_lr, inner_steps=10, reg=10.0, cg_steps=1, clip_norm=10.0, **common),
        "pretrained": lambda: MAML(net, inner_lr=inner_lr, inner_steps=0, **common),
    }
    if algorithm not in builders:
        raise ValueError(f"algorithm must be one of {sorted(builders)}, got {algorithm!r}")
    return builders[algorithm]()


def omniglot_learner(algorithm, way=5, inner_lr=OMNIGLOT_INNER_LR, eval_steps=3, batch_norm="transductive",
                     adml_epsilon=0.1):
    """An uncompiled gradient-based learner on conv4 (batch norm, ``way`` outputs) for ``way``-way
    Omniglot: maml, maml-running (running batch-norm statistics), fomaml, meta-sgd, reptile (5 inner
    steps on mini-batches of 10), anil, proto-maml or adml (FGSM step ``adml_epsilon``, pixels kept in
    [0, 1]); one inner step for all others."""
    common = {"inner_lr": inner_lr, "eval_steps": eval_steps, "batch_norm": batch_norm}
    builders = {
        "maml": lambda: MAML(conv4(outputs=way), inner_steps=1, **common),
        "maml-running": lambda: MAML(conv4(outputs=way), inner_steps=1, **{**common, "batch_norm": "running"}),
        "fomaml": lambda: MAML(conv4(outputs=way), inner_steps=1, first_order=True, **common),
        "meta-sgd": lambda: MetaSGD(conv4(outputs=way), inner_steps=1, **common),
        "reptile": lambda: Reptile(conv4(outputs=way), inner_steps=5, inner_batch=10, **common),
        "anil": lambda: MAML(conv4(outputs=way), inner_steps=1, anil=True, **common),
        "proto-maml": lambda: ProtoMAML(conv4(), n_way=way, inner_steps=1, **common),
        "adml": lambda: ADML(conv4(outputs=way), inner_steps=1, epsilon=adml_epsilon, clip=(0.0, 1.0), **common),
    }
    if algorithm not in builders:
        raise ValueError(f"algorithm must be one of {sorted(builders)}, got {algorithm!r}")
    return builders[algorithm]()


def siamese_encoder(input_shape, embedding=64, filters=64, scale=None, offset=0.0, flip=False, shift=0.0,
                    rotation=0.0, zoom=0.0, contrast=0.0, name="encoder"):
    """conv4 (``filters`` per block) -> ``Dense(embedding)`` -> unit length. ``scale``/``offset``
    rescale raw inputs first (e.g. log-mel dB in [-80, 0] -> [-1, 1] with 1/40, 1). In training only
    (data augmentation; all are off at test time): ``flip`` mirrors images left-right at random,
    ``shift`` translates them by up to that fraction of their height and width, ``rotation`` turns them
    by up to that fraction of a full turn, ``zoom`` scales them by up to that fraction and ``contrast``
    changes their contrast by up to that factor. With 30 training people a Siamese network learns them
    by heart; on AT&T faces these augmentations are what carried it to people it never saw
    (results/choices.md, siamese-faces).

    >>> siamese_encoder((56, 46, 1)).output_shape
    (None, 64)
    """
    layers = [keras.Input(input_shape)]
    if scale is not None:
        layers.append(keras.layers.Rescaling(scale, offset))
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal"))
    if shift:
        layers.append(keras.layers.RandomTranslation(shift, shift))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom))
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast))
    layers += [conv4(input_shape, filters=filters, outputs=embedding), keras.layers.UnitNormalization()]
    return keras.Sequential(layers, name=name)


def fsdd_zeroshot_model(side_dim, embed_dim=64, filters=32, hidden=64, input_shape=(101, 40, 1)):
    """Zero-shot relation network for FSDD: conv4 audio embedding (``filters`` per block, then a
    linear map to ``embed_dim``), side-information embedding Dense(``embed_dim``, ReLU), relation
    module Dense(``hidden``, ReLU) -> Dense(1, sigmoid) on the concatenated pair."""
    embedding = conv4(input_shape, filters=filters, outputs=embed_dim, name="audio_embedding")
    side_embedding = keras.Sequential([keras.Input((side_dim,)),
                                       keras.layers.Dense(embed_dim, activation="relu")], name="side_embedding")
    return ZeroShotRelationNet(embedding, side_embedding, RelationModule((embed_dim,), hidden=hidden))
