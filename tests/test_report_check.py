"""tests/report_check.py on small report-like pages (and, marked slow, on the tiny config's real report)."""
import base64
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from report_check import embedded_images, find_chromium, image_error, link_texts, main, report_categories

REPO = Path(__file__).resolve().parents[1]
needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")


def png_bytes(color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), color).save(buf, format="PNG")
    return buf.getvalue()


def data_uri(payload: bytes, name: str) -> str:
    return f"data:image/png;charset=utf8;filename={name};base64,{base64.b64encode(payload).decode()}"


def fake_report(tmp_path, uris, categories=("Predictions", "Inversions"), names=("fig1_predictions_regular",)):
    """A page shaped like a Snakemake report: the results and categories as JavaScript data, the navigation
    built by a script (so it is only in the DOM after scripts ran)."""
    results = {f"results/{n}.png": {"name": f"{n}.png", "data_uri": u} for n, u in zip(names, uris)}
    cats = {c: {"Other": list(results)} for c in categories}
    page = f"""<!doctype html><html><head><title>Snakemake Report</title></head><body>
<div id="app"></div>
<script>
const results = {__import__("json").dumps(results)};
var categories = {__import__("json").dumps(cats)};
</script>
<script>
const app = document.getElementById("app");
for (const c of Object.keys(categories)) {{
  const a = document.createElement("a"); a.href = "#"; const s = document.createElement("span");
  s.textContent = c; a.appendChild(s); app.appendChild(a);
}}
for (const r of Object.values(results)) {{
  const i = document.createElement("img"); i.src = r.data_uri; i.alt = r.name; app.appendChild(i);
}}
</script></body></html>"""
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def test_embedded_images_are_found_and_checked():
    good, corrupt = png_bytes(), png_bytes()[:40] + b"\0" * 20
    html = f'<img src="{data_uri(good, "a.png")}"> "data_uri": "{data_uri(corrupt, "b.png")}"'
    images = embedded_images(html)
    assert [name for name, _, _ in images] == ["a.png", "b.png"]
    assert image_error(images[0][1], images[0][2]) is None
    assert image_error(images[1][1], images[1][2]) is not None
    assert image_error("image/png", None) == "invalid or empty base64"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>'
    assert image_error("image/svg+xml", svg) is None and image_error("image/svg+xml", b"<svg") is not None


def test_categories_and_links_are_read():
    assert report_categories('var categories = {"Accuracy": {"Other": []}, "Bounds": {}};\n') == ["Accuracy",
                                                                                                  "Bounds"]
    assert report_categories("no data here") is None
    dom = '<a href="#"><span>Accuracy</span></a><script>"<a>Bounds</a>"</script><p>Probes</p>'
    assert link_texts(dom) == {"Accuracy"}


@needs_chromium
def test_valid_fake_report_passes(tmp_path):
    report = fake_report(tmp_path, [data_uri(png_bytes(), "fig1_predictions_regular.png")])
    assert main([str(report), "--expect", "fig1_predictions_regular"]) == 0


@needs_chromium
def test_corrupt_image_fails(tmp_path):
    uris = [data_uri(png_bytes(), "fig1_predictions_regular.png"), data_uri(b"\x89PNG\r\n\x1a\nbroken", "fig4.png")]
    report = fake_report(tmp_path, uris, names=("fig1_predictions_regular", "fig4"))
    assert main([str(report), "--expect", "fig1_predictions_regular"]) == 1


@needs_chromium
def test_report_without_images_or_with_unknown_category_fails(tmp_path):
    assert main([str(fake_report(tmp_path, [])), "--expect"]) == 1
    report = fake_report(tmp_path, [data_uri(png_bytes(), "x.png")], categories=("Predictions", "Other"))
    assert main([str(report), "--expect"]) == 1


@needs_chromium
def test_missing_expected_name_fails(tmp_path):
    report = fake_report(tmp_path, [data_uri(png_bytes(), "fig1_predictions_regular.png")])
    assert main([str(report), "--expect", "fig1_predictions_regular", "fig4_representations"]) == 1


@pytest.mark.slow
@needs_chromium
def test_real_report_of_the_tiny_config(tmp_path):
    """The whole tiny workflow (a few minutes on two cores), its report, and the check on it."""
    work = tmp_path / "wf"
    ignore = shutil.ignore_patterns(".git", "results", ".snakemake", "logs", "__pycache__", ".pytest_cache")
    shutil.copytree(REPO, work, ignore=ignore)
    subprocess.run(["snakemake", "-c", "2", "--configfile", ".test/config.yaml"], cwd=work, check=True,
                   capture_output=True)
    subprocess.run(["snakemake", "--report", "report.html", "--configfile", ".test/config.yaml"], cwd=work,
                   check=True, capture_output=True)
    assert main([str(work / "report.html")]) == 0
