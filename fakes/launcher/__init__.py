"""A fake FMA launcher: fake vLLM children started and stopped over HTTP, mirrored into its pod's annotation.

Import from here (not from ``fakes``, which stays free of the Kubernetes client).
"""

from __future__ import annotations

from fakes.launcher.annotator import AnnotatorError, PodAnnotator
from fakes.launcher.app import FakeLauncher

__all__ = ["AnnotatorError", "FakeLauncher", "PodAnnotator"]
