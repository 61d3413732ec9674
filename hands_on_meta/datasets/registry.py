"""Named datasets for ``hands-on-meta data list|verify|fetch``."""
import dataclasses

from hands_on_meta.datasets import _sources
from hands_on_meta.datasets.base import check_choice


@dataclasses.dataclass(frozen=True)
class Entry:
    description: str
    resources: callable  # () -> list of Resource
    verify: callable     # (download: bool) -> summary dict; raises on a problem


def _omniglot():
    from hands_on_meta.datasets import omniglot

    return Entry("Omniglot, 1,623 characters x 20 drawings, Vinyals split (MIT)",
                 lambda: [*omniglot.ARCHIVES.values(), *omniglot.SPLIT_FILES.values()], omniglot.verify)


DATASETS = {"omniglot": _omniglot()}


def get(name):
    check_choice("name", name, DATASETS)
    return DATASETS[name]


def where(resource):
    """'mirror: PATH', 'cache: PATH' or 'missing (download from URL)'."""
    mirror = _sources.mirror_dir()
    if mirror is not None and (mirror / resource.relpath).is_file():
        return f"mirror: {mirror / resource.relpath}"
    cached = _sources.cache_dir() / resource.relpath
    if cached.is_file():
        return f"cache: {cached}"
    return f"missing (fetch downloads {resource.url})"
