"""The documentation's links: every relative link names a file and a heading that exist."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives ``page``'s headings: lower case, no punctuation, '-' for ' '."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-") for text in headings}


def relative_links(page: Path) -> list[str]:
    """The targets of ``page``'s Markdown links that are not web addresses."""
    return [link for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text()) if "://" not in link]


def test_anchors_follow_github():
    page = ROOT / "README.md"
    assert {"denoising-the-prior-and-self-supervision", "volumes-3d"} <= anchors(page)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_relative_links_resolve(page):
    broken = []
    for link in relative_links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path) if path else page
        if not target.is_file() or (anchor and anchor not in anchors(target)):
            broken.append(link)
    assert not broken, f"{page.name}: broken links {broken}"
