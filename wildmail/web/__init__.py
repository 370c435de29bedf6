"""The FastAPI web app: tracking endpoints, public pages and the dashboard."""
