"""The harness: cluster providers, EPP launchers, the kubelet and the per-test ``Harness``.

Tests reach the world only through these and the gateway client and endpoint observer.
"""
