"""Open a Snakemake HTML report in headless Chromium and check that it renders with its figures.

    python -m robuniv.report_check results/report.html [--screenshot out.png]

Chromium (Debian's `chromium` package) loads the self-contained report from a file:// URL; the DOM
after scripts have run must name every expected figure. Exit status 0 when all are present.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--expect", nargs="*", default=["fig1_predictions_regular", "fig3_predictions_inverted",
                                                         "fig4_representations", "fig5_subgroups", "fig6_probes",
                                                         "fig7_agreement_bounds", "fig8_jaccard_k", "accuracy.csv"])
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args(argv)
    browser = find_chromium()
    if browser is None:
        print("no chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    dom = rendered_dom(args.report, browser)
    missing = [name for name in args.expect if name not in dom]
    print(f"{args.report}: rendered DOM of {len(dom)} characters; figures and tables named: "
          f"{len(args.expect) - len(missing)} of {len(args.expect)}")
    if args.screenshot:
        screenshot(args.report, browser, args.screenshot)
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
