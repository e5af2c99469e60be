"""The reference Endpoint Picker (``eppconf reference-epp``): Kubernetes watch, scraping, ext_proc.

It implements docs/spec.md on top of :mod:`eppconf.datastore` and speaks Envoy ext_proc like GIE
v1.5.0's EPP. Its public face is the command; ``eppconf.refepp.app`` (``Options``,
``ReferenceEPP``) embeds it in a process. Every other module is internal.
"""
