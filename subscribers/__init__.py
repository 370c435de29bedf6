"""Subscribers, lists, consent lifecycle, CSV import/export and suppression."""
