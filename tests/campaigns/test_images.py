"""Pictures: local files stored under content-addressed names and served by ``wildmail serve``,
remote pictures fetched once (from a local HTTP server) to learn their size, width/height in
the email, clear errors for missing or escaping local files."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.images import MediaStore
from campaigns.models import Campaign, Email

pytestmark = pytest.mark.postgres  # the stored sizes and addresses on both backends


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 20)).save(out, "PNG")
    return out.getvalue()


def _article(folder: Path, server_url: str, local: str = "pictures/otter.png") -> Path:
    (folder / "pictures").mkdir(exist_ok=True)
    (folder / "pictures" / "otter.png").write_bytes(_png(300, 200))
    path = folder / "otters.md"
    path.write_text(
        "---\ntitle: Otters\n---\n"
        "Otters are back on the river after forty years away.\n\n"
        f"![A wide river]({server_url}/1200x800.png)\n\n"
        f"## Prints\n\nFive toes, and a tail drag between them.\n\n![Otter prints in mud]({local})\n\n"
        f"## Cubs\n\n![A wide river]({server_url}/1200x800.png)\n\nTwo cubs were filmed at dawn.\n",
        encoding="utf-8",
    )
    return path


def test_pictures_get_sizes_and_local_files_a_public_address(run, cli_env, engine, picture_server):
    path = _article(cli_env, picture_server.url)
    result = run("campaign", "create", path, "--name", "otters")
    assert result.exit_code == 0, result.output
    assert picture_server.hits["/1200x800.png"] == 1  # two emails use it; fetched once
    digest = hashlib.sha256((cli_env / "pictures" / "otter.png").read_bytes()).hexdigest()
    stored = cli_env / "media" / f"{digest}.png"
    assert stored.read_bytes() == (cli_env / "pictures" / "otter.png").read_bytes()
    with Session(engine) as s:
        emails = s.scalars(select(Email).order_by(Email.position)).all()
        assert f'src="{picture_server.url}/1200x800.png"' in emails[0].compiled_html
        assert 'width="544" height="363"' in emails[0].compiled_html  # scaled to the column
        assert f'src="http://testserver/media/{digest}.png"' in emails[1].compiled_html
        assert 'width="300" height="200"' in emails[1].compiled_html  # small pictures keep their size
        assert "max-width:100%" in emails[1].compiled_html.replace(" ", "")
        # a section that opens with a picture shows it as its hero, above the title, column-wide
        cubs = emails[2].compiled_html
        assert cubs.index(f"{picture_server.url}/1200x800.png") < cubs.index("<h1")
        assert 'alt="A wide river"' in cubs and 'width="600"' in cubs
    # recompiling after an edit uses the stored sizes: nothing is fetched again
    assert run("campaign", "edit", "otters", "--position", "1", "--subject", "Otters!").exit_code == 0
    assert picture_server.hits["/1200x800.png"] == 1


def test_unreachable_picture_is_a_notice(run, cli_env, engine, picture_server):
    path = cli_env / "gone.md"
    path.write_text(
        f"# Gone\n\nText before it.\n\n![A picture]({picture_server.url}/missing.png)\n", encoding="utf-8"
    )
    result = run("campaign", "create", path, "--name", "gone")
    assert result.exit_code == 0, result.output
    assert "size unknown (HTTP 404)" in " ".join(result.output.split())
    with Session(engine) as s:
        email = s.scalars(select(Email)).one()
        assert (
            'width="544"' in email.compiled_html
            and "height=" not in email.compiled_html.split("missing.png")[1][:80]
        )


@pytest.mark.parametrize(
    ("local", "message"),
    [
        ("pictures/nothere.png", "not found"),
        ("../outside.png", "is outside the article's folder"),
        ("file:///etc/passwd", "use an http(s) address or a file next to the article"),
        ("otters.md", "not a picture"),
    ],
)
def test_bad_local_picture_is_an_error_and_writes_nothing(
    run, cli_env, engine, picture_server, local, message
):
    (cli_env.parent / "outside.png").write_bytes(_png(10, 10))
    path = _article(cli_env, picture_server.url, local)
    result = run("campaign", "create", path, "--name", "otters")
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and str(path) in " ".join(result.output.split())
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Campaign)) == 0


@pytest.fixture
def settings(settings, tmp_path):
    return replace(settings, media_dir=str(tmp_path / "media"))


def test_media_route_serves_stored_pictures_only(client, settings):
    data = _png(40, 30)
    name, size = MediaStore(settings.media_dir).put(data)
    assert size == (40, 30)
    response = client.get(f"/media/{name}")
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/png"
    assert "immutable" in response.headers["cache-control"]
    (Path(settings.media_dir) / "notes.txt").write_text("private", encoding="utf-8")
    for bad in ("notes.txt", name.upper(), "0" * 64 + ".png", "..%2Fnotes.txt", name.replace(".png", ".txt")):
        assert client.get(f"/media/{bad}").status_code == 404, bad


def test_pictures_inside_a_docx_are_stored_and_served(run, cli_env, engine):
    from tests.conftest import REPO

    path = cli_env / "sparrows.docx"
    path.write_bytes((REPO / "tests" / "corpus" / "articles" / "24-word-with-pictures.docx").read_bytes())
    result = run("campaign", "create", path, "--name", "sparrows")
    assert result.exit_code == 0, result.output
    assert "image wm-embedded/2.png has no alt text" in " ".join(result.output.split())
    stored = sorted(p.name for p in (cli_env / "media").iterdir())
    assert len(stored) == 2
    with Session(engine) as s:
        first, second = s.scalars(select(Email).order_by(Email.position)).all()
        assert 'alt="A cluster of five nest boxes on an ash tree"' in first.compiled_html
        assert 'width="544" height="363"' in first.compiled_html
        assert 'width="400" height="300"' in second.compiled_html
        assert "wm-embedded" not in first.compiled_html + second.compiled_html


def test_a_picture_on_a_private_address_is_not_fetched(run, cli_env, engine, picture_server, monkeypatch):
    """Without fetch_allowed_networks an uploaded article cannot make the server probe its own network."""
    monkeypatch.delenv("WILDMAIL_FETCH_ALLOWED_NETWORKS")
    path = _article(cli_env, picture_server.url)
    result = run("campaign", "create", path, "--name", "otters")
    assert result.exit_code == 0, result.output
    assert picture_server.hits["/1200x800.png"] == 0
    assert "127.0.0.1 is a private, loopback or reserved address" in result.output


def test_each_redirect_hop_is_checked(run, cli_env, engine, picture_server, monkeypatch):
    """A public (here: allowed) host cannot redirect the fetch to a private one."""
    other = picture_server.url.replace("127.0.0.1", "127.0.0.2")
    path = _article(cli_env, f"{picture_server.url}/redirect?to={other}")
    result = run("campaign", "create", path, "--name", "otters")
    assert result.exit_code == 0, result.output
    assert picture_server.hits[f"/redirect?to={other}/1200x800.png"] == 1
    assert "127.0.0.2 is a private, loopback or reserved address" in result.output

    monkeypatch.setenv("WILDMAIL_FETCH_ALLOWED_NETWORKS", "127.0.0.0/8")
    result = run("campaign", "create", path, "--name", "otters-2")
    assert result.exit_code == 0, result.output
    assert "size unknown" not in result.output


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/a.png",
        "http://10.1.2.3/a.png",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:192.168.0.1]/a.png",
        "http://[::1]:8080/a.png",
        "ftp://198.51.100.7/a.png",
        "http://0.0.0.0/a.png",
    ],
)
def test_private_reserved_and_non_http_addresses_are_refused(url):
    from wildmail.core.netguard import BlockedAddress, check_public_url

    with pytest.raises(BlockedAddress):
        check_public_url(url)


def test_a_public_address_passes_and_an_allowed_network_opens_a_private_one():
    from wildmail.core.netguard import check_public_url

    check_public_url("https://93.184.216.34/picture.png")
    check_public_url("http://10.1.2.3/a.png", ("10.0.0.0/8",))


def test_a_malformed_allowed_network_names_the_setting(monkeypatch):
    from wildmail.core.settings import SettingsError, load_settings

    monkeypatch.setenv("WILDMAIL_FETCH_ALLOWED_NETWORKS", "10.0.0.0/8,intranet")
    with pytest.raises(SettingsError, match="WILDMAIL_FETCH_ALLOWED_NETWORKS: 'intranet'"):
        load_settings()
