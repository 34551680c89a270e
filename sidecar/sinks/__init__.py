"""sinks of the sidecar."""
