"""The package's structure: every module imports alone, the core stays pure and layered."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "napari_autoencoders"
GUI = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "superqt")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(
    module_name(path) for path in PACKAGE.rglob("*.py") if path.name != "__main__.py"
)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules a file imports at its top level (relative ones resolved)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            names.add(".".join(base + ([node.module] if node.module else [])))
    return names


#: Imports each module afresh, the package's other modules unloaded first.
IMPORT_EACH_ALONE = """
import importlib, sys
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.startswith("napari_autoencoders")]:
        del sys.modules[loaded]
    importlib.import_module(name)
"""


@pytest.mark.slow
def test_each_module_imports_alone():
    """No import cycle bites: each module imports alone, in a fresh interpreter."""
    command = [sys.executable, "-c", IMPORT_EACH_ALONE, *MODULES]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_core_imports_no_gui_package():
    for path in (PACKAGE / "core").rglob("*.py"):
        gui = {name for name in imported_modules(path) if name.split(".")[0] in GUI}
        assert not gui, f"{path.name} imports {gui}"


@pytest.mark.parametrize("folder", ["inference", "latent", "io", "nn", "data"])
def test_inference_and_the_lower_layers_do_not_import_training(folder):
    for path in (PACKAGE / "core" / folder).rglob("*.py"):
        assert "napari_autoencoders.core.training" not in imported_modules(path), path.name


#: The heavy libraries that a command imports only if it uses them (seconds each).
SLOW_IMPORTS = ("sklearn", "scipy.stats")
#: Runs the command line's --help, then imports what train and apply need; lists what loaded.
CLI_IMPORTS = """
import contextlib, io, sys
from napari_autoencoders.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["--help"])
import napari_autoencoders.cli.apply, napari_autoencoders.cli.train
print(" ".join(sys.modules))
"""


def test_training_and_applying_do_not_import_scikit_learn():
    # scikit-learn and scipy.stats took 3 of the 13 s a one-step `train` ran
    command = [sys.executable, "-c", CLI_IMPORTS]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = set(result.stdout.split())
    assert not loaded & set(SLOW_IMPORTS)
