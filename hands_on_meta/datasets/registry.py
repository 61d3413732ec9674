"""Named datasets for ``hands-on-meta data list|verify|fetch``."""
import dataclasses

from hands_on_meta.datasets import sources
from hands_on_meta.validation import check_choice


@dataclasses.dataclass(frozen=True)
class Entry:
    description: str
    resources: callable  # () -> list of Resource
    verify: callable     # (download: bool) -> summary dict; raises on a problem


def _omniglot():
    from hands_on_meta.datasets import omniglot

    return Entry("Omniglot, 1,623 characters x 20 drawings, Vinyals split (MIT)",
                 lambda: [*omniglot.ARCHIVES.values(), *omniglot.SPLIT_FILES.values()], omniglot.verify)


def _faces():
    from hands_on_meta.datasets import faces

    return Entry("AT&T/ORL faces, 40 subjects x 10 images, 92x112 (credit: AT&T Laboratories Cambridge)",
                 lambda: [faces.ARCHIVE], faces.verify)


def _fsdd():
    from hands_on_meta.datasets import audio

    return Entry("Free Spoken Digit Dataset, 3,000 recordings, 10 digits x 6 speakers, 8 kHz (CC BY-SA 4.0)",
                 lambda: [audio.FSDD], audio.verify_fsdd)


def _esc10():
    from hands_on_meta.datasets import audio

    return Entry("ESC-10 environmental sounds, 10 classes, 5 s clips (CC BY 3.0)", lambda: [audio.ESC10],
                 audio.verify_esc10)


DATASETS = {"omniglot": _omniglot(), "faces": _faces(), "fsdd": _fsdd(), "esc10": _esc10()}


def get(name):
    check_choice("name", name, DATASETS)
    return DATASETS[name]


def where(resource):
    """'mirror: PATH', 'cache: PATH' or 'missing (download from URL)'."""
    mirror = sources.mirror_dir()
    if mirror is not None and (mirror / resource.relpath).is_file():
        return f"mirror: {mirror / resource.relpath}"
    cached = sources.cache_dir() / resource.relpath
    if cached.is_file():
        return f"cache: {cached}"
    return f"missing (fetch downloads {resource.url})"
