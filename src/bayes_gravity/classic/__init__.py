"""classic layer (see docs/architecture.md)."""
