"""Fail when a service (or the gateway) imports another service's package: only `shared` is common.

Runtime code (`shared`, the services, the gateway) never imports test tooling either: pytest and
`helpdesk_testing` (the workspace member `testing/`) are dev dependencies, absent from the images.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "auth": "services/auth",
    "tickets": "services/tickets",
    "triage": "services/triage",
    "notifier": "services/notifier",
    "gateway": "gateway",
}

TEST_TOOLS = {"pytest", "helpdesk_testing"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def violations(root: Path = ROOT) -> list[str]:
    found = []
    for own, folder in PACKAGES.items():
        foreign = set(PACKAGES) - {own}
        for path in sorted((root / folder).rglob("*.py")):
            if ".venv" in path.parts or "node_modules" in path.parts:
                continue
            for name in sorted(imported_roots(path) & foreign):
                found.append(f"{path.relative_to(root)} imports {name!r} (a package of another service)")
    for folder in ["shared/shared", *(f"{f}/{p}" for p, f in PACKAGES.items())]:
        for path in sorted((root / folder).rglob("*.py")):
            for name in sorted(imported_roots(path) & TEST_TOOLS):
                found.append(f"{path.relative_to(root)} imports {name!r}: test tooling is not in the images")
    shared = root / "shared"
    for path in sorted(shared.rglob("*.py")):
        for name in sorted(imported_roots(path) & set(PACKAGES)):
            found.append(f"{path.relative_to(root)} imports {name!r}: shared must not depend on a service")
    return found


def main() -> int:
    found = violations()
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print("imports: no service imports another service's package")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
