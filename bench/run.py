"""Run the benchmarks and rewrite BENCHMARKS.md.

Usage: ``python bench/run.py [--quick] [--output BENCHMARKS.md] [--only NAME ...]``.
Each benchmark module under ``bench/`` has ``run(quick) -> list of tables``;
a table is a dict with ``title``, ``header`` and ``rows``. Each module's
tables form one section of the report; modules not run keep their section
from the earlier report, so a slow module can be rerun alone.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import re
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
#: Benchmark modules, in the order their tables appear: real images lead, phantoms follow.
MODULES = [
    "real_denoise", "nuclei", "camera", "colour", "channels", "clipped", "clipped_photons", "canvas", "defects",
    "frame_defects", "correlated_noise", "denoise", "volumes", "superres_real", "superres", "vae", "latent", "defaults", "speed",
    "responsiveness", "cluster",
]


def machine() -> str:
    """One line naming the cores, CPU and torch version."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def render_section(name: str, tables: list[dict], command: str) -> str:
    """Markdown for the ``tables`` of module ``name``, with the machine, command and date.

    The section is wrapped in ``<!-- bench:name -->`` markers so that a later
    run of other modules leaves it in place.
    """
    lines = [
        f"<!-- bench:{name} -->",
        f"Machine: {machine()}.  ",
        f"Command: `{command}`.  ",
        f"Date: {datetime.date.today().isoformat()}.",
        "",
    ]
    for table in tables:
        lines += [f"## {table['title']}", ""]
        if table.get("note"):
            lines += [table["note"], ""]
        lines.append("| " + " | ".join(table["header"]) + " |")
        lines.append("|" + "---|" * len(table["header"]))
        lines += ["| " + " | ".join(row) + " |" for row in table["rows"]]
        lines.append("")
    lines.append(f"<!-- /bench:{name} -->")
    return "\n".join(lines)


def sections(text: str) -> dict[str, str]:
    """The marked sections of an earlier report, by module name."""
    found = re.finditer(r"<!-- bench:(\w+) -->.*?<!-- /bench:\1 -->", text, flags=re.DOTALL)
    return {match.group(1): match.group(0) for match in found}


def render(kept: dict[str, str]) -> str:
    """The whole report: a heading, then each module's section in :data:`MODULES` order."""
    parts = ["# Benchmarks", "", "Each section names the machine, command and date of its run.", ""]
    for name in MODULES:
        if name in kept:
            parts += [kept[name], ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--output", type=Path, default=HERE.parent / "BENCHMARKS.md")
    parser.add_argument("--only", nargs="*", choices=MODULES, default=MODULES)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    command = "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    kept = sections(args.output.read_text()) if args.output.exists() else {}
    for name in args.only:
        print(f"running bench/{name}.py ...", flush=True)
        tables = importlib.import_module(name).run(quick=args.quick)
        kept[name] = render_section(name, tables, command.strip())
        args.output.write_text(render(kept))  # after each module, so a crash loses little
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
