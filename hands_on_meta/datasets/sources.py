"""Where dataset files come from: the offline mirror, the cache, or the upstream URL.

Loading order for every file:

1. the folder named by the environment variable ``HANDS_ON_META_DATA`` (a mirror laid out like
   ``shared/data``: ``omniglot/images_background.zip``, ``faces/att_faces.zip`` ...);
2. the cache (``HANDS_ON_META_CACHE``, else the ``data/`` folder of a source checkout, else
   ``~/.cache/hands_on_meta``);
3. a download from the upstream URL with ``keras.utils.get_file`` (progress bar, hash-checked where
   upstream publishes a fixed file).

Mirror archives are repacked, so they are checked by structure (counts of classes and files) in each
loader, never by archive hash.
"""
import dataclasses
import io
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from hands_on_meta.files import save_atomic

MIRROR_ENV = "HANDS_ON_META_DATA"
CACHE_ENV = "HANDS_ON_META_CACHE"


@dataclasses.dataclass(frozen=True)
class Resource:
    """One dataset file: its path inside the mirror/cache, its upstream URL and upstream hash."""

    relpath: str
    url: str
    file_hash: str | None = None  # md5 (32 hex) or sha256 (64 hex) of the upstream file
    content_hash: str | None = None  # content_digest of the members a loader reads (mirror copies are repacked)
    content_depth: int = 1  # path components of a member name that identify it (below the archive's folders)


def mirror_dir():
    """The mirror folder named by ``HANDS_ON_META_DATA``, or None when the variable is unset."""
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{MIRROR_ENV}={value!r} is not a folder; point it at a data mirror "
                                "laid out like shared/data (omniglot/, faces/, audio/) or unset it")
    return path


def cache_dir():
    """Folder for downloads and parsed arrays (created on first use)."""
    value = os.environ.get(CACHE_ENV)
    if value:
        path = Path(value).expanduser()
    else:
        checkout_data = Path(__file__).resolve().parents[2] / "data"
        if (checkout_data / "README.md").is_file():
            path = checkout_data
        else:
            path = Path.home() / ".cache" / "hands_on_meta"
    path.mkdir(parents=True, exist_ok=True)
    return path


def locate(resource, download=True):
    """Path of ``resource``: from the mirror, else the cache, else downloaded into the cache.

    Raises FileNotFoundError when the file is nowhere and ``download`` is False, and ValueError when a
    download (or a cached download) does not match the upstream hash.
    """
    mirror = mirror_dir()
    if mirror is not None and (mirror / resource.relpath).is_file():
        return mirror / resource.relpath
    cached = cache_dir() / resource.relpath
    if not download:
        if cached.is_file():
            return cached
        places = ([str(mirror / resource.relpath)] if mirror else []) + [str(cached)]
        raise FileNotFoundError(f"{resource.relpath} not found (looked in {', '.join(places)}); "
                                f"set {MIRROR_ENV} to a data mirror or allow a download from {resource.url}")
    import keras

    if cached.is_file() and resource.file_hash is None:
        return cached
    subdir = str(Path(resource.relpath).parent)
    try:
        path = keras.utils.get_file(fname=Path(resource.relpath).name, origin=resource.url,
                                    file_hash=resource.file_hash, cache_dir=str(cache_dir()),
                                    cache_subdir=subdir)
    except ValueError as err:  # keras: hash mismatch after download; keras keeps the file, we do not
        cached.unlink(missing_ok=True)
        raise ValueError(f"{resource.relpath}: the download from {resource.url} does not match the "
                         f"upstream hash {resource.file_hash}: {err}") from err
    except Exception as err:  # network errors: say what was tried
        raise FileNotFoundError(f"{resource.relpath} is not in the mirror ({MIRROR_ENV}) nor the cache "
                                f"({cached}), and downloading {resource.url} failed: {err}") from err
    return Path(path)


def open_zip(path):
    """Open a zip archive after checking it: it exists, is a complete zip, every member's CRC is
    right, and no member name would land outside a target folder (absolute or ``..`` paths).

    >>> open_zip("missing.zip")
    Traceback (most recent call last):
    FileNotFoundError: archive 'missing.zip' does not exist
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"archive {str(path)!r} does not exist")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"archive {str(path)!r} is not a readable zip file (truncated or corrupt: "
                         f"{err}); delete it and fetch it again") from err
    for name in archive.namelist():
        parts = Path(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            archive.close()
            raise ValueError(f"archive {str(path)!r} has member {name!r}, which would land outside the "
                             "target folder; refusing to use it")
    try:
        bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        archive.close()
        raise ValueError(f"archive {str(path)!r} is corrupt ({err}); delete it and fetch it again") from err
    if bad is not None:
        archive.close()
        raise ValueError(f"archive {str(path)!r} is corrupt: member {bad!r} fails its CRC check; "
                         "delete it and fetch it again")
    return archive


def read_member(archive, name, path):
    """The bytes of member ``name`` of the open zip ``archive`` (from ``path``); a ValueError naming both
    when the member cannot be inflated (a corrupt deflate stream passes the CRC check of
    :func:`open_zip` only when it fails before the end)."""
    try:
        return archive.read(name)
    except (zlib.error, zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"archive {str(path)!r}: member {name!r} cannot be read ({err}); delete the archive and "
                         "fetch it again") from None


def read_image(archive, name, path):
    """Member ``name`` of ``archive`` as an open PIL image; a ValueError naming the member if it is not one."""
    from PIL import Image, UnidentifiedImageError

    data = read_member(archive, name, path)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"archive {str(path)!r}: member {name!r} is not a readable image ({err})") from None
    return image


def content_digest(archive, names, depth=1):
    """sha256 of the sorted ``name:CRC-32:size`` of members ``names``, each name cut to its last ``depth``
    path components: the same for an upstream archive and a repacked copy holding the same files."""
    import hashlib

    rows = sorted(f"{'/'.join(info.filename.split('/')[-depth:])}:{info.CRC:08x}:{info.file_size}"
                  for info in map(archive.getinfo, names))
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def check_content(archive, names, resource, path):
    """ValueError unless members ``names`` of ``archive`` (from ``path``) hold the files of ``resource``."""
    if resource.content_hash is None:
        return
    found = content_digest(archive, names, resource.content_depth)
    if found != resource.content_hash:
        raise ValueError(f"archive {str(path)!r} does not hold the expected files of {resource.relpath} (content "
                         f"digest {found[:12]}..., expected {resource.content_hash[:12]}...); delete it and fetch "
                         f"it again from {resource.url} or a data mirror")


def save_arrays(path, **arrays):
    """Write arrays to ``path`` (.npz) atomically, so an interrupted write never leaves a bad cache."""
    def save(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    save_atomic(path, save)


def load_arrays(path, expected):
    """Read a cache file written by :func:`save_arrays` (no pickle). Returns None when the file is
    missing, unreadable, or lacks one of the ``expected`` keys, so the caller rebuilds it."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if not set(expected) <= set(data.files):
                return None
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None
