"""pipeline of the sidecar."""
