"""The A4 page and DejaVu fonts every PDF of the portal draws with, the fonts read once per process.

fpdf2 parses a TrueType file at each `add_font` (DejaVu's 6,000 glyphs: about 35 ms a style)
and, when it writes the document, cuts the whole font down to the glyphs used (another 20 ms
a style). Here each style is parsed once per process: a document gets a copy of the parsed
font with its own subset map (which characters it used), and `pdf_bytes()` cuts the embedded
font from a smaller one holding the characters documents write (the Latin letters of every
European language, punctuation, currency signs), itself cut once per process. A document
using a glyph outside it (a customer's name in Greek, say) is cut from the whole font, as
fpdf2 does.
"""

import copy
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path

from fontTools import subset, ttLib
from fpdf import FPDF
from fpdf.enums import MethodReturnValue
from fpdf.fonts import SubsetMap, TTFFont

FONTS = Path(__file__).parent.parent / "fonts"
FAMILY = "DejaVu"
_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
# Basic Latin, Latin-1, Latin Extended-A, Romanian's commas below, general punctuation, currency signs.
_REPERTOIRE = [*range(0x20, 0x7F), *range(0xA0, 0x180), *range(0x218, 0x21C), *range(0x2000, 0x2070),
               *range(0x20A0, 0x20C1)]
# How texts broke into lines, by font, size, width and text: the legal mentions, terms and
# footer of every document are measured once per process. Emptied when full.
_WRAPPED: dict[tuple[str, str, float, float, str], list[str]] = {}
_WRAPPED_MAX = 4096


@dataclass(frozen=True)
class _Face:
    """One style of the font, read once: fpdf2's parse of it, and the smaller font to embed from."""

    path: Path
    parsed: TTFFont
    repertoire_font: bytes
    repertoire_glyphs: frozenset[str]


@cache
def _face(style: str) -> _Face:
    path = FONTS / _FILES[style]
    reader = FPDF()
    reader.add_font(FAMILY, style, str(path))
    parsed = reader.fonts[f"{FAMILY.lower()}{style}"]
    assert isinstance(parsed, TTFFont)
    font = _opened(path)
    # Glyph names kept: fpdf2 finds the glyphs it picked from the whole font's map by name.
    options = subset.Options(notdef_outline=True, recommended_glyphs=True, glyph_names=True)
    # Tables fpdf2 drops from what it embeds (it does not shape text), so it need not read them each time.
    options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[code for code in _REPERTOIRE if code in parsed.cmap])
    subsetter.subset(font)
    written = BytesIO()
    font.save(written)
    return _Face(path, parsed, written.getvalue(), frozenset(font.getGlyphOrder()))


def _opened(file: Path | BytesIO) -> ttLib.TTFont:
    # As fontTools' own subsetter opens fonts: glyphs keep their stored bounding boxes, so
    # writing the cut font copies each glyph's bytes instead of decoding and re-encoding it.
    return ttLib.TTFont(file, recalcTimestamp=False, recalcBBoxes=False, lazy=True)


class DocumentPdf(FPDF):
    """An A4 document with the DejaVu fonts ("DejaVu", regular and bold) already added."""

    def __init__(self) -> None:
        super().__init__(format="A4")
        for style in _FILES:
            font = copy.copy(_face(style).parsed)
            # What fpdf2 keeps per document: the font's number in it, the characters used, and
            # the font file it cuts them from when writing (which it changes in place).
            font.i = len(self.fonts) + 1
            font.subset = SubsetMap(font)
            font.missing_glyphs = []
            font.biggest_size_pt = 0
            font.ttfont = _opened(font.ttffile)
            self.fonts[font.fontkey] = font

    def wrapped(self, text: str, width: float) -> list[str]:
        """The lines `text` breaks into in a cell `width` wide, in the current font."""
        if "\n" not in text and self.get_string_width(text) <= width - 2 * self.c_margin:
            return [text]  # most cells: one line, no need of fpdf2's line breaking
        key = (self.font_family, self.font_style, self.font_size_pt, width, text)
        if (lines := _WRAPPED.get(key)) is not None:
            return lines
        measured = self.multi_cell(width, 1, text, dry_run=True, output=MethodReturnValue.LINES)
        assert isinstance(measured, list)
        if len(_WRAPPED) >= _WRAPPED_MAX:
            _WRAPPED.clear()
        _WRAPPED[key] = measured
        return measured

    def paragraph(self, height: float, text: str, *, width: float = 0, align: str = "L") -> None:
        """`text` as `multi_cell` draws it from here (`width` 0: up to the right margin), one cell a line
        `height` high, its wrapping remembered; the cursor ends at the left margin below it."""
        x = self.x
        width = width or self.w - self.r_margin - x
        for line in self.wrapped(text, width):
            self.set_x(x)
            self.cell(width, height, line, align=align, new_x="LEFT", new_y="NEXT")
        self.set_x(self.l_margin)

    def fit(self, text: str, width: float) -> str:
        """`text` shortened with an ellipsis so it fits in a cell `width` wide, in the current font."""
        if self.get_string_width(text) <= width - 2:
            return text
        while text and self.get_string_width(text + "…") > width - 2:
            text = text[:-1]
        return text + "…"

    def pdf_bytes(self) -> bytes:
        """The document written out, its fonts cut from the smaller font whenever it holds every glyph used."""
        for style in _FILES:
            face = _face(style)
            font = self.fonts[f"{FAMILY.lower()}{style}"]
            assert isinstance(font, TTFFont)
            if set(font.subset.get_all_glyph_names()) <= face.repertoire_glyphs:
                font.ttfont = _opened(BytesIO(face.repertoire_font))
        return bytes(self.output())
