"""Email templates: choosing them by name, loading them through Jinja's sandbox, validating their MJML.

A campaign names its template (``default``, ``letter``, ...); the name is looked up in the
shipped ``templates/email/`` folder and, when the operator sets ``template_dir``, in that
folder first. Paths are never accepted, so a marketer cannot make the server read a file of
its choosing, and every template renders in an immutable sandbox, so none can reach Python.

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
from jinja2.sandbox import ImmutableSandboxedEnvironment

from templates import EMAIL_DIR

TEMPLATE_DIR = EMAIL_DIR
HTML_TEMPLATE = "email.mjml.j2"
TEXT_TEMPLATE = "email.txt.j2"
DEFAULT_NAME = "default"
SUFFIX = ".mjml.j2"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

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


class UnknownTemplate(TemplateProblem):
    """No template has that name; says which names exist and nothing about the file system."""

    def __init__(self, spec: str, names: list[str]) -> None:
        shown = spec if len(spec) <= 200 else spec[:197] + "..."
        message = f"unknown template {shown!r}; available: {', '.join(names)}"
        ValueError.__init__(self, message)  # the message alone, without TemplateProblem's prefix
        self.template, self.line, self.reason = spec, None, message


@lru_cache(maxsize=16)
def environment(search: tuple[str, ...]) -> jinja2.Environment:
    """A sandboxed Jinja environment over ``search`` dirs: autoescape for MJML/HTML, strict undefined."""
    return ImmutableSandboxedEnvironment(
        loader=ValidatingLoader(list(search)),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("mjml", "html", "mjml.j2", "html.j2"), default_for_string=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def search_path(template_dir: str = "") -> tuple[str, ...]:
    """The template folders, the operator's (``template_dir`` setting) before the shipped one."""
    shipped = str(TEMPLATE_DIR)
    return (str(Path(template_dir).resolve()), shipped) if template_dir else (shipped,)


def _file_name(name: str) -> str:
    return HTML_TEMPLATE if name == DEFAULT_NAME else name + SUFFIX


def available(template_dir: str = "") -> list[str]:
    """Names of the email templates in the template folders (layouts named ``base*`` excluded)."""
    names = set()
    for folder in search_path(template_dir):
        for path in Path(folder).glob("*" + SUFFIX):
            stem = path.name.removesuffix(SUFFIX)
            name = DEFAULT_NAME if path.name == HTML_TEMPLATE else stem
            if NAME.fullmatch(stem) and not stem.startswith("base") and stem != DEFAULT_NAME:
                names.add(name)
    return sorted(names)


def canonical(spec: str) -> str:
    """The template name a campaign stores: ``""`` is ``default``; ``letter.mjml.j2`` (stored by
    earlier versions) is ``letter``. Anything else is returned unchanged, for :func:`resolve` to judge."""
    spec = spec.strip()
    if spec in ("", HTML_TEMPLATE):
        return DEFAULT_NAME
    stem = spec.removesuffix(SUFFIX)
    return stem if stem != spec and NAME.fullmatch(stem) else spec


def resolve(spec: str, template_dir: str = "") -> tuple[tuple[str, ...], str]:
    """Search path and HTML template file for a template name; :class:`UnknownTemplate` otherwise.

    Only names listed by :func:`available` are accepted; a path of any kind is an unknown name,
    with the same message whether or not such a file exists.
    """
    name = canonical(spec)
    names = available(template_dir)
    if name not in names:
        raise UnknownTemplate(spec, names)
    return search_path(template_dir), _file_name(name)


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
