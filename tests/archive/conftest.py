"""Fixtures borrowed from other test packages: the CLI on this test's database (campaigns), users
(dashboard), and uvicorn with Chromium for the axe check (the dashboard walks)."""

from tests.campaigns.conftest import cli_env, run  # noqa: F401  (fixtures)
from tests.dashboard.conftest import fast_hashing, users  # noqa: F401  (fixtures)
from tests.dashboard.test_walks import app, browser, server  # noqa: F401  (fixtures)
