"""The in-cluster topology: fake model servers as real pods, the EPP as a Deployment, one agent pod.

The harness reaches pods only through the Kubernetes API: one ``kubectl port-forward`` to the
agent pod (``eppconf agent``, an HTTP forward proxy with CONNECT tunnels), which relays the fakes'
control APIs and the EPP's ext_proc and health ports on their pod IPs.
"""
