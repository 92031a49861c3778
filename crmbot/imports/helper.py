"""A large contact file read by a process of its own while the import matches and writes: reading
and normalising rows is about half an import's work, and on two cores the halves run at once.

The reader (`crmbot.imports.chunks.serve`) is a fresh Python (not a fork of a process running an
event loop and threads) importing only what reading needs. It gets the file and how to read it
on stdin and sends chunks back on stdout, a length and a pickle each; it is at most a few chunks
ahead (its queue, the pipe), so memory stays the same whatever the file's size. A file found
unreadable halfway is told as the same UnreadableFile, so the import, which has written nothing
it does not roll back, is refused whole. The reader ends with the import, whatever ends it."""

from __future__ import annotations

import asyncio
import os
import pickle
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import crmbot
from crmbot.imports.chunks import Chunk
from crmbot.imports.contacts import Owners
from crmbot.imports.sources import UnreadableFile
from crmbot.imports.vocabulary import Vocabulary

HELPER_BYTES = 2 << 20  # files from this size are read by a reader process (about 16,000 rows)
START = "from crmbot.imports.chunks import serve; serve()"


def use_helper(data: Path | bytes) -> bool:
    """Whether a file is large enough for a reader process to pay (starting one costs a few
    tenths of a second), on a machine with a core to spare."""
    if (os.cpu_count() or 1) < 2:
        return False
    try:
        size = data.stat().st_size if isinstance(data, Path) else len(data)
    except OSError:
        return False
    return size >= HELPER_BYTES


def _environment() -> dict[str, str]:
    """This environment, with the folder crmbot was imported from first on the reader's path."""
    root = str(Path(crmbot.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


async def helper_chunks(data: Path | bytes, name: str | None, vocabulary: Vocabulary, owners: Owners,
                        region: str | None, size: int) -> AsyncIterator[Chunk]:
    """contact_chunks of the file, made by a reader process. The file must have been opened
    once here (open_source) and found a contact file: the reader opens it again."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", START, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env=_environment(), limit=1 << 20)
    assert process.stdin is not None and process.stdout is not None
    try:
        try:
            process.stdin.write(pickle.dumps((data, name, vocabulary, owners, region, size), pickle.HIGHEST_PROTOCOL))
            await process.stdin.drain()
            process.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it ended already: told below
        read = process.stdout.readexactly
        while True:
            try:
                message = pickle.loads(await read(int.from_bytes(await read(8), "little")))
            except asyncio.IncompleteReadError:
                code = await process.wait()
                raise RuntimeError(f"the import's reader process ended early (exit code {code})") from None
            if message[0] == "chunk":
                yield message[1]
            elif message[0] == "end":
                return
            elif message[0] == "unreadable":
                raise UnreadableFile(message[1], **message[2])
            else:
                raise RuntimeError(f"the import's reader process failed: {message[1]}")
    finally:
        if process.returncode is None:  # whatever ended the import (done, refused, failed, cancelled)
            try:
                process.kill()
            except ProcessLookupError:
                pass
        await process.wait()
