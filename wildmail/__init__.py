"""wildmail application shell: settings, database, CLI and web app."""
