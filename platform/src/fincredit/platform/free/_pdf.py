"""Fast PDF documents for reports, on ``fincredit.platform.core.pdf``'s fonts.

fpdf2 reads and subsets the whole TrueType file for every document; for the CJK fallback font (tens of
thousands of glyphs) that costs most of a report's time. Here each font is cut down once per process to
the characters reports use in practice — ASCII and Latin, general punctuation, and the 7,445 characters
of GB 2312 (every character of the national standard's hanzi and symbol rows) — and the lean fonts are
kept as bytes. A document whose text is entirely inside that set is set with the lean fonts; any other
document (a rare character in a name, say) falls back to ``pdf.new_document`` with the full fonts, so
nothing is ever printed with a missing glyph.
"""

from __future__ import annotations

import io
import tempfile
import threading
from pathlib import Path

from fontTools import subset as ft_subset
from fontTools import ttLib
from fpdf import FPDF

from fincredit.platform.core.pdf import CJK_FONTS, LATIN_BOLD_FONTS, LATIN_FONTS, FontsMissing, new_document

_lock = threading.Lock()
_lean_files: dict[str, Path] = {}
_dir = Path(tempfile.mkdtemp(prefix="fincredit-fonts-"))


def _gb2312() -> set[int]:
    chars: set[int] = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes([hi, lo]).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return chars


LATIN = set(range(0x20, 0x250)) | set(range(0x2000, 0x2070)) | {0x20AC, 0x2122, 0x2116}
CHARSET: frozenset[int] = frozenset(
    LATIN | _gb2312() | set(range(0x3000, 0x3040)) | set(range(0xFF00, 0xFFF0))
)


def _path(paths: list[Path], package: str) -> Path:
    for p in paths:
        if p.exists():
            return p
    raise FontsMissing(f"no font at {paths[0]}: install the Debian package {package}")


def _lean(name: str, path: Path, unicodes: set[int]) -> Path:
    with _lock:
        found = _lean_files.get(name)
        if found is None:
            font = ttLib.TTFont(str(path), recalcTimestamp=False)
            options = ft_subset.Options()
            options.layout_features = []
            options.notdef_outline = True
            options.name_IDs = ["*"]
            options.drop_tables += ["FFTM"]
            sub = ft_subset.Subsetter(options)
            sub.populate(unicodes=sorted(unicodes))
            sub.subset(font)
            found = _dir / f"{name}.ttf"
            out = io.BytesIO()
            font.save(out)
            found.write_bytes(out.getvalue())
            _lean_files[name] = found
        return found


def fast_document(title: str, text: str = "") -> FPDF:
    """``pdf.new_document`` on lean fonts when every character of ``text`` is covered, else the original."""
    if any(ord(c) not in CHARSET for c in text if c >= " "):
        return new_document(title)
    latin = _path(LATIN_FONTS, "fonts-dejavu-core")
    bold = next((p for p in LATIN_BOLD_FONTS if p.exists()), latin)
    cjk = _path(CJK_FONTS, "fonts-droid-fallback")
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("fincredit")
    pdf.add_font("body", "", str(_lean("body", latin, LATIN)))
    pdf.add_font("body", "B", str(_lean("bodyB", bold, LATIN)))
    pdf.add_font("cjk", "", str(_lean("cjk", cjk, set(CHARSET))))
    pdf.set_fallback_fonts(["cjk"], exact_match=False)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("body", size=10)
    return pdf
