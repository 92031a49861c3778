"""A contact or deal file as rows of (header, value) pairs, whatever wrote it: a CSV in any
encoding and with any delimiter (Excel's "Unicode Text" is UTF-16 with tabs), or a vCard
2.1/3.0/4.0 file holding any number of contacts.

A CSV is streamed: the file is never held whole, in bytes or in text. Its encoding is settled
before the first row is read (a BOM; else one pass checking that every byte is UTF-8, which is
cheap; else detection on a sample), so a file that is not what it seemed is refused before
anything is written rather than halfway through."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

Pairs = list[tuple[str, str]]
DELIMITERS = ",;\t|^~"
SNIFF_BYTES = 64 * 1024
CHUNK = 1 << 20  # bytes read at a time when checking the encoding
WHOLE_DETECTION = 4 << 20  # files up to this size have their encoding detected on every byte
csv.field_size_limit(1 << 20)  # a note may be long; a 1 MB field is not a note

# What can be wrong with a file, in English (the shell's words); a chat reply says the same from
# its code and values in the member's language.
PROBLEMS = {
    "cannot_read": "cannot read {name}: {error}",
    "not_text": "{name} is not a text file",
    "bad_bom": "{name} says it is {encoding} but byte {byte} is not",
    "bad_encoding": "{name}, row {row}: not {encoding} text",
    "empty": "{name} is empty",
    "no_header": "{name} has no header row",
    "bad_row": "{name}, row {row}: {error}",
    "bad_contact": "{name}, contact {number}: {error}",
    "no_name_column": "{name} has no name column (found: {found})",
    "no_customer_column": "{name} has deals but no column saying who they are with (found: {found})",
}


class UnreadableFile(Exception):
    """The file cannot be read at all: nothing is written. `code` names the problem and
    `values` its details, so each reader can be told in their language; str() is English."""

    def __init__(self, code: str, **values: object) -> None:
        super().__init__(PROBLEMS[code].format(**values))
        self.code = code
        self.values = values


@dataclass
class Source:
    kind: str  # "csv" or "vcard"
    headers: list[str]
    rows: Iterator[tuple[int, Pairs]]  # (row number as a spreadsheet shows it, or contact number; pairs)
    encoding: str = "utf-8"
    stream: BinaryIO | None = field(default=None, repr=False)
    name: str = "file"  # as the reader calls it: in every message about it

    @property
    def unit(self) -> str:
        return "contact" if self.kind == "vcard" else "row"

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _detected(sample: bytes, name: str) -> str:
    from charset_normalizer import from_bytes  # only files that are not UTF-8 need it

    best = from_bytes(sample).best()
    if best is None:
        raise UnreadableFile("not_text", name=name)
    return best.encoding


def _text_line(line: bytes) -> bool:
    """A header row as text files have them: UTF-8 (or ASCII), printable, more than a word."""
    try:
        text = line.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        return False
    return len(text) > 3 and all(c.isprintable() or c == "\t" for c in text)


def encoding_of(stream: BinaryIO, name: str) -> str:
    """The encoding of the whole stream, read once in chunks (left at its start again). A BOM
    is believed; UTF-8 is tried next (most files are); anything else is detected from the
    bytes (cp1250, GB18030, UTF-16 without a BOM…)."""
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    if b"\x00" in head:  # UTF-16 without a BOM, or not text at all
        first_line = head.find(b"\n")
        at = head.index(b"\x00")
        if 0 < first_line < at and _text_line(head[:first_line]):  # a text file whose later row holds binary bytes
            raise UnreadableFile("bad_row", name=name, row=head.count(b"\n", 0, at) + 1,
                                 error="binary bytes (NUL) in a text file: a damaged or pasted row")
        return _detected(head, name)
    decoder = codecs.getincrementaldecoder("utf-8")()
    position = 0
    try:
        while chunk := stream.read(CHUNK):
            decoder.decode(chunk)
            position += len(chunk)
        decoder.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError as error:
        failed_at = position + error.start
    finally:
        stream.seek(0)
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    if size <= WHOLE_DETECTION:
        sample = stream.read()
    else:  # the start and the stretch where UTF-8 failed: enough to tell one encoding from another
        sample = stream.read(SNIFF_BYTES)
        stream.seek(max(0, failed_at - 4 * SNIFF_BYTES))
        sample += stream.read(8 * SNIFF_BYTES)
    stream.seek(0)
    return _detected(sample, name)


def _head_text(stream: BinaryIO, encoding: str, name: str) -> str:
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    try:
        return codecs.getincrementaldecoder(encoding)().decode(head)  # a character cut at the end waits
    except UnicodeDecodeError as error:
        if encoding in ("utf-8-sig", "utf-16"):
            raise UnreadableFile("bad_bom", name=name, encoding=encoding, byte=error.start) from error
        raise UnreadableFile("bad_encoding", name=name, row=1, encoding=encoding) from error


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    header = sample.split("\n", 1)[0]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
        if dialect.delimiter in header:
            dialect.strict = True  # a quote never closed is an error, not the rest of the file read as one cell
            return dialect
    except csv.Error:
        pass
    # the sniffer gives up on short or ragged files: the header's commonest delimiter will do
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.__getitem__)

    class Found(csv.excel):
        delimiter = best if counts[best] else ","
        strict = True

    return Found


class Ragged(list):
    """A row with more or fewer values than the header has columns: its values would land
    under the wrong headers, so it is not read but reported (as `expected` columns, `found`
    values, and the first header it has no value for)."""

    def __init__(self, expected: int, found: int, missing: str | None) -> None:
        super().__init__()
        self.expected, self.found, self.missing = expected, found, missing


# Salesforce's report export ends with a footer of one-cell lines after the rows: not contacts
_SALESFORCE_FOOTER = re.compile(r"copyright \(c\) \d{4}(?:-\d{4})? salesforce\.com", re.IGNORECASE)


def _csv_rows(reader, headers: list[str], name: str, encoding: str) -> Iterator[tuple[int, Pairs]]:
    """Each row numbered as a spreadsheet shows it (a record spanning several lines, as an
    address cell does, is one row)."""
    row_number = 1
    width = len(headers)
    named = max((i + 1 for i, h in enumerate(headers) if h), default=width)  # "Name,Email," has two columns
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            text = "a quote opened in this row is never closed" if "unexpected end of data" in str(error) else str(error)
            raise UnreadableFile("bad_row", name=name, row=row_number + 1, error=text) from error
        except UnicodeDecodeError as error:
            raise UnreadableFile("bad_encoding", name=name, row=row_number + 1, encoding=encoding) from error
        row_number += 1
        if not "".join(values).strip():  # a blank line, or only delimiters
            continue
        if len(values) != width:
            if len(values) == 1 and _SALESFORCE_FOOTER.match(values[0].strip()):
                return
            if len(values) < named or any(v.strip() for v in values[width:]):
                yield row_number, Ragged(width if len(values) > width else named, len(values),
                                         headers[len(values)] if len(values) < named else None)
                continue
        yield row_number, list(zip(headers, values))


def read_csv(stream: BinaryIO, name: str, encoding: str, sample: str) -> Source:
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    reader = csv.reader(text, _dialect(sample))
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        raise UnreadableFile("empty", name=name) from None
    except csv.Error as error:
        raise UnreadableFile("bad_row", name=name, row=1, error=str(error)) from error
    except UnicodeDecodeError as error:
        raise UnreadableFile("bad_encoding", name=name, row=1, encoding=encoding) from error
    if not any(headers):
        raise UnreadableFile("no_header", name=name)
    return Source("csv", headers, _csv_rows(reader, headers, name, encoding), encoding, stream, name)


# vCard properties and the header they stand for; the rest are kept as notes under their own name
_VCARD = {"fn": "full name", "org": "company", "email": "email", "tel": "phone", "url": "website", "note": "notes",
          "categories": "tags"}
_VCARD_SKIP = {"version", "prodid", "uid", "rev", "photo", "logo", "sound", "key", "kind", "n", "adr", "x-abuid",
               "x-abadr", "x-ablabel", "x-abshowas"}  # Apple's: an address's country code, a label's name, how to list it


def _text(value) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value if str(v).strip())
    return str(value)


def _vcard_pairs(card) -> Pairs:
    pairs: Pairs = []
    for line in card.getChildren():
        key = line.name.lower()
        value = line.value
        if key == "n":
            pairs += [("first name", _text(value.given)), ("middle name", _text(value.additional)), ("last name", _text(value.family))]
        elif key == "adr":
            parts = [_text(getattr(value, part)) for part in ("box", "extended", "street", "city", "region", "code", "country")]
            pairs.append(("address", ", ".join(p for p in parts if p.strip())))
        elif key == "categories":  # a contact's groups or labels: crmbot's tags
            pairs.append((_VCARD[key], ", ".join(str(v).strip() for v in (value if isinstance(value, list) else [value]) if str(v).strip())))
        elif key in _VCARD:
            text = _text(value)
            if key == "tel" and text.lower().startswith("tel:"):  # vCard 4.0 writes numbers as URIs
                text = text[4:]
            pairs.append((_VCARD[key], text))
        elif key not in _VCARD_SKIP and isinstance(value, (str, list)):
            pairs.append((line.name.capitalize(), _text(value)))
    return pairs


def _vcard_rows(text: str, name: str) -> Iterator[tuple[int, Pairs]]:
    import vobject  # only vCard files need it

    cards = vobject.readComponents(text, allowQP=True)
    number = 0
    while True:
        try:
            card = next(cards)
        except StopIteration:
            return
        except Exception as error:  # vobject raises its own ParseError and plain ValueErrors alike
            raise UnreadableFile("bad_contact", name=name, number=number + 1, error=str(error)) from error
        number += 1
        if card.name.upper() == "VCARD":
            yield number, _vcard_pairs(card)


def read_vcard(text: str, name: str, encoding: str) -> Source:
    return Source("vcard", ["FN", "N", "ORG", "EMAIL", "TEL", "ADR", "URL", "NOTE"], _vcard_rows(text, name), encoding, name=name)


def open_source(data: Path | bytes, name: str | None = None) -> Source:
    """A file on disk (streamed) or one received whole (a chat's upload), ready to read row by
    row; close it (or use it as a context manager) when done."""
    if isinstance(data, Path):
        name = name or data.name
        try:
            stream: BinaryIO = data.open("rb")
        except OSError as error:
            raise UnreadableFile("cannot_read", name=str(data), error=error.strerror) from error
    else:
        name = name or "file"
        stream = io.BytesIO(data)
    try:
        encoding = encoding_of(stream, name)
        sample = _head_text(stream, encoding, name)
        if "\x00" in sample:
            raise UnreadableFile("not_text", name=name)
        if sample.lstrip("\ufeff \t\r\n").upper().startswith("BEGIN:VCARD"):
            try:
                text = io.TextIOWrapper(stream, encoding=encoding, newline="").read()
            except UnicodeDecodeError as error:
                raise UnreadableFile("bad_encoding", name=name, row=1, encoding=encoding) from error
            return read_vcard(text, name, encoding)
        return read_csv(stream, name, encoding, sample)
    except BaseException:
        stream.close()
        raise
