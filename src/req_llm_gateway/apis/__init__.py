"""Inbound wire formats: one module per client-facing API, parsing its body into the canonical request and
rendering canonical responses and chunks back. Pure translation, no I/O."""
