"""Inbound client APIs: one module per client-facing wire format. Each parses the client's body into the
canonical request and renders canonical responses and chunks back; pure, no I/O."""
