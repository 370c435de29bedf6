"""One owner per concept: one CampaignError, no placeholder pages, thin campaign CLI and routes."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("campaigns", "delivery", "subscribers", "tracking", "stats", "wildmail")
THIN = (
    "wildmail/cli/campaign.py",
    "wildmail/cli/campaign_send.py",
    "wildmail/web/dashboard/routes_campaigns.py",
)


def _production_files(*suffixes: str) -> list[Path]:
    files = [ROOT / "scheduler.py"]
    for package in PRODUCTION:
        files += [p for p in (ROOT / package).rglob("*") if p.suffix in suffixes]
    files += [p for p in (ROOT / "templates").rglob("*") if p.suffix in suffixes]
    return files


def test_campaign_error_is_defined_once() -> None:
    owners = [
        str(path.relative_to(ROOT))
        for path in _production_files(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef) and node.name == "CampaignError"
    ]
    assert owners == ["delivery/lifecycle.py"]


def test_no_placeholder_pages_for_features_that_exist() -> None:
    found = [
        str(path.relative_to(ROOT))
        for path in _production_files(".py", ".html")
        if "Not available yet" in path.read_text(encoding="utf-8")
    ]
    assert found == []


QUERY_METHODS = {"execute", "scalar", "scalars", "query", "expunge_all"}


def test_campaign_cli_and_routes_run_no_queries_and_no_dynamic_dispatch() -> None:
    """They may hold a session to pass on (``sqlalchemy.orm.Session``), but build and run no query."""
    for name in THIN:
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        nodes = list(ast.walk(tree))
        imported = {alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in nodes if isinstance(node, ast.ImportFrom)}
        assert not imported & {"sqlalchemy", "importlib"}, name
        calls = [node.func for node in nodes if isinstance(node, ast.Call)]
        assert "getattr" not in {f.id for f in calls if isinstance(f, ast.Name)}, name
        assert not QUERY_METHODS & {f.attr for f in calls if isinstance(f, ast.Attribute)}, name
