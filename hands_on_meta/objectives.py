"""The loss and the score of one episode's query predictions, for the two kinds of task.

``task`` is ``"classification"`` (integer labels, logits, softmax cross-entropy; score: accuracy in
%) or ``"regression"`` (mean squared error, which is also the score). Learners, wrappers and
attacks all import these from here, a module that imports nothing of the package.

>>> import tensorflow as tf
>>> float(task_score("classification", tf.constant([0, 1]), tf.constant([[2.0, 1.0], [3.0, 0.0]])))
50.0
"""
import tensorflow as tf

TASKS = ("classification", "regression")


def check_task(task):
    """``task`` itself if it is one of :data:`TASKS`; ValueError otherwise."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return task


def class_labels(y, pred):
    """``y`` as int32 labels, after checking at run time that each is a class of ``pred``'s last axis
    (an N-way episode needs a network with N outputs)."""
    y = tf.convert_to_tensor(y)
    if not y.dtype.is_integer:
        raise ValueError(f"labels must be integers (class indices), got {y.dtype.name}")
    y, n = tf.cast(y, tf.int32), pred.shape[-1]
    message = (f"labels must be in [0, {n}): the network has {n} outputs, one per class of the episode"
               if n is not None else "labels must be in [0, number of classes of the episode)")
    tf.debugging.assert_non_negative(y, message=message)
    tf.debugging.assert_less(y, tf.shape(pred, out_type=tf.int32)[-1], message=message)
    return y


def task_loss(task, y, pred):
    """Mean loss of one episode's predictions."""
    if task == "classification":
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(class_labels(y, pred), pred))
    return tf.reduce_mean(tf.square(tf.cast(y, pred.dtype) - pred))


def task_score(task, y, pred):
    """Score of one or more episodes (last axes = query points): accuracy in % or MSE."""
    if task == "classification":
        hits = tf.cast(tf.equal(tf.argmax(pred, -1, output_type=tf.int32), class_labels(y, pred)), tf.float32)
        return 100.0 * tf.reduce_mean(hits, axis=-1)
    return tf.reduce_mean(tf.square(tf.cast(y, pred.dtype) - pred), axis=list(range(1, len(pred.shape))))
