"""Shared fixtures. Tests run on real data from the mirror named by HANDS_ON_META_DATA (CI sets it to
../shared/data). Without the mirror they skip, except under CI, where they fail."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as hands_on_meta sets it, before any test imports TensorFlow
# Notebook kernels start in their own folder: make a relative mirror path absolute before any starts.
if os.environ.get("HANDS_ON_META_DATA"):
    os.environ["HANDS_ON_META_DATA"] = str(Path(os.environ["HANDS_ON_META_DATA"]).expanduser().resolve())
DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "data"


def _mirror():
    value = os.environ.get("HANDS_ON_META_DATA")
    if value and Path(value).is_dir():
        return Path(value)
    if not value and DEFAULT_MIRROR.is_dir():
        os.environ["HANDS_ON_META_DATA"] = str(DEFAULT_MIRROR)
        return DEFAULT_MIRROR
    message = f"the data mirror is missing (HANDS_ON_META_DATA={value!r}; expected e.g. {DEFAULT_MIRROR})"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must have it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def mirror():
    """Path of the real-data mirror (skips locally without it, fails under CI)."""
    return _mirror()


@pytest.fixture(scope="session")
def omniglot_test(mirror):
    from hands_on_meta.datasets import load_omniglot

    return load_omniglot("test", verbose=False)
