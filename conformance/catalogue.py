"""Conformance tests as data: ``ConformanceTest`` and the explicit ``Registry`` that holds them.

Importable without the harness; a test body receives the per-test harness when it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conformance.features import Feature

if TYPE_CHECKING:
    from conformance.harness.session import Harness

Body = Callable[["Harness"], None]
VIRTUAL_PODS, IN_CLUSTER = "virtual-pods", "in-cluster"
TOPOLOGIES = (VIRTUAL_PODS, IN_CLUSTER)
"""Where a run's pods live: pods the harness kubelet runs (its status written by the harness, fake
servers on 127.x IPs), or real pods of the cluster's kubelets."""


@dataclass(frozen=True)
class ConformanceTest:
    """One conformance test: what it checks, which features it needs, and its body."""

    name: str
    """Short CamelCase name; the pytest id and the name in the report."""
    description: str
    """One sentence saying what an EPP must do to pass."""
    features: frozenset[Feature]
    """Features the test needs; it runs only if the chosen profiles cover them."""
    rules: tuple[str, ...]
    """IDs of the rules of docs/spec.md it checks, e.g. ``("PD-12",)``."""
    body: Body
    """The test itself, called with the per-test harness."""
    faults: tuple[str, ...] = ()
    """Faults of the reference EPP (``eppconf reference-epp --fault NAME``) this test must fail
    against: the bugs it is written to catch, checked by the project's own tests."""
    provisional: bool = False
    """A new test still being proven: it runs and is reported, but a failure fails no profile."""
    virtual_pods_only: str = ""
    """Why the test needs what only the harness kubelet can do (choose, change or clear a pod IP, keep
    a deleted pod Ready): it is reported not applicable to the in-cluster topology. Empty: it runs
    in every topology."""

    def not_applicable_to(self, topology: str) -> str | None:
        """Why the test does not apply to ``topology``, or ``None`` when it does."""
        if topology == IN_CLUSTER and self.virtual_pods_only:
            return self.virtual_pods_only
        return None


class Registry:
    """An ordered set of conformance tests with unique names."""

    def __init__(self, tests: Iterable[ConformanceTest] = ()) -> None:
        self._tests: dict[str, ConformanceTest] = {}
        for test in tests:
            self.add(test)

    def add(self, test: ConformanceTest) -> None:
        """Add a test; a name already taken is a ``ValueError``."""
        if test.name in self._tests:
            raise ValueError(f"conformance test {test.name!r} is registered twice")
        self._tests[test.name] = test

    def test(self, *, name: str, description: str, features: Iterable[Feature],
             rules: Iterable[str], faults: Iterable[str],
             provisional: bool = False, virtual_pods_only: str = "") -> Callable[[Body], Body]:
        """Decorator registering the decorated function as the body of a new test."""
        def register(body: Body) -> Body:
            self.add(ConformanceTest(name=name, description=description, features=frozenset(features),
                                     rules=tuple(rules), body=body, faults=tuple(faults),
                                     provisional=provisional, virtual_pods_only=virtual_pods_only))
            return body
        return register

    def get(self, name: str) -> ConformanceTest:
        """The test with this name; ``KeyError`` if there is none."""
        return self._tests[name]

    def __iter__(self) -> Iterator[ConformanceTest]:
        return iter(self._tests.values())

    def __len__(self) -> int:
        return len(self._tests)

    def __contains__(self, name: object) -> bool:
        return name in self._tests

    @classmethod
    def merge(cls, *registries: Registry) -> Registry:
        """One registry holding the tests of all of these, in order."""
        return cls(test for registry in registries for test in registry)
