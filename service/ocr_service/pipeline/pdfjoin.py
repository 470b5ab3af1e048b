"""Join PDF files into one, written as it goes: a long searchable PDF's bytes can be sent while its later
pages are still being built.

pdfium (which lays the text layer) saves a document only whole, so a long document built in batches and
joined by pdfium has no byte on disk until its last page is done. Here each batch is saved by pdfium on
its own, then opened with pikepdf (qpdf) and its pages' objects are appended to the output file at once,
renumbered into one numbering; the page tree, the catalog, the cross-reference table and the trailer come
at the end. Only one batch is open at a time. Document-level parts of the batches (outline, metadata,
forms, names) are not carried: only pages and what they reference."""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

CATALOG, PAGES = 1, 2  # reserved object numbers: the catalog and the root of the page tree, written last
_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"  # the binary comment marks the file as binary for transfer tools

_SPACE = re.compile(rb"[\x00\t\n\x0c\r ]+")
_REGULAR = re.compile(rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]+")
_INTEGER = re.compile(rb"\d+")
_LINE_END = re.compile(rb"[\r\n]")


def _literal_end(data: bytes, start: int) -> int:
    """The index after the literal string opening at data[start] ('('): balanced parentheses count,
    a backslash escapes the next byte."""
    depth, index = 0, start
    while index < len(data):
        byte = data[index]
        if byte == 0x5C:  # backslash
            index += 2
            continue
        if byte == 0x28:
            depth += 1
        elif byte == 0x29:
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(data)


def renumber(data: bytes, number: Callable[[int, int], int]) -> bytes:
    """`data` (PDF object syntax) with every indirect reference `n g R` replaced by `number(n, g) 0 R`.
    A tokenizer, not a pattern over the bytes: literal strings `( … )` (nested, escaped), hex strings
    `< … >`, names and comments are copied as they are, so text that merely reads "1 0 R" is left alone."""
    out: list[bytes] = []
    previous: list[int] = []  # indexes in out of the last two tokens that were not whitespace
    index, end = 0, len(data)
    while index < end:
        byte = data[index]
        if (space := _SPACE.match(data, index)) is not None:
            out.append(space.group())
            index = space.end()
            continue
        if byte == 0x28:  # (
            stop = _literal_end(data, index)
        elif data.startswith((b"<<", b">>"), index):
            stop = index + 2
        elif byte == 0x3C:  # < a hex string
            closing = data.find(b">", index)
            stop = end if closing < 0 else closing + 1
        elif byte == 0x2F:  # / a name
            name = _REGULAR.match(data, index + 1)
            stop = name.end() if name else index + 1
        elif byte == 0x25:  # % a comment, to the end of its line
            line_end = _LINE_END.search(data, index)
            stop = end if line_end is None else line_end.start()
        elif (regular := _REGULAR.match(data, index)) is not None:
            stop = regular.end()
        else:  # a delimiter on its own: [ ] { } ) >
            stop = index + 1
        token = data[index:stop]
        if token == b"R" and len(previous) == 2 and all(_INTEGER.fullmatch(out[i]) for i in previous):
            first, second = previous
            out[first] = b"%d" % number(int(out[first]), int(out[second]))
            out[second] = b"0"
        out.append(token)
        previous = [*previous[-1:], len(out) - 1]
        index = stop
    return b"".join(out)


def _scalar(value) -> bytes:
    """pikepdf hands indirect numbers, booleans and nulls back as Python values."""
    if value is None:
        return b"null"
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, Decimal):
        return format(value, "f").encode()
    if isinstance(value, (int, float)):
        return repr(value).encode()
    return value.unparse(resolved=True)


def _tree_nodes(node, found: set) -> None:
    """The object ids of the page tree's intermediate nodes (/Type /Pages), from `node` down."""
    if node.objgen in found:
        return
    found.add(node.objgen)
    import pikepdf

    for kid in node.get("/Kids", []):
        if isinstance(kid, pikepdf.Dictionary) and (kid.get("/Type") == "/Pages" or "/Kids" in kid):
            _tree_nodes(kid, found)


class StreamingJoin:
    """Writes one PDF to `out` from PDF files appended in order: the header at once, each file's pages
    as soon as it is appended (then flushed), the rest at `close`."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._offsets: dict[int, int] = {}
        self._kids: list[int] = []
        self._next = PAGES + 1
        self._version = "1.7"
        out.write(_HEADER)
        out.flush()

    def append(self, path: Path) -> None:
        """Append the pages of the PDF at `path`, and every object they reference."""
        import pikepdf

        with pikepdf.open(path) as pdf:
            if tuple(map(int, pdf.pdf_version.split("."))) > tuple(map(int, self._version.split("."))):
                self._version = pdf.pdf_version
            root = pdf.Root
            # references to the file's catalog and page tree nodes become references to the joined ones
            numbers: dict[tuple[int, int], int] = {root.objgen: CATALOG}
            tree: set = set()
            _tree_nodes(root.Pages, tree)
            numbers.update(dict.fromkeys(tree, PAGES))
            waiting: deque[tuple[int, int]] = deque()

            def number(num: int, gen: int) -> int:
                if (num, gen) not in numbers:
                    numbers[num, gen] = self._next
                    self._next += 1
                    waiting.append((num, gen))
                return numbers[num, gen]

            # qpdf has already copied what the pages inherit (MediaBox, CropBox, Resources, Rotate) into
            # them, as the joined tree has nothing to inherit from
            for page in pdf.pages:
                obj = page.obj
                obj.Parent = root.Pages
                self._kids.append(number(*obj.objgen))
            while waiting:
                key = waiting.popleft()
                self._write(numbers[key], pdf.get_object(key), tree, number)
        self._out.flush()

    def _write(self, num: int, obj, tree: set, number: Callable[[int, int], int]) -> None:
        import pikepdf

        raw = None
        if isinstance(obj, pikepdf.Stream):
            raw = obj.read_raw_bytes()  # still encoded: copied, never decoded
            head = pikepdf.Dictionary(obj.stream_dict)
            head.Length = len(raw)
            body = head.unparse(resolved=True)
        elif isinstance(obj, pikepdf.Dictionary):
            if obj.get("/Type") == "/Page" and "/Parent" in obj and obj.Parent.objgen not in tree:
                del obj["/Parent"]  # a page outside the tree (a link's target, say): not followed upwards
            body = obj.unparse(resolved=True)
        else:
            body = _scalar(obj)
        self._offsets[num] = self._out.tell()
        self._out.write(b"%d 0 obj\n" % num + renumber(body, number))
        if raw is not None:
            self._out.write(b"\nstream\n" + raw + b"\nendstream")
        self._out.write(b"\nendobj\n")

    def close(self) -> None:
        """The page tree, the catalog, the cross-reference table and the trailer."""
        out = self._out
        kids = b" ".join(b"%d 0 R" % kid for kid in self._kids)
        self._offsets[PAGES] = out.tell()
        out.write(b"%d 0 obj\n<< /Type /Pages /Count %d /Kids [ %s ] >>\nendobj\n" % (PAGES, len(self._kids), kids))
        version = b"" if self._version == "1.7" else b" /Version /" + self._version.encode()
        self._offsets[CATALOG] = out.tell()
        out.write(b"%d 0 obj\n<< /Type /Catalog /Pages %d 0 R%s >>\nendobj\n" % (CATALOG, PAGES, version))
        size = self._next
        xref = out.tell()
        entries = [b"0000000000 65535 f \n"]
        entries += [b"%010d 00000 n \n" % self._offsets[n] if n in self._offsets else b"0000000000 00000 f \n"
                    for n in range(1, size)]
        out.write(b"xref\n0 %d\n" % size + b"".join(entries))
        file_id = os.urandom(16).hex().encode()
        out.write(b"trailer\n<< /Size %d /Root %d 0 R /ID [ <%s> <%s> ] >>\nstartxref\n%d\n%%%%EOF\n"
                  % (size, CATALOG, file_id, file_id, xref))
        out.flush()
