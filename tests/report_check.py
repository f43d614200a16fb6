"""Open a Snakemake HTML report in headless Chromium and check that it renders with its figures.

    python tests/report_check.py results/report.html [--screenshot out.png]

Checks, in order:

1. every image embedded in the report (each base64 ``data:image/...`` URI in the HTML and in its embedded
   JavaScript data) decodes: raster images with PIL, SVG as XML; at least one must be found;
2. the report's categories (its ``var categories = {...}`` data) are all categories of
   ``robuniv.catalog.CATEGORIES`` (nothing fell back to an uncategorised section);
3. Chromium (Debian's ``chromium`` package) loads the self-contained report from a file:// URL, and the DOM
   after scripts have run has a link for every category the run produced and names every expected figure.

Exit status 0 when all pass, 1 when a check fails, 2 when no Chromium is installed.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

try:
    from robuniv import catalog
except ImportError:  # run as a script from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
    from robuniv import catalog

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

DEFAULT_EXPECT = [*catalog.FIGURES, "accuracy.csv"]

# data:image/png;charset=utf8;filename=x.png;base64,AAAA  (parameters between the type and ";base64")
DATA_URI = re.compile(r"data:(image/[A-Za-z0-9.+-]+)((?:;[^;,\"'\s]*)*?);base64,([A-Za-z0-9+/=\\]*)")
FILENAME = re.compile(r";filename=([^;]+)")
CATEGORIES = re.compile(r"var\s+categories\s*=\s*(\{.*?\});?\s*$", re.MULTILINE)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def rendered_dom(report: Path, browser: str, timeout: int = 120) -> str:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=15000",
                               "--dump-dom", report.resolve().as_uri()], capture_output=True, text=True,
                              timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed on {report}: {proc.stderr[-2000:]}")
    return proc.stdout


def screenshot(report: Path, browser: str, out: Path, timeout: int = 120) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=15000",
                        "--window-size=1400,1000", f"--screenshot={out.resolve()}", report.resolve().as_uri()],
                       capture_output=True, timeout=timeout, check=True)


def embedded_images(html: str) -> list[tuple[str, str, bytes | None]]:
    """(name, MIME type, decoded bytes or None when the base64 is invalid) of every image data URI."""
    out = []
    for i, match in enumerate(DATA_URI.finditer(html)):
        mime, params, payload = match.groups()
        name = FILENAME.search(params)
        payload = payload.replace("\\/", "/").replace("\\", "")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            data = None
        out.append((name.group(1) if name else f"image {i + 1}", mime, data))
    return out


def image_error(mime: str, data: bytes | None) -> str | None:
    """Why an embedded image does not decode, or None when it does."""
    if not data:
        return "invalid or empty base64"
    if mime == "image/svg+xml":
        try:
            ET.fromstring(data)
        except ET.ParseError as err:
            return f"SVG does not parse: {err}"
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.width < 1 or image.height < 1:
                return "empty image"
    except Exception as err:  # PIL raises many kinds
        return f"{type(err).__name__}: {err}"
    return None


def report_categories(html: str) -> list[str] | None:
    """The category names of the report's embedded data, or None when it has none."""
    match = CATEGORIES.search(html)
    if match is None:
        return None
    try:
        return list(json.loads(match.group(1)))
    except json.JSONDecodeError:
        return None


class _LinkText(HTMLParser):
    """Text inside <a> elements, outside scripts and styles: the report's navigation."""

    def __init__(self):
        super().__init__()
        self.in_a = self.hidden = 0
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1
        elif tag == "a":
            self.in_a += 1
            self.links.append("")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden = max(0, self.hidden - 1)
        elif tag == "a":
            self.in_a = max(0, self.in_a - 1)

    def handle_data(self, data):
        if self.in_a and not self.hidden and self.links:
            self.links[-1] += data


def link_texts(dom: str) -> set[str]:
    parser = _LinkText()
    parser.feed(dom)
    return {" ".join(text.split()) for text in parser.links}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--expect", nargs="*", default=DEFAULT_EXPECT,
                        help="names the rendered DOM must contain (default: every catalog figure, accuracy.csv)")
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args(argv)
    html = args.report.read_text(encoding="utf-8", errors="replace")
    failures = []

    images = embedded_images(html)
    bad = [(name, err) for name, mime, data in images if (err := image_error(mime, data)) is not None]
    print(f"{args.report}: {len(images)} embedded images, {len(images) - len(bad)} decode")
    if not images:
        failures.append("no embedded image found")
    failures += [f"image {name} does not decode ({err})" for name, err in bad]

    produced = report_categories(html)
    if produced is None:
        failures.append("no category data (var categories = {...}) in the report")
        produced = []
    unknown = [c for c in produced if c not in catalog.CATEGORIES]
    if unknown:
        failures.append(f"categories outside robuniv.catalog.CATEGORIES: {', '.join(unknown)}")

    browser = find_chromium()
    if browser is None:
        print("no chromium found (apt-get install chromium)", file=sys.stderr)
        for failure in failures:
            print(f"FAIL: {failure}", file=sys.stderr)
        return 2
    dom = rendered_dom(args.report, browser)
    links = link_texts(dom)
    shown = [c for c in produced if c in catalog.CATEGORIES and c in links]
    failures += [f"category {c} is not in the rendered navigation" for c in produced
                 if c in catalog.CATEGORIES and c not in links]
    missing = [name for name in args.expect if name not in dom]
    print(f"{args.report}: rendered DOM of {len(dom)} characters; categories shown: {len(shown)} of "
          f"{len(produced)} ({', '.join(shown)}); figures and tables named: "
          f"{len(args.expect) - len(missing)} of {len(args.expect)}")
    if missing:
        failures.append("missing: " + ", ".join(missing))
    if args.screenshot:
        screenshot(args.report, browser, args.screenshot)
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
