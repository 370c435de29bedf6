"""The floor: database, settings, clock, signing and signed links; no domain knowledge."""
