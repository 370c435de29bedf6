"""Every template, rendered by Jinja, passes the official MJML compiler in strict validation.

``mjml --validate strict`` would read "strict" as a file name; strict validation is
``mjml -r FILE --config.validationLevel=strict``, which fails on any invalid tag or attribute.
"""

from __future__ import annotations

import subprocess

import pytest

from campaigns import templates
from campaigns.render import Branding, EmailContent, render_email
from tests.conftest import REPO

MJML_BIN = REPO / "node_modules" / ".bin" / "mjml"
pytestmark = pytest.mark.skipif(not MJML_BIN.exists(), reason="npm mjml not installed")

CONTENT = EmailContent(
    1,
    3,
    "A title",
    "A subject",
    "A preheader.",
    ["Some *emphasis* and a [link](https://example.org/a).", "- one\n- two", "Plain & simple."],
    2,
    "markdown",
)


def _strict(path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MJML_BIN), "-r", str(path), "--config.validationLevel=strict", "-s"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("name", templates.available())
@pytest.mark.parametrize("donation", ["https://give.example/", ""])
def test_template_passes_strict_validation(tmp_path, name, donation):
    brand = Branding("Org", "Street 1, Town", "Series", donation, "Give", "http://testserver/", template=name)
    source = render_email(CONTENT, brand).mjml
    path = tmp_path / f"{name}.mjml"
    path.write_text(source, encoding="utf-8")
    result = _strict(path)
    assert result.returncode == 0, result.stderr or result.stdout


def test_strict_validation_catches_a_bad_attribute(tmp_path):
    path = tmp_path / "bad.mjml"
    path.write_text(
        '<mjml><mj-body><mj-section><mj-column><mj-text colour="red">x</mj-text></mj-column></mj-section>'
        "</mj-body></mjml>",
        encoding="utf-8",
    )
    result = _strict(path)
    assert result.returncode != 0
    assert "colour" in result.stdout + result.stderr
