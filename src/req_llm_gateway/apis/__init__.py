"""Inbound: one module per client-facing wire format. Each parses the client's body into the canonical
request and renders canonical responses back; pure translation, no I/O."""
