"""Email templates: finding them, loading them through Jinja, validating their MJML.

mjml-python passes unknown tags silently, so every template source is checked when
Jinja loads it: an unknown ``mj-`` tag, or padding shorthand on ``mj-divider`` (which
MRML renders wrongly for Outlook), fails with the template name and line. Jinja errors
are reported the same way.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import jinja2

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates" / "email"
HTML_TEMPLATE = "email.mjml.j2"
TEXT_TEMPLATE = "email.txt.j2"

MJML_TAGS = frozenset(
    {
        "mjml",
        "mj-head",
        "mj-body",
        "mj-attributes",
        "mj-all",
        "mj-class",
        "mj-breakpoint",
        "mj-font",
        "mj-html-attributes",
        "mj-html-attribute",
        "mj-selector",
        "mj-preview",
        "mj-style",
        "mj-title",
        "mj-include",
        "mj-accordion",
        "mj-accordion-element",
        "mj-accordion-title",
        "mj-accordion-text",
        "mj-button",
        "mj-carousel",
        "mj-carousel-image",
        "mj-column",
        "mj-divider",
        "mj-group",
        "mj-hero",
        "mj-image",
        "mj-navbar",
        "mj-navbar-link",
        "mj-raw",
        "mj-section",
        "mj-social",
        "mj-social-element",
        "mj-spacer",
        "mj-table",
        "mj-text",
        "mj-wrapper",
    }
)
TAG = re.compile(r"<(mj(?:ml|-[A-Za-z0-9-]*))(?=[\s/>])([^>]*)>")
DIVIDER_SHORTHAND = re.compile(r"(?<![-\w])padding\s*=")


class TemplateProblem(ValueError):
    """A template is missing or broken; names the template and line."""

    def __init__(self, template: str, message: str, line: int | None = None) -> None:
        self.template = template
        self.line = line
        self.reason = message
        where = f"{template}:{line}" if line is not None else template
        super().__init__(f"template {where}: {message}")


def validate_mjml(source: str, name: str) -> None:
    """Raise :class:`TemplateProblem` for unknown MJML tags or ``mj-divider`` padding shorthand."""
    for match in TAG.finditer(source):
        tag, attrs = match.group(1).lower(), match.group(2)
        line = source.count("\n", 0, match.start()) + 1
        if tag not in MJML_TAGS:
            raise TemplateProblem(name, f"unknown MJML tag <{tag}>", line)
        if tag == "mj-divider" and DIVIDER_SHORTHAND.search(attrs):
            raise TemplateProblem(
                name, "mj-divider needs padding-top/-right/-bottom/-left, not the padding shorthand", line
            )


class ValidatingLoader(jinja2.FileSystemLoader):
    """A file loader that validates every ``.mjml`` template it hands to Jinja."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if ".mjml" in template:
            validate_mjml(source, template)
        return source, filename, uptodate


@lru_cache(maxsize=16)
def environment(search: tuple[str, ...]) -> jinja2.Environment:
    """A Jinja environment over ``search`` dirs: autoescape for MJML/HTML, strict undefined."""
    return jinja2.Environment(
        loader=ValidatingLoader(list(search)),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("mjml", "html", "mjml.j2", "html.j2"), default_for_string=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def resolve(spec: str) -> tuple[tuple[str, ...], str]:
    """Search path and HTML template name for a campaign's ``template`` setting.

    ``""``: the default. A file name inside ``templates/email/`` (e.g. ``letter.mjml.j2``):
    that template. A directory: its ``email.mjml.j2``/``email.txt.j2``/``base.mjml.j2``
    override the defaults. A file path: that template, with the defaults for the rest.
    """
    default = str(TEMPLATE_DIR)
    if not spec:
        return (default,), HTML_TEMPLATE
    inside = TEMPLATE_DIR / spec
    if not Path(spec).is_absolute() and ".." not in Path(spec).parts and inside.is_file():
        return (default,), Path(spec).as_posix()
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / HTML_TEMPLATE).is_file():
            raise TemplateProblem(spec, f"template directory has no {HTML_TEMPLATE}")
        return (str(path.resolve()), default), HTML_TEMPLATE
    if path.is_file():
        return (str(path.resolve().parent), default), path.name
    raise TemplateProblem(spec, "template not found (a file in templates/email/, a file or a directory)")


def builtin_templates() -> list[str]:
    """Names of the HTML templates shipped in ``templates/email/`` (layouts excluded)."""
    return sorted(p.name for p in TEMPLATE_DIR.glob("*.mjml.j2") if not p.name.startswith("base"))


def _error_line(exc: BaseException, search: tuple[str, ...]) -> tuple[str, int | None]:
    """The template name and line a Jinja runtime error happened at (from the traceback)."""
    found: tuple[str, int | None] = ("?", None)
    for frame in traceback.extract_tb(exc.__traceback__):
        for base in search:
            if frame.filename.startswith(base.rstrip("/") + "/"):
                found = (frame.filename[len(base.rstrip("/")) + 1 :], frame.lineno)
    return found


def render(search: tuple[str, ...], name: str, context: dict[str, object]) -> str:
    """Render a template, turning every Jinja problem into :class:`TemplateProblem`."""
    env = environment(search)
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(exc.name or name, exc.message or "syntax error", exc.lineno) from None
    except jinja2.TemplateNotFound as exc:
        raise TemplateProblem(name, f"template {exc.name!r} not found") from None
    except jinja2.TemplateError as exc:
        where, line = _error_line(exc, search)
        raise TemplateProblem(where if line else name, exc.message or str(exc), line) from None
