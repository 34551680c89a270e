"""sources of the sidecar."""
