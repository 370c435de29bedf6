"""The CLI fixtures of the campaign tests (a real SQLite file shared with ``ctx``)."""

from tests.campaigns.conftest import cli_env, run  # noqa: F401  (fixtures)
from tests.dashboard.conftest import fast_hashing, users  # noqa: F401  (fixtures)
