"""A streaming writer of .xlsx workbooks: the consolidado's sheets straight to SpreadsheetML.

Why not openpyxl's write-only mode (what shipped before): it builds a cell object, binds its
type and serialises an element tree for every cell, about 40 µs a cell without lxml, and the
workbook has some 4.7 million cells at 10,000 schools (13 minutes on a loaded machine).
XlsxWriter's constant-memory mode was measured 15 % faster, not the several-fold needed.
This writer knows the few shapes the consolidado writes (text, whole and decimal numbers,
dates, moments, yes/no) and writes each row as one string, so a cell costs about a
microsecond; rows go to the zip as they come, so memory stays bounded whatever the size.

The file is what openpyxl wrote, part for part: inline strings, the same styles (a bold
header, «dd/mm/yyyy», «dd/mm/yyyy hh:mm», «#,##0.0#» and «0»), numbers as «%.16g», dates as
Excel serial days, a frozen header row, column widths and an autofilter (with its hidden
``_xlnm._FilterDatabase`` name, as Excel writes it). Text that a spreadsheet would run as a
formula is quoted (``sheet.cell``); characters XML cannot carry (control characters other
than tab and line breaks) are left out, where openpyxl refused the whole file.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.writer.theme import theme_xml

from workflow.consolidado.sheet import FORMULA_STARTS
from workflow.dates import BOGOTA

# Style ids (the order of ``cellXfs`` in STYLES).
BOLD, INTEGER, DECIMAL, DATE, DATETIME = 1, 2, 3, 4, 5
DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
DECIMAL_FORMAT = "#,##0.0#"
INTEGER_FORMAT = "0"  # Excel's built-in format 1
MAX_TEXT = 32_767  # Excel's limit for a cell's text (openpyxl cut there too)
FLUSH_ROWS = 500  # rows joined before they go to the zip

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml"
INVALID_TITLE = re.compile(r"[\\*?:/\[\]]")
# What text needs before it goes into XML: escaping, or leaving out (XML 1.0 has no place
# for control characters but tab, line feed and carriage return).
NEEDS_WORK = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]")
UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

STYLES = (
    f'<styleSheet xmlns="{MAIN}"><numFmts count="3">'
    f'<numFmt numFmtId="164" formatCode="{DECIMAL_FORMAT}"/>'
    f'<numFmt numFmtId="165" formatCode="{DATE_FORMAT}"/>'
    f'<numFmt numFmtId="166" formatCode="{DATETIME_FORMAT}"/></numFmts>'
    '<fonts count="2"><font><name val="Calibri"/><family val="2"/><color theme="1"/>'
    '<sz val="11"/><scheme val="minor"/></font><font><b val="1"/></font></fonts>'
    '<fills count="2"><fill><patternFill/></fill><fill><patternFill patternType="gray125"/>'
    '</fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/>'
    '</border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
    'borderId="0"/></cellStyleXfs><cellXfs count="6">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="1" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    '</cellStyles></styleSheet>')


def escape(text: str) -> str:
    """``text`` as XML character data (``&``, ``<``, ``>`` escaped, control characters out)."""
    if NEEDS_WORK.search(text) is None:
        return text
    text = UNWRITABLE.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(text: str) -> str:
    return escape(text).replace('"', "&quot;")


def _text(value: str, style: str = "") -> str:
    """A text cell after its reference: ``<c r="A1"`` + this."""
    if not value:  # an empty cell, as openpyxl wrote it (a reader sees the row's full width)
        return f'{style} t="inlineStr"/>'
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    if len(value) > MAX_TEXT:
        value = value[:MAX_TEXT]
    space = ' xml:space="preserve"' if value[0].isspace() or value[-1].isspace() else ""
    return f'{style} t="inlineStr"><is><t{space}>{escape(value)}</t></is></c>'


def _number(value: float | decimal.Decimal) -> str | None:
    if math.isnan(value) or math.isinf(value):
        return None
    return "%.16g" % value  # noqa: UP031 (openpyxl's own rendering of a number)


def _cell(reference: str, value: Any) -> str:
    """One cell of any value but plain text, a whole number or a float (the row loop writes
    those itself, the common cases)."""
    if isinstance(value, str):
        return f'<c r="{reference}"{_text(str(value))}'
    if isinstance(value, bool):
        return f'<c r="{reference}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int):
        return f'<c r="{reference}" s="{INTEGER}"><v>{value}</v></c>'
    if isinstance(value, float | decimal.Decimal):
        number = _number(value)
        return "" if number is None else (
            f'<c r="{reference}" s="{DECIMAL}"><v>{number}</v></c>')
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            # Excel has no time zones: the moment as read in Bogotá, as every page shows it.
            value = value.astimezone(BOGOTA).replace(tzinfo=None)
        return f'<c r="{reference}" s="{DATETIME}"><v>{to_excel(value):.16g}</v></c>'
    if isinstance(value, datetime.date):
        return f'<c r="{reference}" s="{DATE}"><v>{to_excel(value)}</v></c>'
    raise ValueError(f"Cannot write {value!r} to Excel")


CACHED_TEXT = 200  # texts up to this long are escaped once per workbook (names, labels)
CACHE_SIZE = 100_000  # at most this many of them (a few MB)


def row_xml(number: int, row: Iterable[Any], letters: Sequence[str],
            texts: dict[str | datetime.date, str]) -> str:
    """One ``<row>``: ``letters`` are the column letters, ``texts`` the workbook's cache of
    text cells already escaped (the same school, state and área names recur on every
    row), and of day cells (keyed by the ``date``: no text equals one)."""
    suffix = str(number)
    parts = [f'<row r="{suffix}">']
    append = parts.append
    for letter, value in zip(letters, row, strict=False):
        if value is None:
            continue
        kind = value.__class__
        if kind is str:
            tail = texts.get(value)
            if tail is None:
                tail = _text(value)
                if len(value) <= CACHED_TEXT and len(texts) < CACHE_SIZE:
                    texts[value] = tail
            append(f'<c r="{letter}{suffix}"{tail}')
        elif kind is int:
            append(f'<c r="{letter}{suffix}" s="{INTEGER}"><v>{value}</v></c>')
        elif kind is float and value - value == 0:  # finite
            append(f'<c r="{letter}{suffix}" s="{DECIMAL}"><v>{value:.16g}</v></c>')
        elif kind is datetime.date:  # few distinct days (due dates, plan dates) on many rows
            tail = texts.get(value)
            if tail is None:
                tail = f' s="{DATE}"><v>{to_excel(value)}</v></c>'
                if len(texts) < CACHE_SIZE:
                    texts[value] = tail
            append(f'<c r="{letter}{suffix}"{tail}')
        else:
            append(_cell(letter + suffix, value))
    append("</row>")
    return "".join(parts)


def header_xml(header: Sequence[str], letters: Sequence[str]) -> str:
    """The first row: every title bold."""
    bold = f' s="{BOLD}"'
    return ('<row r="1">' + "".join(f'<c r="{letter}1"{_text(title, bold)}'
                                    for letter, title in zip(letters, header, strict=True))
            + "</row>")


def _sheet_head(widths: Sequence[float]) -> str:
    columns = "".join(f'<col min="{index}" max="{index}" width="{width:g}" customWidth="1"/>'
                      for index, width in enumerate(widths, 1))
    return (f'<worksheet xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}"><sheetPr><outlinePr '
            'summaryBelow="1" summaryRight="1"/></sheetPr><sheetViews><sheetView '
            'workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
            'state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
            '</sheetView></sheetViews><sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>'
            + (f"<cols>{columns}</cols>" if columns else "") + "<sheetData>")


class Workbook:
    """A workbook written sheet after sheet to ``out`` (a binary file: a seekable one is not
    needed). ``add_sheet`` per sheet, then ``close``."""

    def __init__(self, out: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED,
                                   compresslevel=1)
        self.titles: list[str] = []
        self.filters: list[str | None] = []
        self.texts: dict[str | datetime.date, str] = {}

    def add_sheet(self, title: str, header: Sequence[str], widths: Sequence[float],
                  rows: Iterable[Sequence[Any]],
                  progress: Callable[[int], None] | None = None) -> int:
        """Write one sheet (a bold header row that stays in view, then ``rows``); returns
        how many rows (the header not counted). ``progress(n)`` after each ``n`` rows
        written (every ``FLUSH_ROWS`` rows and at the end: a call per row cost more than
        writing the row)."""
        title = title[:31]
        if INVALID_TITLE.search(title) or title in self.titles:
            raise ValueError(f"Invalid or repeated sheet title {title!r}")
        self.titles.append(title)
        letters = [get_column_letter(index) for index in range(1, len(header) + 1)]
        name = f"xl/worksheets/sheet{len(self.titles)}.xml"
        written = reported = 0
        with self.zip.open(name, "w") as stream:
            pending = [_sheet_head(widths), header_xml(header, letters)]
            for written, row in enumerate(rows, 1):
                if len(row) > len(letters):  # wider than its header: written all the same
                    letters = [get_column_letter(index) for index in range(1, len(row) + 1)]
                pending.append(row_xml(written + 1, row, letters, self.texts))
                if len(pending) >= FLUSH_ROWS:
                    stream.write("".join(pending).encode())
                    pending.clear()
                    if progress is not None:
                        progress(written - reported)
                        reported = written
            if progress is not None and written > reported:
                progress(written - reported)
            reference = (f"A1:{get_column_letter(len(header))}{written + 1}" if header
                         else None)
            self.filters.append(reference)
            pending.append("</sheetData>")
            if reference:
                pending.append(f'<autoFilter ref="{reference}"/>')
            pending.append('<pageMargins left="0.75" right="0.75" top="1" bottom="1" '
                           'header="0.5" footer="0.5"/></worksheet>')
            stream.write("".join(pending).encode())
        return written

    def close(self) -> None:
        count = len(self.titles)
        sheets = "".join(f'<sheet name="{_attribute(title)}" sheetId="{index}" '
                         f'r:id="rId{index}"/>' for index, title in enumerate(self.titles, 1))
        names = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{index}" hidden="1">'
            + escape("'" + title.replace("'", "''") + "'!" + _absolute(reference))
            + "</definedName>"
            for index, (title, reference) in enumerate(zip(self.titles, self.filters,
                                                           strict=True))
            if reference)
        parts = {
            "[Content_Types].xml": (
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                'package.relationships+xml"/><Default Extension="xml" ContentType='
                '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
                f'"{SPREADSHEET}.sheet.main+xml"/><Override PartName="/xl/styles.xml" '
                f'ContentType="{SPREADSHEET}.styles+xml"/><Override PartName='
                '"/xl/theme/theme1.xml" ContentType="application/vnd.openxmlformats-'
                'officedocument.theme+xml"/><Override PartName="/docProps/app.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.extended-'
                'properties+xml"/>'
                + "".join(f'<Override PartName="/xl/worksheets/sheet{index}.xml" '
                          f'ContentType="{SPREADSHEET}.worksheet+xml"/>'
                          for index in range(1, count + 1)) + "</Types>"),
            "_rels/.rels": (
                f'<Relationships xmlns="{PACKAGE_RELATIONSHIPS}"><Relationship Id="rId1" '
                f'Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/>'
                f'<Relationship Id="rId2" Type="{RELATIONSHIPS}/extended-properties" '
                'Target="docProps/app.xml"/></Relationships>'),
            "docProps/app.xml": (
                '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
                'extended-properties"><Application>Microsoft Excel</Application>'
                '</Properties>'),
            "xl/workbook.xml": (
                f'<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}"><workbookPr/>'
                '<bookViews><workbookView activeTab="0"/></bookViews>'
                f"<sheets>{sheets}</sheets>"
                + (f"<definedNames>{names}</definedNames>" if names else "")
                + '<calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'),
            "xl/_rels/workbook.xml.rels": (
                f'<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
                + "".join(f'<Relationship Id="rId{index}" Type="{RELATIONSHIPS}/worksheet" '
                          f'Target="worksheets/sheet{index}.xml"/>'
                          for index in range(1, count + 1))
                + f'<Relationship Id="rId{count + 1}" Type="{RELATIONSHIPS}/styles" '
                  'Target="styles.xml"/>'
                + f'<Relationship Id="rId{count + 2}" Type="{RELATIONSHIPS}/theme" '
                  'Target="theme/theme1.xml"/></Relationships>'),
            "xl/styles.xml": STYLES,
            "xl/theme/theme1.xml": theme_xml,
        }
        for name, xml in parts.items():
            self.zip.writestr(name, xml)
        self.zip.close()


def _absolute(reference: str) -> str:
    """«A1:N6» as «$A$1:$N$6»."""
    return ":".join("$" + re.sub(r"(\d+)$", r"$\1", corner) for corner in reference.split(":"))
