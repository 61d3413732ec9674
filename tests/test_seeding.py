"""set_seed makes a CPU training run repeatable bit for bit."""
import subprocess
import sys

import pytest

from hands_on_meta import set_seed

SCRIPT = """
import hashlib, keras, numpy as np
from hands_on_meta import set_seed
from hands_on_meta.datasets.sine import sine_tasks
from hands_on_meta.learners import MAML
from hands_on_meta.models import sine_mlp
set_seed({seed}, deterministic=True)
net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(40, activation="relu"), keras.layers.Dropout(0.1),
                        keras.layers.Dense(1)])
maml = MAML(net, task="regression")
maml.compile(optimizer="adam")
maml.fit(sine_tasks(5, 5, seed={seed}, meta_batch=8), steps_per_epoch=20, epochs=1, verbose=0)
print(hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in maml.get_weights())).hexdigest())
"""


def run(seed):
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(seed=seed)], check=False, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_same_seed_gives_identical_weights_and_another_seed_does_not():
    first, second, other = run(3), run(3), run(4)
    assert first == second
    assert first != other


def test_bad_seed():
    with pytest.raises(ValueError, match="seed must be between 0 and"):
        set_seed(-1)
    with pytest.raises(ValueError, match="seed must be an integer"):
        set_seed("0")


def test_importing_the_package_keeps_tensorflow_start_up_lines_out_of_stderr():
    """TensorFlow's C++ start-up lines (oneDNN, CUDA probe, CPU features) would fill every notebook; the
    package imports TensorFlow with stderr silenced, and stderr works again afterwards."""
    import os
    import subprocess
    import sys

    code = ("import sys, hands_on_meta, tensorflow as tf; tf.config.threading.set_intra_op_parallelism_threads(1); "
            "print(float(tf.reduce_sum(tf.ones(3))), file=sys.stderr)")
    env = {key: value for key, value in os.environ.items() if key != "HANDS_ON_META_TF_LOGS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == ["3.0"], done.stderr
