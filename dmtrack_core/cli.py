"""The ``dmtrack`` command. Each part of the core registers its own sub-commands.

Sub-commands live next to the code they drive (``model/cli.py``, ``evaluation/cli.py``,
``training/cli.py``); this file only collects them, importing each lazily so that
``dmtrack info`` does not pay for importing the trainer.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module path -> sub-commands it registers (kept explicit so `dmtrack --help` is fast)
COMMAND_MODULES = {
    "dmtrack_core.model.cli": ("info", "export"),
    "dmtrack_core.evaluation.cli": ("synth", "eval", "bench"),
    "dmtrack_core.evaluation.calibrate": ("calibrate",),
    "dmtrack_core.evaluation.redetect": ("redetect",),
    "dmtrack_core.training.cli": ("train",),
    "dmtrack_core.packages": ("data",),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dmtrack", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("dmtrack_core"):
                continue  # that part is not built yet
            raise
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
