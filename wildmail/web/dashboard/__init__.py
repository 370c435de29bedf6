"""The dashboard: login, roles, CSRF, stats pages and the marketer's campaign and list pages."""
