"""AT&T / ORL faces ("The Database of Faces", Olivetti Research Laboratory, Cambridge).

40 subjects with 10 grayscale photos each, 92 wide x 112 high. Each subject is a class. The
train/test split is by subject, so nobody appears in both: train is the first ``n_train_subjects``
subjects (s1, s2, ... in numeric order) and test is the rest. The 400 images are parsed on each
call (well under a second), so there is no cache.

Credit: "When using these images, please give credit to Olivetti Research Laboratory".

>>> train = load_faces("train", image_size=(56, 46))   # doctest: +SKIP
>>> train.x.shape, train.class_names[:2]                 # doctest: +SKIP
((30, 10, 56, 46, 1), ('s1', 's2'))
"""
import re

import numpy as np

from hands_on_meta.datasets.base import ClassDataset
from hands_on_meta.datasets.sources import Resource, check_content, locate, open_zip, read_image
from hands_on_meta.validation import check_choice

ARCHIVE = Resource(
    "faces/att_faces.zip",
    "https://github.com/kunempire/Face-Recognition-PCA/raw/8d5af33a266e897b298193811be1772d2bb78c7b/att_faces.zip",
    "47ecb705eb4de74bd7cc9cbf7f104c3e22764571f569ae1aab30d35a3909c855",
    content_hash="bb52045b4aa3bfa68cbc9ea7fac0ad3c3773270851b50f47a7ec1e5ac614dde5", content_depth=2,
)
SUBJECTS = 40
IMAGES = 10
WIDTH, HEIGHT = 92, 112
_MEMBER = re.compile(r"(?:^|/)s(\d+)/(\d+)\.pgm$")


def _check_image_size(image_size):
    if image_size is None:
        return HEIGHT, WIDTH
    ok = (isinstance(image_size, (tuple, list)) and len(image_size) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in image_size))
    if not ok:
        raise ValueError(f"image_size must be None or a pair of positive integers (height, width), "
                         f"got {image_size!r}")
    return int(image_size[0]), int(image_size[1])


def _read_faces(path, size):
    """uint8 array (40, 10, h, w): subject s<k> at row k-1, image <j>.pgm at column j-1."""
    from PIL import Image

    images = {}
    with open_zip(path) as archive:
        for name in archive.namelist():
            match = _MEMBER.search(name)
            if not match:
                continue
            key = (int(match.group(1)), int(match.group(2)))
            if key in images:
                raise ValueError(f"archive {str(path)!r} holds s{key[0]}/{key[1]}.pgm twice")
            with read_image(archive, name, path) as image:
                if image.size != (WIDTH, HEIGHT) or image.mode != "L":
                    raise ValueError(f"{path}: {name} is a {image.size[0]}x{image.size[1]} {image.mode} "
                                     f"image, expected {WIDTH}x{HEIGHT} 8-bit grayscale (L)")
                if size != (HEIGHT, WIDTH):
                    image = image.resize((size[1], size[0]), Image.LANCZOS)
                images[key] = np.asarray(image, dtype=np.uint8)
    expected = {(s, i) for s in range(1, SUBJECTS + 1) for i in range(1, IMAGES + 1)}
    if set(images) != expected:
        subjects = {s for s, _ in images}
        missing = sorted(expected - set(images))[:5]
        extra = sorted(set(images) - expected)[:5]
        raise ValueError(f"archive {str(path)!r} has {len(images)} images of {len(subjects)} subjects; "
                         f"AT&T faces has {SUBJECTS} subjects (s1..s{SUBJECTS}) x {IMAGES} images "
                         f"(1..{IMAGES}.pgm). Missing e.g. {missing}, unexpected e.g. {extra}")
    with open_zip(path) as archive:
        check_content(archive, [name for name in archive.namelist() if _MEMBER.search(name)], ARCHIVE, path)
    return np.stack([np.stack([images[s, i] for i in range(1, IMAGES + 1)])
                     for s in range(1, SUBJECTS + 1)])


def load_faces(split="all", image_size=None, n_train_subjects=30, download=True):
    """AT&T faces as a :class:`ClassDataset`: ``x`` float32 ``(subjects, 10, h, w, 1)`` in [0, 1],
    classes ``"s1"``, ``"s2"``, ... in numeric order.

    ``split``: ``"all"`` (40 subjects), ``"train"`` (the first ``n_train_subjects``) or ``"test"``
    (the others). ``image_size``: None keeps 112x92, else ``(height, width)`` (Lanczos resize).
    """
    check_choice("split", split, {"all", "train", "test"})
    size = _check_image_size(image_size)
    if (isinstance(n_train_subjects, bool) or not isinstance(n_train_subjects, (int, np.integer))
            or not 1 <= n_train_subjects < SUBJECTS):
        raise ValueError(f"n_train_subjects must be an integer from 1 to {SUBJECTS - 1} (so both splits "
                         f"have subjects), got {n_train_subjects!r}")
    images = _read_faces(locate(ARCHIVE, download), size)
    chosen = {"all": slice(None), "train": slice(0, n_train_subjects),
              "test": slice(n_train_subjects, None)}[split]
    names = [f"s{k}" for k in range(1, SUBJECTS + 1)][chosen]
    x = (images[chosen].astype(np.float32) / 255.0)[..., None]
    return ClassDataset(x, names, "att_faces", split)


def verify(download=False):
    """Check the archive by structure: CRCs, 40 subjects x 10 images, each 92x112 8-bit grayscale.
    Returns a summary dict for ``hands-on-meta data verify``; raises ValueError on a problem."""
    path = locate(ARCHIVE, download)
    _read_faces(path, (HEIGHT, WIDTH))
    return {"att_faces": f"{SUBJECTS} subjects x {IMAGES} images, {WIDTH}x{HEIGHT} grayscale ({path})"}
