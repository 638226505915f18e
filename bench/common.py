"""Shared by the benchmarks: what was measured (commit, machine) and where it is written."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

INTRO = """\
# Benchmarks

Figures measured by the scripts in `bench/`. They are not timed tests: nothing fails when a
number drops. Each script rewrites only its own marked section of this file and leaves the rest
alone.

Every figure in a section comes from **one run on the machine named in that section**. Absolute
rates move with the machine and with whatever else runs on it (about ±15 % run to run on an
idle 2-core box), so the **ratios**, measured within that one run, are the comparable numbers.

Rerun: `make bench` runs every script with `--write docs/benchmarks.md`; without `--write` a
script only prints its tables.
"""


def code_version() -> str:
    """The commit measured, and whether tracked files differed from it (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                *("git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"),
                *("--", ".", ":!bench", ":!docs"),  # the benchmark's own files do not count
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown commit"
    return f"commit {head}" + (" with local changes to product files" if dirty else "")


def machine() -> dict[str, str]:
    cpu, mem_kb = "unknown", 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    versions = {}
    for pkg in ("torch", "sentence-transformers", "chromadb", "celery", "sqlalchemy"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "?"
    return {
        "nproc": str(os.cpu_count() or "?"),
        "affinity": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        **versions,
    }


def write_section(path: Path, section: str, start_mark: str, end_mark: str) -> None:
    """Replace the marked section of `path` (or append it); the rest of the file is kept."""
    text = path.read_text(encoding="utf-8") if path.exists() else INTRO
    start, end = text.find(start_mark), text.find(end_mark)
    if start != -1 and end > start:
        text = text[:start] + section.rstrip("\n") + text[end + len(end_mark) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def publish(section: str, write: Path | None, start_mark: str, end_mark: str) -> None:
    """Print a benchmark's section and, with `--write FILE`, replace it in that file."""
    print(section)
    if write:
        write_section(write, section, start_mark, end_mark)
