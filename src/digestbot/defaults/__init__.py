"""The default configuration and agent prompts, shipped inside the package.

In a checkout, `config` and `agents` here are links to the repository's own `config/` and `agents/`
(one copy in git); a built wheel or sdist carries the files themselves. Without a config folder the
packaged ones are used as they are; `digestbot init` writes editable copies.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
CONFIG = HERE / "config"
AGENTS = HERE / "agents"


def files(folder: Path) -> list[Path]:
    """The packaged files of `CONFIG` or `AGENTS`, sorted."""
    return sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))


def write_copies(target: Path) -> tuple[list[Path], list[Path]]:
    """Copy the packaged `config/` and `agents/` into `target`: (written, skipped because they exist).
    An existing file is never overwritten, not even one created while this runs."""
    written: list[Path] = []
    skipped: list[Path] = []
    for source_dir, name in ((CONFIG, "config"), (AGENTS, "agents")):
        for source in files(source_dir):
            destination = target / name / source.name
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with destination.open("xb") as out:
                    out.write(source.read_bytes())
            except FileExistsError:
                skipped.append(destination)
            else:
                written.append(destination)
    return written, skipped


def notice(config_dir: Path, agents_dir: Path) -> str:
    """One line saying which packaged defaults a run uses ('' when it uses the user's own folders)."""
    used = [
        name
        for name, folder, packaged in (("config", config_dir, CONFIG), ("agents", agents_dir, AGENTS))
        if folder == packaged
    ]
    if not used:
        return ""
    what = " and ".join(f"{name}/" for name in used) + (" folders" if len(used) > 1 else " folder")
    return f"no {what} here: using the packaged defaults ({HERE}); `digestbot init` writes editable copies"
