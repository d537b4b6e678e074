"""A minimal DOM for assertions on Chromium's `--dump-dom` output: elements with tag, attributes, children and
text, found by id, tag or attribute (stdlib `html.parser`; no new dependency)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def iter(self) -> Iterator[Element]:
        yield self
        for c in self.children:
            if isinstance(c, Element):
                yield from c.iter()

    def find_all(self, tag: str | None = None, **attrs: str | None) -> list[Element]:
        """Descendants (self included) with `tag` and every attribute given (value None: present at all;
        `class_` matches one class of the element)."""
        out = []
        for e in self.iter():
            if tag is not None and e.tag != tag:
                continue
            ok = True
            for k, v in attrs.items():
                name = "class" if k == "class_" else k.replace("_", "-")
                have = e.attrs.get(name)
                if have is None or (v is not None and (v not in have.split() if name == "class" else have != v)):
                    ok = False
                    break
            if ok:
                out.append(e)
        return out

    def by_id(self, id_: str) -> Element:
        found = self.find_all(id=id_)
        assert len(found) == 1, f"#{id_}: {len(found)} elements"
        return found[0]

    def has_id(self, id_: str) -> bool:
        return bool(self.find_all(id=id_))

    @property
    def text(self) -> str:
        parts: list[str] = []
        for c in self.children:
            parts.append(c if isinstance(c, str) else c.text)
        return "".join(parts)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(el)
        if tag not in _VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    b = _Builder()
    b.feed(html)
    b.close()
    return b.root
