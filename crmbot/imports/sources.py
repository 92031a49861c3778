"""A contact file as rows of (header, value) pairs, whatever wrote it: a CSV in any encoding and
with any delimiter (Excel's "Unicode Text" is UTF-16 with tabs), or a vCard 2.1/3.0/4.0 file
holding any number of contacts."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import vobject
from charset_normalizer import from_bytes

Pairs = list[tuple[str, str]]
DELIMITERS = ",;\t|^~"
SNIFF_BYTES = 64 * 1024
csv.field_size_limit(1 << 20)  # a note may be long; a 1 MB field is not a note


class UnreadableFile(Exception):
    """The file cannot be read as contacts at all: nothing is written."""


@dataclass
class Source:
    kind: str  # "csv" or "vcard"
    headers: list[str]
    rows: Iterator[tuple[int, Pairs]]  # (row number as a spreadsheet shows it, or contact number; pairs)
    encoding: str = "utf-8"

    @property
    def unit(self) -> str:
        return "contact" if self.kind == "vcard" else "row"


def decode(raw: bytes, name: str) -> tuple[str, str]:
    """The text and the encoding it was in. A BOM is believed; UTF-8 is tried next (most files
    are); anything else is detected from the bytes (cp1250, GB18030, UTF-16 without a BOM…)."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            try:
                return raw.decode(encoding), encoding
            except UnicodeDecodeError as error:
                raise UnreadableFile(f"{name} says it is {encoding} but byte {error.start} is not") from error
    try:
        text, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        best = from_bytes(raw).best()
        if best is None:
            raise UnreadableFile(f"{name} is not a text file") from None
        text, encoding = str(best), best.encoding
    if "\x00" in text:
        raise UnreadableFile(f"{name} is not a text file")
    return text, encoding


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    sample = text[:SNIFF_BYTES]
    header = sample.split("\n", 1)[0]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
        if dialect.delimiter in header:
            return dialect
    except csv.Error:
        pass
    # the sniffer gives up on short or ragged files: the header's commonest delimiter will do
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.__getitem__)

    class Found(csv.excel):
        delimiter = best if counts[best] else ","

    return Found


def _csv_rows(reader, headers: list[str], name: str) -> Iterator[tuple[int, Pairs]]:
    row_number = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise UnreadableFile(f"{name}, row {row_number + 1}: {error}") from error
        row_number += 1
        if not any(v.strip() for v in values):
            continue
        pairs = list(zip(headers, values))
        if len(values) > len(headers):  # values past the last header: kept, under a header saying so
            pairs += [(f"column {i + 1}", v) for i, v in enumerate(values[len(headers):], start=len(headers))]
        yield reader.line_num, pairs


def read_csv(text: str, name: str, encoding: str) -> Source:
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        raise UnreadableFile(f"{name} is empty") from None
    except csv.Error as error:
        raise UnreadableFile(f"{name}, row 1: {error}") from error
    if not any(headers):
        raise UnreadableFile(f"{name} has no header row")
    return Source("csv", headers, _csv_rows(reader, headers, name), encoding)


# vCard properties and the header they stand for; the rest are kept as notes under their own name
_VCARD = {"fn": "full name", "org": "company", "email": "email", "tel": "phone", "url": "website", "note": "notes",
          "categories": "tags"}
_VCARD_SKIP = {"version", "prodid", "uid", "rev", "photo", "logo", "sound", "key", "kind", "n", "adr", "x-abuid"}


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
    cards = vobject.readComponents(text, allowQP=True)
    number = 0
    while True:
        try:
            card = next(cards)
        except StopIteration:
            return
        except Exception as error:  # vobject raises its own ParseError and plain ValueErrors alike
            raise UnreadableFile(f"{name}, contact {number + 1}: {error}") from error
        number += 1
        if card.name.upper() == "VCARD":
            yield number, _vcard_pairs(card)


def read_vcard(text: str, name: str, encoding: str) -> Source:
    return Source("vcard", ["FN", "N", "ORG", "EMAIL", "TEL", "ADR", "URL", "NOTE"], _vcard_rows(text, name), encoding)


def open_source(path: Path) -> Source:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UnreadableFile(f"cannot read {path}: {error.strerror}") from error
    text, encoding = decode(raw, path.name)
    if text.lstrip().upper().startswith("BEGIN:VCARD"):
        return read_vcard(text, path.name, encoding)
    return read_csv(text, path.name, encoding)
