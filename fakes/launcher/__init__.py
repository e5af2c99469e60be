"""A fake FMA launcher: fake vLLM children started and stopped over HTTP, mirrored into its pod's annotation."""
