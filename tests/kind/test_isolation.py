"""The firewall check that keeps containers (kind nodes, image builds) off the outer network."""

from __future__ import annotations

import pytest

from eppconf.kind import isolation
from eppconf.kind.cluster import docker_running

#: FORWARD as Docker 20.10 leaves it, with the rules of scripts/docker-engine.sh in DOCKER-USER.
DOCKER_WITH_RULES = """\
-P FORWARD DROP
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i br-0123456789ab ! -o br-0123456789ab -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -i br-+ -j EPPCONF-EGRESS
-A DOCKER-USER -i docker0 -j EPPCONF-EGRESS
-A DOCKER-USER -j RETURN
-A EPPCONF-EGRESS -o docker0 -j RETURN
-A EPPCONF-EGRESS -o br-+ -j RETURN
-A EPPCONF-EGRESS -d 10.0.0.0/8 -j REJECT --reject-with icmp-port-unreachable
-A EPPCONF-EGRESS -d 172.16.0.0/12 -j REJECT --reject-with icmp-port-unreachable
-A EPPCONF-EGRESS -d 192.168.0.0/16 -j REJECT --reject-with icmp-port-unreachable
-A EPPCONF-EGRESS -d 169.254.0.0/16 -j REJECT --reject-with icmp-port-unreachable
"""
PRIVATE = ("10.96.0.1", "172.31.0.1", "192.168.1.1", "169.254.169.254")


def test_the_rules_reject_every_private_destination() -> None:
    assert isolation.leaks(DOCKER_WITH_RULES, PRIVATE, policy_accepts=False) == []


def test_traffic_between_docker_bridges_is_left_to_docker() -> None:
    chains = isolation.parse_rules(DOCKER_WITH_RULES)
    for out in ("br-0123456789ab", "docker0"):
        assert isolation.may_return(chains, "DOCKER-USER", isolation.Packet("br-0123456789ab", out, "172.18.0.3"))


def test_public_destinations_are_not_rejected() -> None:
    assert isolation.leaks(DOCKER_WITH_RULES, ("151.101.2.132",), policy_accepts=False)


@pytest.mark.parametrize(
    "removed",
    [
        "-A FORWARD -j DOCKER-USER",
        "-A DOCKER-USER -i br-+ -j EPPCONF-EGRESS",
        "-A DOCKER-USER -i docker0 -j EPPCONF-EGRESS",
        "-A EPPCONF-EGRESS -d 10.0.0.0/8 -j REJECT --reject-with icmp-port-unreachable",
    ],
)
def test_without_any_one_rule_a_private_destination_leaks(removed: str) -> None:
    listing = DOCKER_WITH_RULES.replace(removed + "\n", "")
    assert isolation.leaks(listing, ("10.96.0.1",), policy_accepts=False)


def test_an_accept_before_the_rules_leaks() -> None:
    listing = DOCKER_WITH_RULES.replace(
        "-A FORWARD -j DOCKER-USER\n", "-A FORWARD -m conntrack --ctstate NEW -j ACCEPT\n-A FORWARD -j DOCKER-USER\n"
    )
    assert isolation.leaks(listing, ("10.96.0.1",), policy_accepts=False)


def test_a_return_before_the_reject_leaks_even_when_unmodelled() -> None:
    listing = DOCKER_WITH_RULES.replace(
        "-A EPPCONF-EGRESS -o docker0 -j RETURN\n",
        "-A EPPCONF-EGRESS -p tcp -j RETURN\n-A EPPCONF-EGRESS -o docker0 -j RETURN\n",
    )
    assert isolation.leaks(listing, ("10.96.0.1",), policy_accepts=False)


def test_an_empty_table_with_accept_policy_leaks() -> None:
    assert isolation.leaks("-P FORWARD ACCEPT\n", ("fd00::1",), policy_accepts=True)


def test_this_host_keeps_containers_off_its_outer_network() -> None:
    """Wherever a Docker Engine runs here, the rules of scripts/docker-engine.sh are in place."""
    if not docker_running():
        pytest.skip("no Docker Engine is running: no container can reach anything")
    isolation.check_isolation()
