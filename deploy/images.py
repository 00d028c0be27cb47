"""The images as docker-compose.yml builds them: the root Dockerfile with one part's build args.

There is one Dockerfile; `docker-compose.yml` names the part of each image in its build args
(PART, PART_DIR, PORT, WEB). `dockerfile(name)` is the recipe of the image of compose service
`name` with every `${ARG}` replaced as Docker would, for the checks that read it
(tests/deploy/test_dockerfiles.py) and for deploy/dryrun_images.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
# the image of each part (mail-in, the relay and the one-shots reuse these)
PARTS = ("auth", "tickets", "triage", "notifier", "gateway")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def build_args(name: str) -> dict[str, str]:
    """The build args docker-compose.yml gives the image of service `name`."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    build = compose["services"][name]["build"]
    assert build["dockerfile"] == "Dockerfile", name
    return {key: str(value) for key, value in build.get("args", {}).items()}


def dockerfile(name: str) -> str:
    """The Dockerfile's text for the image of `name`, its ARGs substituted (others left as written)."""
    text = DOCKERFILE.read_text()
    values = {m[1]: m[2] for m in re.finditer(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE)} | build_args(name)

    def substitute(value: str) -> str:
        return _VARIABLE.sub(lambda m: values.get(m[1] or m[2], m[0]), value)

    for _ in range(3):  # a default may name another ARG (PART_DIR=services/${PART})
        values = {key: substitute(value) for key, value in values.items()}
    return substitute(text)
