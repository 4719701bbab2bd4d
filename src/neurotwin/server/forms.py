"""Multipart web forms read from the request stream: the file part goes to disk chunk by chunk.

Starlette's own form parser spools files to the system's temporary folder (often memory on
a tmpfs) before the handler runs; the upload form instead parses the body as it arrives and
writes the file part straight into the competition folder, refusing it as soon as it passes
the track's largest upload. Memory stays at one network chunk whatever the file's size.
The fields before the file (the CSRF token, the track) are checked before its first byte is
written, so put them first in the form.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread

from neurotwin.server.errors import RequestError

try:
    from python_multipart.multipart import MultipartParser, parse_options_header
except ImportError:  # python-multipart < 0.0.13 names its module ``multipart``
    from multipart.multipart import (  # type: ignore[no-redef]
        MultipartParser,
        parse_options_header,
    )

#: The most text fields a form may have, and the most bytes of each.
MAX_FIELDS, MAX_FIELD_BYTES = 20, 64 * 1024


@dataclass
class StreamedFile:
    """The file part of a form, written to ``path``.

    Attributes
    ----------
    field
        The form field's name.
    filename
        The name the browser gave (not yet checked).
    path
        Where its bytes are (the caller moves or deletes it).
    size
        Bytes written.
    """

    field: str
    filename: str
    path: Path
    size: int = 0


@dataclass
class StreamedForm:
    """A parsed form: its text fields and at most one file."""

    fields: dict[str, str] = field(default_factory=dict)
    file: StreamedFile | None = None

    def discard(self) -> None:
        """Delete the file part, if any."""
        if self.file is not None:
            self.file.path.unlink(missing_ok=True)


class _Receiver:
    """The parser's callbacks: text fields into memory (bounded), the file part to disk."""

    def __init__(self, folder: Path, on_file: Callable[[dict[str, str]], int]) -> None:
        self.folder = folder
        self.on_file = on_file
        self.form = StreamedForm()
        self.out: Any = None
        self.limit = 0
        self.ended = False
        self._header = [bytearray(), bytearray()]
        self._headers: dict[str, str] = {}
        self._name = ""
        self._value = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": lambda d, s, e: self._header[0].extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header[1].extend(d[s:e]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def part_begin(self) -> None:
        self._headers = {}
        self._value = bytearray()

    def header_end(self) -> None:
        name, value = (bytes(x).decode("latin-1") for x in self._header)
        self._headers[name.strip().lower()] = value.strip()
        self._header = [bytearray(), bytearray()]

    def headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is None:
            if len(self.form.fields) >= MAX_FIELDS:
                raise RequestError(400, f"a form has at most {MAX_FIELDS} fields")
            return
        if self.form.file is not None:
            raise RequestError(400, "send one file per form")
        self.limit = self.on_file(dict(self.form.fields))
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / secrets.token_hex(16)
        self.out = open(path, "xb")  # closed in part_end or close
        self.form.file = StreamedFile(self._name, filename.decode("utf-8", "replace"), path)

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.out is None:
            if len(self._value) + end - start > MAX_FIELD_BYTES:
                raise RequestError(
                    413, f"form field {self._name!r} is over {MAX_FIELD_BYTES} bytes"
                )
            self._value.extend(data[start:end])
            return
        assert self.form.file is not None
        self.form.file.size += end - start
        if self.form.file.size > self.limit:
            raise RequestError(
                413, f"{self.form.file.filename} is larger than the {self.limit} bytes allowed"
            )
        self.out.write(data[start:end])

    def part_end(self) -> None:
        if self.out is None:
            self.form.fields[self._name] = self._value.decode("utf-8", "replace")
            return
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        self.out = None

    def end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


async def read_form(
    chunks: AsyncIterator[bytes],
    content_type: str,
    folder: Path,
    on_file: Callable[[dict[str, str]], int],
) -> StreamedForm:
    """Parse a ``multipart/form-data`` body as it arrives.

    Parameters
    ----------
    chunks
        The request body (``request.stream()``).
    content_type
        The request's Content-Type header (holds the boundary).
    folder
        Where the file part is written (a random name; the caller moves or deletes it).
    on_file
        Called with the text fields received so far when the file part starts; returns the
        most bytes the file may have, or raises :class:`RequestError` (a bad CSRF token).

    Returns
    -------
    StreamedForm
        The text fields and the file written to disk.

    Raises
    ------
    RequestError
        400 for a body that is not a complete multipart form or has too many fields or
        files; 413 for a file or field over its limit (the partial file is deleted).
    """
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise RequestError(400, "send the form as multipart/form-data")
    receiver = _Receiver(folder, on_file)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in chunks:
            await anyio.to_thread.run_sync(parser.write, chunk)
        parser.finalize()
        if not receiver.ended:
            raise RequestError(400, "the form ended before its last part")
    except BaseException as exc:
        receiver.close()
        receiver.form.discard()
        if isinstance(exc, RequestError):
            raise
        if isinstance(exc, Exception):
            raise RequestError(400, f"the form could not be read: {exc}") from exc
        raise
    return receiver.form
