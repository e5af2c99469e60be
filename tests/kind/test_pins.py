"""The scripts and eppconf.kind agree on versions and image names (one pinned Kubernetes release)."""

from __future__ import annotations

import re

from eppconf.controlplane.binaries import KUBERNETES_VERSION
from eppconf.kind import BASE_IMAGE, KIND_VERSION, LOCAL_NODE_IMAGE
from eppconf.resources import resource


def _default(script: str, variable: str) -> str:
    text = resource(script).read_text()
    match = re.search(rf'^{variable}="\$\{{{variable}:-([^}}]+)\}}"$', text, re.MULTILINE)
    assert match, f"{script} sets no default for {variable}"
    return match.group(1)


def test_the_scripts_build_the_kubernetes_release_the_suite_pins() -> None:
    assert _default("scripts/lib/gobuild.sh", "KUBERNETES_VERSION") == KUBERNETES_VERSION


def test_the_node_script_builds_the_kind_release_and_image_eppconf_kind_uses() -> None:
    assert _default("scripts/build-kind-node.sh", "KIND_VERSION") == KIND_VERSION
    text = resource("scripts/build-kind-node.sh").read_text()
    assert 'NODE_IMAGE="eppconf.local/kind-node:$KUBERNETES_VERSION"' in text
    assert LOCAL_NODE_IMAGE == f"eppconf.local/kind-node:{KUBERNETES_VERSION}"


def test_the_debian_base_image_is_the_one_eppconf_kind_names() -> None:
    suite = _default("scripts/lib/debian.sh", "DEBIAN_SUITE")
    assert 'DEBIAN_IMAGE="eppconf.local/debian:$DEBIAN_SUITE"' in resource("scripts/lib/debian.sh").read_text()
    assert BASE_IMAGE == f"eppconf.local/debian:{suite}"
