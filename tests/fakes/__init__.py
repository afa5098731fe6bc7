"""Fake provider upstreams speaking the real wire formats, served on loopback."""
