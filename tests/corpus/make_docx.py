# ruff: noqa: E501 - XML parts and prose are clearer on one line each
"""Write the corpus' Word documents (tests/corpus/articles/*.docx) from the specs below.

A .docx is a zip of XML parts (ECMA-376); this writes the few parts Word and mammoth need:
paragraphs with a style (Title, Heading1, Heading2 or none), runs in bold or italic, and
hyperlinks. Run it after changing a spec: ``.venv/bin/python tests/corpus/make_docx.py``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).parent / "articles"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
LINK = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"

Run = tuple[
    str, str
]  # (text, "" | "b" | "i" | "link:<url>" | "img:<width>x<height>"), an image's text is its alt
IMAGE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"
WP = "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
PIC = "http://schemas.openxmlformats.org/drawingml/2006/picture"


def png(width: int, height: int) -> bytes:
    """A plain PNG of that size (zlib and struct only)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x2a\x78\x3c" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _drawing(rid: str, alt: str, number: int) -> str:
    return (
        f'<w:r><w:drawing><wp:inline xmlns:wp="{WP}"><wp:extent cx="3048000" cy="2032000"/>'
        f'<wp:docPr id="{number}" name="Picture {number}" descr={quoteattr(alt)}/>'
        f'<a:graphic xmlns:a="{A}"><a:graphicData uri="{PIC}"><pic:pic xmlns:pic="{PIC}">'
        f'<pic:nvPicPr><pic:cNvPr id="0" name="image{number}.png"/><pic:cNvPicPr/></pic:nvPicPr>'
        f'<pic:blipFill><a:blip r:embed="{rid}"/></pic:blipFill><pic:spPr/></pic:pic></a:graphicData></a:graphic>'
        "</wp:inline></w:drawing></w:r>"
    )


Para = tuple[str, list[Run]]  # (style, runs)


def _run(text: str, kind: str) -> str:
    props = {"b": "<w:rPr><w:b/></w:rPr>", "i": "<w:rPr><w:i/></w:rPr>"}.get(kind, "")
    return f'<w:r>{props}<w:t xml:space="preserve">{escape(text)}</w:t></w:r>'


def document(paragraphs: list[Para], media: dict[str, bytes]) -> tuple[str, str]:
    body: list[str] = []
    rels: list[str] = []
    for style, runs in paragraphs:
        parts = [f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""]
        for text, kind in runs:
            if kind.startswith("img:"):
                rid = f"rImg{len(media) + 1}"
                target = f"media/image{len(media) + 1}.png"
                width, height = (int(v) for v in kind[4:].split("x"))
                media[f"word/{target}"] = png(width, height)
                rels.append(f'<Relationship Id="{rid}" Type="{IMAGE}" Target="{target}"/>')
                parts.append(_drawing(rid, text, len(media)))
            elif kind.startswith("link:"):
                rid = f"rLink{len(rels) + 1}"
                rels.append(
                    f'<Relationship Id="{rid}" Type="{LINK}" Target={quoteattr(kind[5:])} TargetMode="External"/>'
                )
                parts.append(f'<w:hyperlink r:id="{rid}">{_run(text, "")}</w:hyperlink>')
            else:
                parts.append(_run(text, kind))
        body.append(f"<w:p>{''.join(parts)}</w:p>")
    xml = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{W}" xmlns:r="{R}"><w:body>{"".join(body)}</w:body></w:document>'
    rel_xml = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{"".join(rels)}</Relationships>'
    return xml, rel_xml


STYLES = "".join(
    f'<w:style w:type="paragraph" w:styleId="{sid}"><w:name w:val="{name}"/></w:style>'
    for sid, name in (("Title", "Title"), ("Heading1", "heading 1"), ("Heading2", "heading 2"))
)


def write(path: Path, paragraphs: list[Para], title: str = "") -> None:
    media: dict[str, bytes] = {}
    doc, doc_rels = document(paragraphs, media)
    core = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><cp:coreProperties '
        'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{escape(title)}</dc:title></cp:coreProperties>'
    )
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Default Extension="png" ContentType="image/png"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            '<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>'
        ),
        "word/document.xml": doc,
        "word/_rels/document.xml.rels": doc_rels.replace(
            "</Relationships>",
            '<Relationship Id="rStyles" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>',
        ),
        "word/styles.xml": f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:styles xmlns:w="{W}">{STYLES}</w:styles>',
        "docProps/core.xml": core,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), text)
        for name, data in media.items():
            archive.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)


def p(text: str) -> Para:
    return ("", [(text, "")])


REPORT: list[Para] = [
    ("Title", [("Annual report: the heathland year", "")]),
    p(
        "Heathland is rarer than rainforest. Our reserve holds one of the last large stretches of it in the county, and this was a good year for it."
    ),
    ("Heading1", [("Reptiles", "")]),
    (
        "",
        [
            ("Volunteers counted ", ""),
            ("all six", "b"),
            (
                " native reptile species on the reserve, including the sand lizard, which was reintroduced here in 2011.",
                "",
            ),
        ],
    ),
    p(
        "Adders were seen basking on the south-facing banks from early March, a month earlier than in our first survey."
    ),
    ("Heading1", [("Birds", "")]),
    (
        "",
        [
            ("Nightjars returned to nine territories. Their churring song on warm June evenings is ", ""),
            ("the", "i"),
            (" sound of the heath.", ""),
        ],
    ),
    ("Heading2", [("Dartford warblers", "")]),
    p("After two mild winters, the Dartford warbler population has recovered to twenty pairs."),
    ("Heading1", [("Work parties", "")]),
    (
        "",
        [
            (
                "Volunteers cleared birch saplings from four hectares, so the heather can breathe. Join a work party through our ",
                "",
            ),
            ("events page", "link:https://example.org/events"),
            (".", ""),
        ],
    ),
]

NO_TITLE_STYLE: list[Para] = [
    p(
        "The sea wall at Saltmarsh End was breached on purpose last autumn, letting the tide back onto fields that were drained two hundred years ago."
    ),
    ("Heading1", [("Why let the sea in?", "")]),
    p(
        "Salt marsh absorbs the energy of waves and storms, so a wide marsh protects the new sea wall behind it better than any extra concrete would."
    ),
    p("It also stores carbon in its mud, faster per hectare than most forests."),
    ("Heading1", [("Who moved in", "")]),
    (
        "",
        [
            ("Within months, redshank, curlew and ", ""),
            ("thousands", "b"),
            (" of wintering wigeon were feeding on the new marsh.", ""),
        ],
    ),
    p(
        "Samphire and sea lavender are already spreading across the mud, and young bass shelter in the creeks at high tide."
    ),
]


PICTURES: list[Para] = [
    ("Title", [("Nest boxes for tree sparrows", "")]),
    p(
        "Tree sparrows nest in colonies, so one box is rarely enough. This spring our volunteers put up forty boxes in clusters of five along the old railway line."
    ),
    ("", [("A cluster of five nest boxes on an ash tree", "img:1200x800")]),
    ("Heading1", [("The first broods", "")]),
    p(
        "By the end of May, twenty-six boxes held eggs, and the first chicks fledged in the second week of June."
    ),
    ("", [("", "img:400x300")]),
    p("Most pairs raised a second brood, and a few managed a third before the end of August."),
]


def main() -> None:
    write(HERE / "21-word-report.docx", REPORT)
    write(HERE / "22-word-core-title.docx", NO_TITLE_STYLE, title="Letting the sea back in")
    write(HERE / "24-word-with-pictures.docx", PICTURES)
    good = (HERE / "21-word-report.docx").read_bytes()
    (HERE / "23-corrupt.docx").write_bytes(good[: len(good) // 2])


if __name__ == "__main__":
    main()
