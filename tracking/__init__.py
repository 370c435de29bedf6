"""Signed tokens, open/click/unsubscribe logic, bot and machine-open rules, event writer."""
