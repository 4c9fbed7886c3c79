"""The A4 page and DejaVu fonts every PDF of the portal draws with, the fonts read once per process.

fpdf2 parses a TrueType file at each `add_font` (DejaVu's 6,000 glyphs: about 35 ms a style)
and, when it writes the document, has fontTools' subsetter cut the font down to the glyphs
used (about 4 ms a style even from a small font: the subsetter reads and rewrites every table).
Here each style is parsed once per process: a document gets a copy of the parsed font with its
own subset map (which characters it used). Once per process too, each style is cut to a
repertoire of the characters documents write (the Latin letters of every European language,
punctuation, currency signs), kept as its tables' bytes and each glyph's outline. A document's
font is written from them (`_FontWriter`): the repertoire's tables as they are (same glyph
numbers, widths, hinting) with the outlines of the glyphs drawn, of the glyphs an accented
letter is composed of, and of .notdef; the others are left empty. A document using a glyph
outside the repertoire (a customer's name in Greek, say) has its font cut from the whole font
by fontTools' subsetter, as fpdf2 does.
"""

import copy
import logging
import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path

from fontTools import subset, ttLib
from fontTools.ttLib.sfnt import SFNTWriter
from fpdf import FPDF
from fpdf.enums import MethodReturnValue
from fpdf.fonts import CoreFont, SubsetMap, TTFFont
from fpdf.output import (
    CIDSystemInfo,
    OutputProducer,
    PDFExtGState,
    PDFFont,
    PDFFontStream,
    PDFType3Font,
    PDFXObject,
    _build_cmap_blocks,
    _tt_font_widths,
)
from fpdf.pattern import Pattern
from fpdf.syntax import Name, PDFArray, PDFContentStream

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
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Face:
    """One style of the font, read once: fpdf2's parse of it, and its repertoire cut to write documents' fonts from."""

    path: Path
    parsed: TTFFont
    # The repertoire font's tables as written, in the order fontTools wrote them; a document's rebuilds glyf and loca.
    tables: tuple[tuple[str, bytes], ...]
    # Each repertoire glyph's entry of the glyf table, by glyph id.
    outlines: tuple[bytes, ...]
    # Repertoire glyph ids by glyph name (the whole font's names, which fpdf2's subset map gives).
    glyph_ids: Mapping[str, int]
    # The glyphs a composite glyph (é: e and ´) is drawn from, at any depth, by glyph id.
    components: Mapping[int, frozenset[int]]

    def program(self, glyph_names: Collection[str]) -> tuple[bytes, Mapping[str, int]]:
        """A TrueType font holding the glyphs `glyph_names` (and .notdef), and its glyph ids by name."""
        if not all(name in self.glyph_ids for name in glyph_names):
            return _cut_from_whole_font(self.path, glyph_names)
        kept = {0}
        for name in glyph_names:
            glyph_id = self.glyph_ids[name]
            kept.add(glyph_id)
            kept |= self.components.get(glyph_id, frozenset())
        glyf, offsets = bytearray(), [0]
        for glyph_id, outline in enumerate(self.outlines):
            if glyph_id in kept:
                glyf += outline
            offsets.append(len(glyf))
        # Short offsets (halved), as the repertoire's head table says: `_face` checked it holds.
        rebuilt = {"glyf": bytes(glyf), "loca": struct.pack(f">{len(offsets)}H", *(offset // 2 for offset in offsets))}
        written = BytesIO()
        writer = SFNTWriter(written, len(self.tables))
        for tag, data in self.tables:
            writer[tag] = rebuilt.get(tag, data)
        writer.close()  # writes the table directory and the head table's whole-font checksum
        return written.getvalue(), self.glyph_ids


def _cut_options() -> subset.Options:
    options = subset.Options(notdef_outline=True, recommended_glyphs=True)
    # Tables fpdf2 drops from what it embeds: it does not shape text.
    options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta"]
    return options


@cache
def _face(style: str) -> _Face:
    path = FONTS / _FILES[style]
    reader = FPDF()
    reader.add_font(FAMILY, style, str(path))
    parsed = reader.fonts[f"{FAMILY.lower()}{style}"]
    assert isinstance(parsed, TTFFont)
    font = _opened(path)
    subsetter = subset.Subsetter(_cut_options())
    subsetter.populate(unicodes=[code for code in _REPERTOIRE if code in parsed.cmap])
    subsetter.subset(font)
    written = BytesIO()
    font.save(written)
    # The cut font held here still knows the whole font's glyph names (fpdf2's subset map gives
    # those); read back from its bytes, which keep none (as fpdf2's cuts), it gives what is written.
    names = font.getGlyphOrder()
    repertoire = _opened(BytesIO(written.getvalue()))
    assert repertoire["head"].indexToLocFormat == 0, "short glyph offsets: the repertoire's glyphs weigh under 128 KiB"
    offsets, outlines = repertoire["loca"], repertoire.reader["glyf"]
    return _Face(
        path, parsed,
        tables=tuple((tag, repertoire.reader[tag]) for tag in repertoire.reader.keys()),
        outlines=tuple(outlines[offsets[glyph_id]:offsets[glyph_id + 1]] for glyph_id in range(len(names))),
        glyph_ids={name: glyph_id for glyph_id, name in enumerate(names)},
        components={font.getGlyphID(name): _parts(font, name) for name in names if font["glyf"][name].isComposite()},
    )


def _parts(font: ttLib.TTFont, name: str) -> frozenset[int]:
    """The ids of the glyphs composite glyph `name` is drawn from, at any depth."""
    glyf = font["glyf"]
    parts = glyf[name].getComponentNames(glyf)
    return frozenset(map(font.getGlyphID, parts)).union(*(_parts(font, part) for part in parts if glyf[part].isComposite()))


def _cut_from_whole_font(path: Path, glyph_names: Collection[str]) -> tuple[bytes, Mapping[str, int]]:
    font = _opened(path)
    subsetter = subset.Subsetter(_cut_options())
    subsetter.populate(glyphs=glyph_names)
    subsetter.subset(font)
    written = BytesIO()
    font.save(written)
    return written.getvalue(), {name: font.getGlyphID(name) for name in glyph_names}


def _opened(file: Path | BytesIO) -> ttLib.TTFont:
    # As fontTools' own subsetter opens fonts: glyphs keep their stored bounding boxes, so
    # writing the cut font copies each glyph's bytes instead of decoding and re-encoding it.
    return ttLib.TTFont(file, recalcTimestamp=False, recalcBBoxes=False, lazy=True)


class _FontWriter(OutputProducer):
    """fpdf2's writer of the PDF file, but for the fonts' program, which `_Face.program` cuts.

    fpdf2 lets a document choose its writer (`FPDF.output(output_producer_class=...)`). The
    objects written for a font are those fpdf2's own `OutputProducer._add_fonts` writes for a
    TrueType font, in the same order; tests/billing/test_pdf_fonts.py compares the two, so an
    fpdf2 upgrade that writes fonts otherwise fails there.
    """

    def _add_fonts(self, image_objects_per_index: dict[int, PDFXObject],
                   gfxstate_objs_per_name: dict[str, PDFExtGState],
                   pattern_objs_per_name: dict[str, Pattern]) -> dict[int, PDFFont | PDFType3Font]:
        # (fpdf2 draws colour fonts' glyphs with the images, states and patterns passed; DejaVu has none.)
        return {font.i: self._add_font(font) for font in sorted(self.fpdf.fonts.values(), key=lambda font: font.i)}

    def _add_font(self, font: TTFFont | CoreFont) -> PDFFont:
        assert isinstance(font, TTFFont), "a DocumentPdf draws with its DejaVu fonts only"
        name = f"MPDFAA+{font.name}"
        if font.missing_glyphs:
            _LOG.warning("Font %s is missing the following glyphs: %s", name,
                         ", ".join(f"{chr(code)!r} (U+{code:04X})" for code in font.missing_glyphs))
        program, glyph_ids = _face(font.fontkey.removeprefix(FAMILY.lower())).program(
            font.subset.get_all_glyph_names())

        composite = PDFFont(subtype="Type0", base_font=name, encoding="Identity-H")
        self._add_pdf_obj(composite, "fonts")
        cid_font = PDFFont(subtype="CIDFontType2", base_font=name, d_w=font.desc.missing_width,
                           w=_tt_font_widths(font))
        self._add_pdf_obj(cid_font, "fonts")
        composite.descendant_fonts = PDFArray([cid_font])
        # Which characters each code shows, for searching and copying the text.
        to_unicode = PDFContentStream(_to_unicode_cmap(font).encode("latin-1"))
        self._add_pdf_obj(to_unicode, "fonts")
        composite.to_unicode = to_unicode
        cid_font.c_i_d_system_info = CIDSystemInfo()
        self._add_pdf_obj(cid_font.c_i_d_system_info, "fonts")
        # A copy: the parsed font's descriptor is every document's, and it takes this document's object number.
        descriptor = copy.copy(font.desc)
        descriptor.font_name = Name(name)
        self._add_pdf_obj(descriptor, "fonts")
        cid_font.font_descriptor = descriptor
        # The glyph each 16-bit code draws, two bytes a code: every code, as fpdf2 writes it.
        code_to_glyph = bytearray(2 * 0x10000)
        for glyph, code in font.subset.items():
            if glyph is not None:
                struct.pack_into(">H", code_to_glyph, 2 * code, glyph_ids[glyph.glyph_name])
        cid_font.c_i_d_to_g_i_d_map = PDFContentStream(code_to_glyph, compress=True)
        self._add_pdf_obj(cid_font.c_i_d_to_g_i_d_map, "fonts")
        embedded = PDFFontStream(program)
        self._add_pdf_obj(embedded, "fonts")
        descriptor.font_file2 = embedded  # type: ignore[attr-defined]  # an attribute fpdf2 adds so too
        # As fpdf2 does after writing a font: its per-character caches and the font file let go.
        font.subset.pick.cache_clear()
        font.subset.get_glyph.cache_clear()
        font.close()
        return composite


def _to_unicode_cmap(font: TTFFont) -> str:
    mappings = [f"<{code:04X}> <{''.join(map(chr, glyph.unicode)).encode('utf-16-be').hex().upper()}>\n"
                for glyph, code in font.subset.items()
                if glyph is not None and isinstance(glyph.unicode, tuple) and glyph.unicode]
    return ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
            f"{_build_cmap_blocks(mappings, 'bfchar')}"
            "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend")


class DocumentPdf(FPDF):
    """An A4 document with the DejaVu fonts ("DejaVu", regular and bold) already added."""

    def __init__(self) -> None:
        super().__init__(format="A4")
        for style in _FILES:
            font = copy.copy(_face(style).parsed)
            # What fpdf2 keeps per document: the font's number in it, the characters used, and the
            # font file its own writer (a plain `output()`) cuts them from in place and closes.
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
        """The document written out, each font holding the glyphs drawn (see `_FontWriter`)."""
        return bytes(self.output(output_producer_class=_FontWriter))
