"""The README's REST API flow, its curl lines taken literally from README.md and run by bash against
the app under uvicorn: list -> subscribe -> campaign from the article -> schedule -> status -> stats
-> import. ``curl`` is wrapped with ``--fail`` so any error answer stops the script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO


def api_block(readme: str) -> str:
    """The ```sh block after "The full flow from a shell" in the "REST API" section."""
    section = readme.split("## REST API", 1)[1].split("\n## ", 1)[0]
    after = section.split("The full flow from a shell", 1)[1]
    match = re.search(r"```sh\n(.*?)```", after, flags=re.S)
    assert match, "the REST API section has no curl block"
    return match.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_readme_curl_flow_runs_as_written(api_server, ctx, tmp_path: Path) -> None:
    block = api_block((REPO / "README.md").read_text(encoding="utf-8"))
    assert "http://127.0.0.1:8000/api/v1" in block
    samples = tmp_path / "campaigns" / "samples"
    samples.mkdir(parents=True)
    shutil.copy(REPO / "campaigns" / "samples" / "amur-leopard.md", samples)
    (tmp_path / "people.csv").write_text("email,name\nbo@example.org,Bo\n", encoding="utf-8")
    token = api_server.make_token("lists:write,subscribers:write,campaigns:write,stats:read", name="crm")
    script = 'set -euo pipefail\ncurl() { command curl --fail-with-body -sS "$@"; echo; }\n' + block.replace(
        "http://127.0.0.1:8000", api_server.url
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert answers[0]["slug"] == "supporters"
    assert answers[1]["outcome"] == "confirmation_sent" and answers[2]["outcome"] == "activated"
    assert answers[3]["status"] == "draft" and answers[4]["enrolled"] == 1
    assert answers[5]["status"] == "scheduled" and answers[6]["campaign"] == "amur-leopard"
    assert answers[7]["state"] in ("running", "done")
