"""Waiting for real pods: until they match, failing fast (with the reason) when they cannot start."""

from __future__ import annotations

import time
from collections.abc import Callable

from kubernetes import client

POLL_INTERVAL = 0.1
"""Seconds between two reads of a pod while waiting."""
HOPELESS = frozenset({"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName",
                      "CreateContainerConfigError", "CrashLoopBackOff"})
"""Waiting reasons of a container that will not start by itself."""
START_ERROR = "StartError"
"""How a container ends that the runtime failed to start (``RunContainerError`` while waiting): on
a loaded node runc may fail to freeze a cgroup once, and the kubelet retries it, after a back-off
that says ``CrashLoopBackOff`` too. Only a container that ran and ended is hopeless."""
IMAGE_HINT = ("the image must be on the cluster's nodes (no registry is pulled from here): "
              "`kind load docker-image IMAGE --name CLUSTER`")


class PodError(RuntimeError):
    """A pod did not start or did not reach the state waited for; the message says why."""


def is_ready(pod: client.V1Pod) -> bool:
    """Whether the pod's Ready condition is True."""
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def running_with_ip(pod: client.V1Pod) -> bool:
    return pod.status.phase == "Running" and bool(pod.status.pod_ip)


def problem_of(pod: client.V1Pod) -> str | None:
    """Why the pod's container will not run, if it will not."""
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        last = status.last_state.terminated if status.last_state else None
        if waiting is not None and waiting.reason in HOPELESS and not (last and last.reason == START_ERROR):
            hint = f"; {IMAGE_HINT}" if "Image" in waiting.reason else ""
            return f"container {status.name}: {waiting.reason}: {waiting.message or ''}{hint}"
        terminated = status.state.terminated if status.state else None
        if terminated is not None and terminated.reason != START_ERROR:
            return f"container {status.name} terminated ({terminated.reason}, exit code {terminated.exit_code})"
    if pod.status.phase in ("Failed", "Succeeded"):
        return f"pod phase {pod.status.phase}: {pod.status.message or pod.status.reason or ''}"
    return None


def wait_for_pod(core: client.CoreV1Api, namespace: str, name: str, *, until: Callable[[client.V1Pod], bool],
                 what: str, timeout: float, since: float | None = None) -> client.V1Pod:
    """Read pod ``namespace/name`` until ``until`` holds; ``PodError`` saying ``what`` was awaited
    when its container cannot run or ``timeout`` seconds have passed since ``since`` (a
    ``time.monotonic()`` value; now when None)."""
    since = time.monotonic() if since is None else since
    last: client.V1Pod | None = None
    while True:
        try:
            pod = core.read_namespaced_pod(name, namespace)
        except client.ApiException as error:
            if error.status != 404:
                raise
            raise PodError(f"pod {namespace}/{name}: deleted while waiting until {what}"
                           f"{deletion_story(core, namespace, name, last)}") from None
        last = pod
        if until(pod):
            return pod
        problem = problem_of(pod)
        if problem is not None or time.monotonic() - since > timeout:
            why = problem or f"not there after {timeout:g}s ({describe(pod)})"
            raise PodError(f"pod {namespace}/{name}: waiting until {what}: {why}{log_tail(core, pod)}")
        time.sleep(POLL_INTERVAL)


def deletion_story(core: client.CoreV1Api, namespace: str, name: str, last: client.V1Pod | None) -> str:
    """What is known of a pod's deletion, as a message suffix: the condition saying who disrupted it
    (taint manager, eviction, kubelet), the pod as last seen, and its events."""
    parts = []
    if last is not None:
        disruptions = [f"{c.reason}: {c.message}" for c in last.status.conditions or [] if c.type == "DisruptionTarget"]
        parts += [f"disrupted ({'; '.join(disruptions)})"] if disruptions else []
        parts.append(f"last seen: {describe(last)}")
    selector = f"involvedObject.name={name}" + (f",involvedObject.uid={last.metadata.uid}" if last else "")
    try:
        events = core.list_namespaced_event(namespace, field_selector=selector).items
    except client.ApiException:
        events = []
    parts += [f"event {e.reason} from {e.source.component if e.source else '?'}: {e.message}" for e in events[-8:]]
    return "".join(f"; {part}" for part in parts)


def describe(pod: client.V1Pod) -> str:
    """Phase, IP, Ready and the first container's state, on one line."""
    states = []
    for status in pod.status.container_statuses or []:
        state = status.state
        now = ("running" if state and state.running else
               f"waiting ({state.waiting.reason})" if state and state.waiting else
               f"terminated ({state.terminated.reason})" if state and state.terminated else "unknown")
        states.append(f"{status.name} {now}, {status.restart_count} restart(s)")
    unscheduled = [f"unscheduled: {c.message}" for c in pod.status.conditions or []
                   if c.type == "PodScheduled" and c.status == "False" and c.message]
    return (f"phase {pod.status.phase}, IP {pod.status.pod_ip or 'none'}, Ready {is_ready(pod)}"
            + "".join(f", {part}" for part in [*states, *unscheduled]))


def log_tail(core: client.CoreV1Api, pod: client.V1Pod, *, lines: int = 30, previous: bool = False) -> str:
    """The last ``lines`` lines of the pod's first container as a message suffix; empty if none."""
    try:
        text = core.read_namespaced_pod_log(pod.metadata.name, pod.metadata.namespace, tail_lines=lines,
                                            previous=previous)
    except client.ApiException:
        return ""
    return f"; last output:\n{text.rstrip()}" if text and text.strip() else ""
