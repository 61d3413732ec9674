"""Omniglot (Lake et al. 2015) with the Vinyals et al. (2016) class split.

Each (character, rotation) pair is a class: 4,112 train, 688 val, 4,800 trainval and 1,692 test
classes of 20 drawings. Images are resized to ``image_size`` (28 by default, with antialiasing) and
scaled to [0, 1] with strokes bright (1) on a dark background (0).

The first load parses the two archives (about 20 s) and caches a compact uint8 array file; later
loads read that file (well under 2 s).

>>> train = load_omniglot("train")                 # doctest: +SKIP
>>> train.x.shape                                  # doctest: +SKIP
(4112, 20, 28, 28, 1)
"""
import re
from pathlib import Path

import numpy as np

from hands_on_meta.datasets.base import ClassDataset
from hands_on_meta.datasets.sources import (
    Resource,
    cache_dir,
    check_content,
    load_arrays,
    locate,
    open_zip,
    read_image,
    save_arrays,
)
from hands_on_meta.validation import check_choice

_UPSTREAM = "https://github.com/brendenlake/omniglot/raw/master/python/"
_SPLITS_UPSTREAM = ("https://raw.githubusercontent.com/jakesnell/prototypical-networks/"
                    "c9bb4d258267c11cb6e23f0a19242d24ca98ad8a/data/omniglot/splits/vinyals/")

# md5 of the upstream archives (checked on download) and the content digest of their drawings (checked
# wherever an archive comes from: the mirror's copies are repacked), computed from the data mirror
ARCHIVES = {
    "background": Resource("omniglot/images_background.zip", _UPSTREAM + "images_background.zip",
                           "68d2efa1b9178cc56df9314c21c6e718",
                           "097735bcb7de9c26abe2421971ff4cf2a23f470d4200e78f66cd3be40fc2be1e", content_depth=3),
    "evaluation": Resource("omniglot/images_evaluation.zip", _UPSTREAM + "images_evaluation.zip",
                           "6b91aef0f799c5bb55b94e3f2daec811",
                           "7e2689ff4321a48bf4a4a47b5bce8e3e966af9a8f389f6fac4a7b40843ece069", content_depth=3),
}
# The split lists are copied unchanged into the mirror, so their upstream sha256 holds everywhere.
SPLIT_FILES = {
    name: Resource(f"omniglot/splits/vinyals/{name}.txt", _SPLITS_UPSTREAM + f"{name}.txt", sha)
    for name, sha in {
        "train": "984522c194c30fb678ce53304a160a42faf5403ad4f9a67010f32dd3a35738e0",
        "val": "11f99e54faee3e26f53d3231c1cceac5bf7b8730e9be31cb6dab256551dc0c1a",
        "trainval": "5276ae50c755596d0bff7f2284e85625695549a85ee6e36b6491ad1e5d1cc26a",
        "test": "845264cc5c156180828ccf17915668b17ee21424d0170df6e7d81676aa5d1204",
    }.items()
}
EXPECTED = {"background": (30, 964), "evaluation": (20, 659)}  # alphabets, characters
SPLIT_SIZES = {"train": 4112, "val": 688, "trainval": 4800, "test": 1692}
DRAWINGS = 20
ORIGINAL_SIZE = 105
_MEMBER = re.compile(r"(?:^|/)images_(background|evaluation)/([^/]+)/(character\d+)/(\d+)_(\d+)\.png$")
_CACHE_VERSION = 1


def _parse_archive(path, part, image_size, progress=None):
    """Read one archive into {"Alphabet/characterNN": uint8 array (20, s, s)}, strokes bright."""
    from PIL import Image

    drawings = {}
    with open_zip(path) as archive:
        members = [(m, _MEMBER.search(m)) for m in archive.namelist()]
        members = [(m, match) for m, match in members if match and match.group(1) == part]
        if not members:
            raise ValueError(f"archive {str(path)!r} holds no images_{part}/<alphabet>/<character>/*.png "
                             "files; is it the right Omniglot archive?")
        for name, match in sorted(members):
            with read_image(archive, name, path) as image:
                if image.size != (ORIGINAL_SIZE, ORIGINAL_SIZE):
                    raise ValueError(f"{path}: {name} is {image.size[0]}x{image.size[1]}, expected "
                                     f"{ORIGINAL_SIZE}x{ORIGINAL_SIZE}")
                gray = image.convert("L")
                if image_size != ORIGINAL_SIZE:
                    gray = gray.resize((image_size, image_size), Image.LANCZOS)
            key = f"{match.group(2)}/{match.group(3)}"
            drawings.setdefault(key, []).append(255 - np.asarray(gray, dtype=np.uint8))
            if progress is not None:
                progress.add(1)
    alphabets = {key.split("/")[0] for key in drawings}
    want_alphabets, want_chars = EXPECTED[part]
    if len(alphabets) != want_alphabets or len(drawings) != want_chars:
        raise ValueError(f"archive {str(path)!r} has {len(alphabets)} alphabets and {len(drawings)} "
                         f"characters; Omniglot images_{part} has {want_alphabets} and {want_chars}")
    short = {key: len(images) for key, images in drawings.items() if len(images) != DRAWINGS}
    if short:
        raise ValueError(f"archive {str(path)!r}: characters without {DRAWINGS} drawings: "
                         f"{dict(list(short.items())[:5])}")
    with open_zip(path) as archive:
        check_content(archive, [name for name, _ in members], ARCHIVES[part], path)
    return {key: np.stack(images) for key, images in drawings.items()}


def load_characters(image_size=28, download=True, verbose=True):
    """All 1,623 characters as ``(names, parts, images)``: names like ``"Greek/character03"``, the
    archive each comes from (``"background"`` or ``"evaluation"``), and uint8 images of shape
    (1623, 20, s, s) with strokes bright. Parsed once, then read from the cache."""
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or not 4 <= image_size <= 105:
        raise ValueError(f"image_size must be an integer between 4 and 105, got {image_size!r}")
    cache = cache_dir() / "omniglot" / f"omniglot_{image_size}px_v{_CACHE_VERSION}.npz"
    arrays = load_arrays(cache, ["names", "parts", "images"])
    if arrays is not None and arrays["images"].shape == (1623, DRAWINGS, image_size, image_size):
        return [str(n) for n in arrays["names"]], [str(p) for p in arrays["parts"]], arrays["images"]
    paths = {part: locate(resource, download) for part, resource in ARCHIVES.items()}
    progress = None
    if verbose:
        import keras

        print(f"Parsing Omniglot into {cache} (once)")
        progress = keras.utils.Progbar(32460, unit_name="image")
    characters, parts = {}, {}
    for part, path in paths.items():
        parsed = _parse_archive(path, part, image_size, progress)
        characters.update(parsed)
        parts.update(dict.fromkeys(parsed, part))
    names = sorted(characters)
    images = np.stack([characters[name] for name in names])
    part_list = [parts[name] for name in names]
    save_arrays(cache, names=np.array(names), parts=np.array(part_list), images=images)
    return names, part_list, images


def read_split(split):
    """Class names of a Vinyals split, like ``"Greek/character03/rot090"``."""
    check_choice("split", split, SPLIT_FILES)
    resource = SPLIT_FILES[split]
    path = locate(resource)
    import hashlib

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest != resource.file_hash:
        raise ValueError(f"split file {str(path)!r} has sha256 {digest}, expected {resource.file_hash} "
                         "(the published Vinyals split); it is corrupt or a different file")
    classes = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if len(classes) != SPLIT_SIZES[split]:
        raise ValueError(f"split file {path} lists {len(classes)} classes, expected {SPLIT_SIZES[split]}")
    return classes


def load_omniglot(split="train", image_size=28, download=True, verbose=True):
    """Omniglot classes of one split as a :class:`ClassDataset`, ``x`` float32 of shape
    ``(n_classes, 20, image_size, image_size, 1)`` in [0, 1], strokes bright.

    ``split``: ``"train"``, ``"val"``, ``"trainval"``, ``"test"`` (Vinyals split, each rotation by
    0/90/180/270 degrees a class), or ``"background"`` / ``"evaluation"`` (Lake's original halves,
    no rotations).
    """
    check_choice("split", split, set(SPLIT_FILES) | set(EXPECTED))
    names, parts, images = load_characters(image_size, download, verbose)
    if split in EXPECTED:
        chosen = [i for i, part in enumerate(parts) if part == split]
        x, class_names = images[chosen], [names[i] for i in chosen]
    else:
        index = {name: i for i, name in enumerate(names)}
        class_names = read_split(split)
        x = np.empty((len(class_names), DRAWINGS, image_size, image_size), np.uint8)
        for row, cls in enumerate(class_names):
            alphabet, character, rotation = cls.split("/")
            source = images[index[f"{alphabet}/{character}"]]
            x[row] = np.rot90(source, k=int(rotation[3:]) // 90, axes=(1, 2))
    x = (x.astype(np.float32) / 255.0)[..., None]
    return ClassDataset(x, class_names, "omniglot", split)


def verify(download=False):
    """Check the archives and split files by structure and content (no image decoding): alphabets,
    characters, 20 drawings each, the drawings' content digest, CRCs, split sizes. Returns a summary dict; raises on a problem."""
    summary = {}
    for part, resource in ARCHIVES.items():
        path = locate(resource, download)
        with open_zip(path) as archive:
            counts, names = {}, []
            for member in archive.namelist():
                match = _MEMBER.search(member)
                if match and match.group(1) == part:
                    key = (match.group(2), match.group(3))
                    counts[key] = counts.get(key, 0) + 1
                    names.append(member)
            alphabets = {alphabet for alphabet, _ in counts}
            if (len(alphabets), len(counts)) != EXPECTED[part] or set(counts.values()) != {DRAWINGS}:
                raise ValueError(f"{path}: {len(alphabets)} alphabets, {len(counts)} characters, drawings per "
                                 f"character {sorted(set(counts.values()))}; expected {EXPECTED[part]} and "
                                 f"{DRAWINGS}")
            check_content(archive, names, resource, path)
        summary[f"images_{part}"] = f"{len(alphabets)} alphabets, {len(counts)} characters x {DRAWINGS} ({path})"
    for split in SPLIT_FILES:
        summary[f"vinyals/{split}"] = f"{len(read_split(split))} classes"
    return summary
