"""Process wiring: opening a context, schema upgrades, the single-message mailer, dashboard users."""
