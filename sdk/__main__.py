"""``python -m medsynth``: the ``medsynth`` command line, e.g. under ``torchrun -m medsynth train ...``.

Only the click group is imported here; a command's heavy dependencies (torch for ``train``) are imported
when that command runs.
"""

from medsynth.cli import main

if __name__ == "__main__":
    main(prog_name="medsynth")
