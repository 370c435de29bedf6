"""Making a series work better from its honest figures: subject tests and resends to non-openers."""
