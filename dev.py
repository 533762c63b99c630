#!/usr/bin/env python3
"""Set up and run digest with nothing but Python 3.11+.

    python3 dev.py demo     create .venv, install digest, run `digest demo`
    python3 dev.py test     the same install, then the test suite
    python3 dev.py lint     the same install, then ruff
    python3 dev.py bench    the same install, then the delivery benchmark (bench/send.py)
    python3 dev.py bench import   the same, the import benchmark (bench/import.py)
    python3 dev.py bench collect  the same, the collection benchmark (bench/collect.py)
    python3 dev.py bench preview  the same, the editors' review page under load (bench/preview.py)
    python3 dev.py bench topics   the same, the cost of grouping (bench/topics.py)
    python3 dev.py bench feedparse  the same, what a hostile feed costs to parse (bench/feedparse.py)

Anything after the verb is passed on (e.g. `python3 dev.py test -k send`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def install(extras: str = "") -> None:
    """digest and its dependencies in .venv; `extras` ("test") adds what the tests need."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs under any python3 to say so
        sys.exit(f"digest needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = STAMP.with_name(f"{STAMP.name}{'-' + extras if extras else ''}")
    if not stamp.exists() or stamp.read_text() != wanted:
        print("installing digest and its dependencies into .venv ...", flush=True)
        pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "install", "-e", f"{ROOT}[{extras}]" if extras else str(ROOT)], check=True)
        stamp.write_text(wanted)


def main() -> int:
    verb, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    bench = "send.py"
    if verb == "bench" and rest[:1] in (["import"], ["collect"], ["preview"], ["topics"], ["feedparse"]):
        bench, rest = f"{rest[0]}.py", rest[1:]
    commands = {
        "demo": [str(BIN / "digest"), "demo", *rest],
        "test": [str(BIN / "python"), "-m", "pytest", *rest],
        "lint": [str(BIN / "ruff"), "check", "digest", "tests", "bench", "dev.py", *rest],
        "bench": [str(BIN / "python"), str(ROOT / "bench" / bench), *rest],
    }
    if verb in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if verb not in commands:
        print(__doc__)
        return 2
    install("" if verb == "demo" else "test")  # the demo needs no test tools (playwright is 165 MB)
    return subprocess.call(commands[verb], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
