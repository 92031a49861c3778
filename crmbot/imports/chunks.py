"""A contact file's rows read and made into contacts a chunk at a time: in the importing process,
or, for a large file, in a reader process of their own (`serve`, started by
`crmbot.imports.helper`) while the import matches and writes the chunks before.

A chunk is what the import matches and writes together: `size` good rows, with the bad rows
read among them and how many rows it read. Each good row comes with what matching it needs
first, made where it is read: the keys of its e-mails and phones, and its name and company
folded. Rows travel as plain tuples (a fraction of what pickling the contacts costs). This
module imports only what reading needs, so a reader process starts quickly."""

from __future__ import annotations

import gc
import os
import pickle
import queue
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import fields
from operator import attrgetter
from typing import Any

from crmbot.imports.contacts import BadRow, Contact, Owners, contact_from, contact_keys
from crmbot.imports.sources import Source, UnreadableFile, open_source
from crmbot.imports.vocabulary import Vocabulary
from crmbot.text import fold_many

QUEUED = 2  # chunks made and waiting to be written: the reader process waits beyond that

# (number, contact's fields, keys of its e-mails and phones, (name folded, company folded))
Good = tuple[int, tuple, list[str], tuple[str, str]]
Bad = tuple[int, str, str | None, dict[str, Any]]  # (number, reason, column, values) as BadRow holds them
Chunk = tuple[int, list[Bad], list[Good]]  # (rows read, bad rows, good rows)

_FIELDS = attrgetter(*(f.name for f in fields(Contact)))


def contact_of(values: tuple) -> Contact:
    """The contact whose fields a chunk carries (`_FIELDS`' order)."""
    return Contact(*values)


def contact_chunks(source: Source, vocabulary: Vocabulary, owners: Owners, region: str | None, size: int) -> Iterator[Chunk]:
    """The source's rows as chunks of `size` good rows (the last may hold fewer)."""
    plan: dict = {}  # each header's field, looked up once per file
    rows, bad, good = 0, [], []
    for number, pairs in source.rows:
        rows += 1
        try:
            contact = contact_from(pairs, vocabulary, owners, region, plan)
        except BadRow as error:
            bad.append((number, error.reason, error.column, error.values))
            continue
        good.append((number, contact))
        if len(good) == size:
            yield rows, bad, _matchable(good, region)
            rows, bad, good = 0, [], []
    if rows:
        yield rows, bad, _matchable(good, region)


def _matchable(good: list[tuple[int, Contact]], region: str | None) -> list[Good]:
    names = fold_many([contact.name for _, contact in good])
    companies = fold_many([contact.company or "" for _, contact in good])
    return [(number, _FIELDS(contact), contact_keys(contact.emails, contact.phones, region), (name, company))
            for (number, contact), name, company in zip(good, names, companies)]


def serve() -> None:
    """The reader process (`crmbot.imports.helper`): the file and how to read it arrive pickled
    on stdin; every chunk, then "end" (or what stopped it), leave on stdout as frames of a
    length and a pickle. A thread writes them, so reading goes on while the import takes
    the chunks before, up to QUEUED of them; it stops when the import is gone."""
    gc.freeze()  # as the import does: the loaded modules' objects are never collected
    gc.set_threshold(20_000, *gc.get_threshold()[1:])
    data, name, vocabulary, owners, region, size = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    frames: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED)

    def write() -> None:
        try:
            while (frame := frames.get()) is not None:
                out.write(len(frame).to_bytes(8, "little"))
                out.write(frame)
                out.flush()
        except OSError:  # the import is gone (its end of the pipe closed): so is its reader
            os._exit(1)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()

    def send(*message: Any) -> None:
        frames.put(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))

    try:
        with open_source(data, name) as source:
            for chunk in contact_chunks(source, vocabulary, owners, region, size):
                send("chunk", chunk)
        send("end")
    except UnreadableFile as error:
        send("unreadable", error.code, error.values)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the import says so itself
        pass
    except Exception:  # anything else is told, so the import fails instead of waiting
        send("failed", traceback.format_exc(limit=-3))
    frames.put(None)
    writer.join()
