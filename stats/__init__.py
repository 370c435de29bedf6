"""Read-only queries and the figures staff see (shared by CLI and dashboard)."""
