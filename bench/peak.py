"""A ``ruta`` console command run in this process, its peak resident memory written to a file.

    python -m bench.peak REPORT_FILE -- export consolidado --out FILE.xlsx

Why not the child's ``ru_maxrss`` as ``wait4`` (or ``getrusage``) gives it: Linux carries a
process's maximum resident size across exec, from the memory it had before, which a child
spawned by ``subprocess`` shares with its parent (vfork). A bench parent of 250 MiB made
every child it measured «peak» at 250 MiB at least: the console Excel read 251–254 MiB at
10,000 schools in ``bench.scale`` and 190–210 MiB under ``/usr/bin/time``. The kernel's
high-water mark of the process's own memory (VmHWM, ``bench.probe.peak_mib``) starts anew
with the new program: the command's imports, its app and its work.
"""

from __future__ import annotations

import atexit
import sys
from pathlib import Path

from bench.probe import peak_mib


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        raise SystemExit("usage: python -m bench.peak REPORT_FILE -- COMMAND [ARGS…]")
    report = Path(sys.argv[1])
    atexit.register(lambda: report.write_text(f"{peak_mib():.1f}\n"))
    from ruta.commands import main as ruta

    sys.argv = ["ruta", *sys.argv[3:]]
    ruta()


if __name__ == "__main__":
    main()
