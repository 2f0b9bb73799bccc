"""Fast PDF documents for reports: ``fincredit.platform.pdf``'s fonts, parsed once per process.

fpdf2 parses a TrueType file on every ``add_font`` (about a second for the CJK fallback font on this
machine), which would dominate every report. Here each font is parsed once into a template
``TTFFont``; a document gets a shallow copy with its own glyph subset and a fresh lazily-read
``fontTools`` font over the cached file bytes — fpdf2 subsets that object in place when it writes the
file, so it must never be shared between documents.
"""

from __future__ import annotations

import copy
import io
import threading
from pathlib import Path

from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

from ..pdf import CJK_FONTS, LATIN_BOLD_FONTS, LATIN_FONTS, FontsMissing

_lock = threading.Lock()
_templates: dict[str, tuple[TTFFont, bytes]] = {}


def _path(paths: list[Path], package: str) -> Path:
    for p in paths:
        if p.exists():
            return p
    raise FontsMissing(f"no font at {paths[0]}: install the Debian package {package}")


def _template(fontkey: str, family: str, style: str, path: Path) -> tuple[TTFFont, bytes]:
    with _lock:
        found = _templates.get(fontkey)
        if found is None:
            raw = _lean(path)
            scratch = FPDF()
            scratch.add_font(family, style, str(path))
            found = (scratch.fonts[fontkey], raw)
            _templates[fontkey] = found
        return found


# Layout tables serve shaping, which these documents do not use; without them (and with glyph names
# stored, so the glyph order need not be rebuilt from the cmap) fpdf2's per-document subsetting reads
# far less of the font.
_DROP = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "morx", "kern")


def _lean(path: Path) -> bytes:
    font = ttLib.TTFont(str(path), recalcTimestamp=False)
    font.getGlyphOrder()
    for tag in _DROP:
        if tag in font:
            del font[tag]
    if "post" in font and font["post"].formatType == 3.0:
        font["post"].formatType = 2.0
        font["post"].extraNames = []
        font["post"].mapping = {}
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _attach(pdf: FPDF, fontkey: str, family: str, style: str, path: Path) -> None:
    template, raw = _template(fontkey, family, style, path)
    font = copy.copy(template)
    font.i = len(pdf.fonts) + 1
    font.ttfont = ttLib.TTFont(io.BytesIO(raw), recalcTimestamp=False, lazy=True)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = SubsetMap(font)
    pdf.fonts[fontkey] = font


def fast_document(title: str) -> FPDF:
    """Same as ``pdf.new_document``: A4, fonts "body" (+ bold) and the CJK fallback, first page added."""
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("fincredit")
    latin = _path(LATIN_FONTS, "fonts-dejavu-core")
    bold = next((p for p in LATIN_BOLD_FONTS if p.exists()), latin)
    _attach(pdf, "body", "body", "", latin)
    _attach(pdf, "bodyB", "body", "B", bold)
    _attach(pdf, "cjk", "cjk", "", _path(CJK_FONTS, "fonts-droid-fallback"))
    pdf.set_fallback_fonts(["cjk"], exact_match=False)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("body", size=10)
    return pdf
