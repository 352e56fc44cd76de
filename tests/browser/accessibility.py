"""What the accessibility crawl and the keyboard tests measure on a page, in Chromium.

WCAG 2.1 AA as MinTIC's Resolución 1519 de 2020 asks it of public entities: axe-core with the
WCAG 2.0/2.1 A and AA rules and its best practices (no violation of impact moderate or higher),
and Reflow (1.4.10) and Resize text (1.4.4): no page wider than the screen at 360 and 320 CSS
px, at 200 % zoom of a 1280 px screen (laid out at 640 CSS px) nor with its text at 200 % on a
360 px phone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from playwright.sync_api import Page

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
REPORTED_IMPACTS = frozenset({"moderate", "serious", "critical"})
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
SMALL_PHONE = {"width": 320, "height": 640}
# 200 % zoom of a 1280 × 800 screen: the page is laid out 640 CSS px wide.
ZOOMED = {"width": 640, "height": 400}


@dataclass(frozen=True)
class Finding:
    """One thing wrong on one page, as a person fixing it needs to read it."""

    url: str
    viewport: str
    rule: str
    impact: str
    target: str

    def __str__(self) -> str:
        return f"{self.url} [{self.viewport}] {self.rule} ({self.impact}): {self.target}"


def url_pattern(url: str) -> str:
    """The page a URL shows, whatever record or page of a list: numbers become ``{n}`` and
    only the query's keys count (``/rutas/7?pagina=2`` and ``/rutas/9?pagina=3`` are one)."""
    parts = urlsplit(url)
    path = re.sub(r"\d+", "{n}", parts.path)
    keys = sorted({key for key, _ in parse_qsl(parts.query, keep_blank_values=True)})
    return path + ("?" + "&".join(keys) if keys else "")


def axe_findings(page: Page, axe_source: str, viewport: str) -> list[Finding]:
    """axe-core's violations of impact moderate or higher on the page as it is laid out now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    results: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})", AXE_TAGS)
    return [Finding(page.url, viewport, violation["id"], violation["impact"],
                    " ".join(map(str, node["target"])))
            for violation in results["violations"] if violation["impact"] in REPORTED_IMPACTS
            for node in violation["nodes"]]


def overflow(page: Page) -> int:
    """How many CSS px the page is wider than the window (0 when it fits)."""
    return int(page.evaluate(
        "Math.max(0, document.scrollingElement.scrollWidth - window.innerWidth)"))


def widest_elements(page: Page) -> str:
    """The elements that reach past the window's right edge inside a parent that does not:
    where the overflow starts, for the failure message."""
    return page.evaluate("""() => {
      const out = [];
      const past = el => el.getBoundingClientRect().right > window.innerWidth + 1;
      for (const el of document.body.querySelectorAll('*')) {
        const box = el.getBoundingClientRect();
        if (past(el) && box.width > 0 && !past(el.parentElement)) {
          const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
            + (typeof el.className === 'string' && el.className
               ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
          out.push(`${name} (${Math.round(box.right)} px)`);
        }
      }
      return out.slice(0, 4).join(', ');
    }""")


def reflow_findings(page: Page) -> list[Finding]:
    """The page at 360, 320 and 640 CSS px and with its text at 200 % at 360 px: a finding
    for each layout wider than its window. Leaves the page at 1280 px with its own text."""
    findings = []
    layouts = [("360px", PHONE, False), ("320px", SMALL_PHONE, False),
               ("zoom200", ZOOMED, False), ("360px+text200", PHONE, True)]
    for name, viewport, large_text in layouts:
        page.set_viewport_size(viewport)
        if large_text:
            # What a person's «text size 200 %» does: every rem and em doubles.
            page.evaluate("document.documentElement.style.fontSize = '200%'")
        extra = overflow(page)
        if extra:
            findings.append(Finding(page.url, name, "reflow", "serious",
                                    f"{extra} px too wide: {widest_elements(page)}"))
        if large_text:
            page.evaluate("document.documentElement.style.removeProperty('font-size')")
    page.set_viewport_size(WIDE)
    return findings


def report(findings: list[Finding]) -> str:
    return f"{len(findings)} finding(s):\n" + "\n".join(f"- {finding}" for finding in findings)


# --- keyboard -------------------------------------------------------------------------------

# The element that has focus now, where it is drawn (document coordinates) and how its focus
# indicator contrasts with what surrounds it: the outline's colour (or, without an outline,
# the box-shadow's) against the background found just outside each side of the element, where
# the ring is drawn; the lowest ratio of the sides that are on the screen.
FOCUS_PROBE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const parse = text => {
    const m = text.match(/rgba?\\(([\\d.]+),\\s*([\\d.]+),\\s*([\\d.]+)(?:,\\s*([\\d.]+))?\\)/);
    return m ? [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]] : null;
  };
  const luminance = ([r, g, b]) => {
    const linear = c => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const ratio = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const background = start => {
    // The first opaque background from the element up, over white.
    for (let node = start; node && node.nodeType === 1; node = node.parentElement) {
      const colour = parse(getComputedStyle(node).backgroundColor);
      if (colour && colour[3] > 0) return colour;
    }
    return [255, 255, 255, 1];
  };
  const style = getComputedStyle(el);
  const width = parseFloat(style.outlineWidth) || 0;
  const rings = [];
  if (style.outlineStyle !== 'none' && width >= 1) rings.push(parse(style.outlineColor));
  else if (style.boxShadow !== 'none') {
    for (const m of style.boxShadow.matchAll(/rgba?\\([^)]*\\)/g)) rings.push(parse(m[0]));
  }
  const box = el.getBoundingClientRect();
  const gap = (parseFloat(style.outlineOffset) || 0) + Math.max(width, 2) / 2;
  const [middleX, middleY] = [box.left + box.width / 2, box.top + box.height / 2];
  const probes = [[middleX, box.top - gap], [middleX, box.bottom + gap],
                  [box.left - gap, middleY], [box.right + gap, middleY]];
  const grounds = [];
  for (const [x, y] of probes) {
    if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) continue;
    const hit = document.elementFromPoint(x, y);
    if (!hit || hit === el || el.contains(hit)) continue;
    grounds.push(background(hit));
  }
  if (!grounds.length) grounds.push(background(el.parentElement));
  const best = Math.max(0, ...rings.filter(Boolean).map(
    ring => Math.min(...grounds.map(ground => ratio(ring, ground)))));
  const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (el.getAttribute('name') ? `[name=${el.getAttribute('name')}]` : '');
  const label = (el.innerText || el.value || el.getAttribute('aria-label') || '')
    .trim().slice(0, 40);
  return {name: `${name} «${label}»`, top: box.top + scrollY, left: box.left + scrollX,
          bottom: box.bottom + scrollY, height: box.height, ratio: Math.round(best * 100) / 100,
          ring: width};
}"""
