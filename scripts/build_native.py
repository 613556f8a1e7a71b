"""Compile the data plane's hot modules with mypyc into build/native (the Python sources stay the source).

    python scripts/build_native.py          # build if the sources changed since the last build
    python scripts/build_native.py --check  # exit 1 if the build is missing or stale

The sources are ordinary, mypy-strict Python; mypyc turns them into C extensions, which cuts the
interpreter's per-call and per-attribute overhead on the hot path (measured in bench/hotpath.py).
The result is used only while its stamp matches the current sources (see subwarden.native), so
editing a module without rebuilding falls back to the Python code rather than running stale code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from subwarden.native import NATIVE_DIR, NATIVE_MODULES, source_stamp, stamp_path  # noqa: E402

MYPY_INI = """[mypy]
python_version = 3.11
strict = True
plugins = pydantic.mypy
[mypy-httptools.*,uvloop.*,ldap3.*,asyncmy.*,asyncpg.*,joserfc.*]
ignore_missing_imports = True
"""
SETUP = """
from setuptools import setup
from mypyc.build import mypycify
setup(name="subwarden-native", ext_modules=mypycify({paths!r}, opt_level="3", group_name="subwarden_native"))
"""


def build(out: Path) -> None:
    src = ROOT / "src"
    paths = [str(Path("subwarden", *name.split(".")[1:]).with_suffix(".py")) for name in NATIVE_MODULES]
    with tempfile.TemporaryDirectory(prefix="subwarden-native-") as tmp:
        work = Path(tmp)
        shutil.copytree(src / "subwarden", work / "subwarden", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        (work / "mypy.ini").write_text(MYPY_INI)  # the project's mypy settings (pydantic plugin)
        (work / "setup_native.py").write_text(SETUP.format(paths=paths))
        env = {**os.environ, "MYPYC_OPT_LEVEL": "3"}
        subprocess.run(
            [sys.executable, "setup_native.py", "-q", "build_ext", "--build-lib", str(work / "lib")],
            cwd=work, env=env, check=True,
        )
        staged = out.with_name(out.name + ".new")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(work / "lib", staged)
    stamp_path(staged).write_text(source_stamp() + "\n")
    shutil.rmtree(out, ignore_errors=True)
    staged.rename(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the build matches the sources")
    parser.add_argument("--force", action="store_true", help="rebuild even if the build is current")
    args = parser.parse_args()
    current = stamp_path(NATIVE_DIR).is_file() and stamp_path(NATIVE_DIR).read_text().strip() == source_stamp()
    if args.check:
        print("native build current" if current else "native build missing or stale")
        return 0 if current else 1
    if current and not args.force:
        return 0
    print(f"compiling {len(NATIVE_MODULES)} modules with mypyc into {NATIVE_DIR} ...", flush=True)
    build(NATIVE_DIR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
