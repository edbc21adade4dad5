"""Importing the app's main.py as module `main`."""

from __future__ import annotations

import importlib.util
import os
import sys
import types


def import_main(app_dir: str) -> types.ModuleType:
    """Imports APP_DIR/main.py as module `main`, with the app folder first on sys.path so main.py's own
    imports find the app's modules. bridge.py has already taken its own folder off sys.path, so this
    takes the place it had."""
    path = os.path.join(app_dir, "main.py")
    sys.path.insert(0, app_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No main.py in {app_dir}")
    spec = importlib.util.spec_from_file_location("main", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as `import main` would: dataclasses and pickle look it up by name.
    sys.modules["main"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop("main", None)
        raise
    return module
