"""PDF documents (credit reports, statements, supervision reports) with Chinese text.

fpdf2 embeds TrueType fonts; DejaVu Sans covers Latin and digits, and Droid Sans Fallback (Debian's
``fonts-droid-fallback``, installed by ``scripts/system-deps.sh``) covers CJK. Each glyph is taken from
the first font that has it, so mixed text such as "统一社会信用代码 91350100M000100Y43" renders whole."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

LATIN_FONTS = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
LATIN_BOLD_FONTS = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")]
CJK_FONTS = [
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    Path("/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf"),
]


class FontsMissing(RuntimeError):
    pass


def _first(paths: list[Path], package: str) -> Path:
    for path in paths:
        if path.exists():
            return path
    raise FontsMissing(
        f"no font at {paths[0]}: install the Debian package {package} (see scripts/system-deps.sh)"
    )


def new_document(title: str) -> FPDF:
    """An A4 document with the fonts registered as "body" (+ bold) and the CJK fallback set."""
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("fincredit")
    pdf.add_font("body", "", str(_first(LATIN_FONTS, "fonts-dejavu-core")))
    bold = next((p for p in LATIN_BOLD_FONTS if p.exists()), None)
    pdf.add_font("body", "B", str(bold or _first(LATIN_FONTS, "fonts-dejavu-core")))
    pdf.add_font("cjk", "", str(_first(CJK_FONTS, "fonts-droid-fallback")))
    pdf.set_fallback_fonts(["cjk"], exact_match=False)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("body", size=10)
    return pdf


def table(pdf: FPDF, header: list[str], rows: list[list[str]], widths: list[float] | None = None) -> None:
    """A simple bordered table that breaks across pages."""
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=6) as t:
        head = t.row()
        for cell in header:
            head.cell(cell)
        for values in rows:
            row = t.row()
            for value in values:
                row.cell(value)
