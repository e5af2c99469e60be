"""Does this host keep containers away from its outer network?

``scripts/docker-engine.sh`` rejects forwarded traffic from Docker's bridges to private and
link-local ranges (IPv4) and to anything outside Docker's bridges (IPv6). This module checks
that by evaluating the ``filter`` table's FORWARD chain, as ``iptables -S`` prints it, for
probe packets: a packet from a bridge to a private address out of the host's uplink must be
rejected, whatever other rules say. Rules with matches it does not model (conntrack states,
say) are taken to match, so an ACCEPT it cannot rule out counts as a way through.
"""

from __future__ import annotations

import ipaddress
import shlex
import subprocess
from dataclasses import dataclass, field

#: Destinations that containers must never reach through the host (IPv4).
FORBIDDEN_V4 = ("10.96.0.1", "10.255.255.53", "172.31.0.1", "192.168.1.1", "169.254.169.254")
#: The same for IPv6: a unique-local and a global address.
FORBIDDEN_V6 = ("fd00::1", "2001:db8::1")
#: Docker's bridge interfaces (the default one and user networks such as kind's).
BRIDGES = ("docker0", "br-0123456789ab")
#: An interface that leads out of the host.
UPLINK = "eth0"
#: Targets that end a packet's walk.
VERDICTS = {"ACCEPT": True, "DROP": False, "REJECT": False}


class IsolationMissing(RuntimeError):
    """Containers could reach the host's outer network."""


@dataclass(frozen=True)
class Packet:
    """A forwarded packet as the FORWARD chain sees it."""

    in_interface: str
    out_interface: str
    destination: str


@dataclass
class Rule:
    """One ``-A CHAIN ...`` line: the matches this module models, the rest, and the target."""

    matches: dict[str, tuple[bool, str]] = field(default_factory=dict)
    unmodelled: bool = False
    target: str = ""

    @classmethod
    def parse(cls, words: list[str]) -> Rule:
        """A rule from the words after ``-A CHAIN``."""
        rule, negate, index = cls(), False, 0
        while index < len(words):
            word = words[index]
            if word == "!":
                negate = True
            elif word in ("-i", "-o", "-d") and index + 1 < len(words):
                rule.matches[word] = (negate, words[index + 1])
                negate, index = False, index + 1
            elif word == "-j" and index + 1 < len(words):
                rule.target = words[index + 1]
                break
            elif word.startswith("-"):
                rule.unmodelled = True
            index += 1
        return rule

    def matches_packet(self, packet: Packet) -> bool:
        """Whether the modelled matches all hold for PACKET."""
        checks = {
            "-i": lambda value: _interface_matches(value, packet.in_interface),
            "-o": lambda value: _interface_matches(value, packet.out_interface),
            "-d": lambda value: ipaddress.ip_address(packet.destination) in ipaddress.ip_network(value, strict=False),
        }
        return all(checks[option](value) != negate for option, (negate, value) in self.matches.items())


def _interface_matches(pattern: str, interface: str) -> bool:
    return interface.startswith(pattern[:-1]) if pattern.endswith("+") else interface == pattern


def parse_rules(listing: str) -> dict[str, list[Rule]]:
    """Chains of an ``iptables -S`` listing (``-A`` lines only), in order."""
    chains: dict[str, list[Rule]] = {}
    for line in listing.splitlines():
        words = shlex.split(line)
        if len(words) >= 2 and words[0] == "-A":
            chains.setdefault(words[1], []).append(Rule.parse(words[2:]))
    return chains


def may_pass(chains: dict[str, list[Rule]], chain: str, packet: Packet, policy_accepts: bool) -> bool:
    """Whether PACKET may be accepted when it enters CHAIN (over-approximated, see module doc)."""
    for rule in chains.get(chain, []):
        if not rule.matches_packet(packet):
            continue
        if rule.target in VERDICTS:
            if VERDICTS[rule.target]:
                return True
            if not rule.unmodelled:
                return False
        elif rule.target == "RETURN":
            if not rule.unmodelled:
                return policy_accepts
        elif rule.target in chains:
            if may_pass(chains, rule.target, packet, policy_accepts=False):
                return True
            if not rule.unmodelled and not may_return(chains, rule.target, packet):
                return False
    return policy_accepts


def may_return(chains: dict[str, list[Rule]], chain: str, packet: Packet) -> bool:
    """Whether PACKET may come back out of CHAIN rather than meet a verdict there for sure."""
    for rule in chains.get(chain, []):
        if not rule.matches_packet(packet):
            continue
        if rule.target == "RETURN":
            return True
        if rule.unmodelled:
            continue
        if rule.target in VERDICTS or (rule.target in chains and not may_return(chains, rule.target, packet)):
            return False
    return True


def leaks(listing: str, destinations: tuple[str, ...], policy_accepts: bool) -> list[Packet]:
    """The probe packets from Docker's bridges to DESTINATIONS that FORWARD may let through."""
    chains = parse_rules(listing)
    packets = [Packet(bridge, UPLINK, destination) for bridge in BRIDGES for destination in destinations]
    return [packet for packet in packets if may_pass(chains, "FORWARD", packet, policy_accepts)]


def host_network_addresses() -> tuple[str, ...]:
    """One address in each IPv4 network the host is directly attached to, Docker's bridges aside."""
    result = subprocess.run(["ip", "-4", "route", "show", "scope", "link"], capture_output=True, text=True, check=False)
    addresses = []
    for words in (line.split() for line in result.stdout.splitlines()):
        bridge_or_loopback = len(words) >= 3 and (words[2] in ("lo", "docker0") or words[2].startswith("br-"))
        if len(words) >= 3 and words[1] == "dev" and not bridge_or_loopback:
            network = ipaddress.ip_network(words[0], strict=False)
            addresses.append(str(next(network.hosts(), network.network_address)))
    return tuple(addresses)


def _listing(tool: str) -> tuple[str, bool]:
    result = subprocess.run([tool, "-w", "-S"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise IsolationMissing(f"`{tool} -S` failed ({result.stderr.strip()}); cannot check container isolation")
    return result.stdout, "-P FORWARD ACCEPT" in result.stdout.splitlines()


def check_isolation() -> None:
    """Raise :class:`IsolationMissing` unless the host's rules keep containers in (IPv4 and IPv6)."""
    problems = []
    for tool, destinations in (("iptables", FORBIDDEN_V4 + host_network_addresses()), ("ip6tables", FORBIDDEN_V6)):
        listing, policy_accepts = _listing(tool)
        problems += [f"{tool}: {p.in_interface} -> {p.destination} via {p.out_interface}"
                     for p in leaks(listing, destinations, policy_accepts)]
    if problems:
        raise IsolationMissing(
            "forwarded traffic from Docker's bridges may reach the outer network ("
            + "; ".join(problems) + "); run scripts/docker-engine.sh network"
        )
