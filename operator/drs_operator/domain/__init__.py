"""Pure structures and decisions: no I/O, no Kubernetes client, no HTTP."""
