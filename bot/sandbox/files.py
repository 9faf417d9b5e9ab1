"""Uploaded files as the page shows them: Markdown rendered to safe HTML.

The Markdown comes from atbat (the postmortem draft) but carries what people
typed (titles, updates), so raw HTML in it is shown as text and only web and
mail links survive; images inside Markdown are not loaded (nothing leaves the
machine).
"""

from __future__ import annotations

import xml.etree.ElementTree as etree

import markdown
from markdown.treeprocessors import Treeprocessor

SAFE_SCHEMES = ("http://", "https://", "mailto:", "#")


class _SafeLinks(Treeprocessor):
    def run(self, root: etree.Element) -> None:
        for parent in root.iter():
            for child in list(parent):
                if child.tag == "img":
                    # Keep the alt text in place of the picture.
                    replacement = etree.Element("span")
                    replacement.text = child.get("alt", "")
                    replacement.tail = child.tail
                    parent.insert(list(parent).index(child), replacement)
                    parent.remove(child)
                elif child.tag == "a":
                    href = (child.get("href") or "").strip()
                    if not href.lower().startswith(SAFE_SCHEMES):
                        child.attrib.pop("href", None)
                    else:
                        child.set("target", "_blank")
                        child.set("rel", "noopener noreferrer")


class _SafeExtension(markdown.Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 - the library's name
        # Without its raw-HTML rules, Markdown treats HTML in the source as text and escapes it.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_SafeLinks(md), "atbat_safe_links", 0)


def markdown_html(source: str) -> str:
    """HTML for a Markdown document, with no raw HTML and no unsafe links."""
    return markdown.markdown(source, extensions=["tables", "fenced_code", "sane_lists",
                                                  _SafeExtension()])
