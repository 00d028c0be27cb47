"""Boundaries the architecture promises, checked on the source tree."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _checker():
    spec = importlib.util.spec_from_file_location("check_imports", ROOT / "scripts" / "check_imports.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_imports"] = module
    spec.loader.exec_module(module)
    return module


def test_no_service_imports_another_services_package():
    assert _checker().violations() == []


def test_the_checker_sees_a_forbidden_import(tmp_path):
    package = tmp_path / "services" / "notifier" / "notifier"
    package.mkdir(parents=True)
    (package / "rogue.py").write_text("from tickets.models import metadata\nimport shared.events\n")
    (tmp_path / "shared" / "shared").mkdir(parents=True)
    (tmp_path / "shared" / "shared" / "bad.py").write_text("import gateway.app\n")
    found = _checker().violations(tmp_path)
    assert found == [
        "services/notifier/notifier/rogue.py imports 'tickets' (a package of another service)",
        "shared/shared/bad.py imports 'gateway': shared must not depend on a service",
    ]
