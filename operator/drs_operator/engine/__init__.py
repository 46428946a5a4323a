"""The running operator (no kopf): index, refresher, connections, writer, serving."""
