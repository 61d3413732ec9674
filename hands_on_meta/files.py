"""Files written whole or not at all: each goes to a temporary file in the same folder and is renamed,
so a crash at any moment leaves the old file or the new one, never a part of one."""
import json
import os
from pathlib import Path


def save_atomic(path, save):
    """``save(tmp)`` to a temporary path with the same suffixes as ``path`` (Keras checks them), then
    rename it to ``path``; on an error the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".partial-{os.getpid()}-{path.name}")
    try:
        save(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    save_atomic(path, lambda tmp: Path(tmp).write_text(text))


def read_json(path, what_to_do="delete it"):
    """The JSON value in ``path``; a ``ValueError`` naming the file (and ``what_to_do``) if it cannot be read."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} cannot be read ({err}); {what_to_do}") from None
