"""Outbox of Delivery rows: claiming with leases, MIME building, transports, retries."""
