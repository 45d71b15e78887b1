"""Look at an HTML report the way a person does: headless Chromium screenshots.

    python scripts/screenshot_report.py REPORT.html --out screens/

saves ``first-screen.png`` (what opens, 1280x900) and one PNG per section of
the report (``trainer.evaluate.report.SECTIONS``), each cut from a
full-page capture at the section's position. Chromium runs headless,
offline (no network access is needed or allowed: the report is
self-contained), with a fresh profile. ``apt-get install -y chromium`` where
it is missing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1"]
WIDTH = 1280


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("screenshot_report: no chromium found; apt-get install -y chromium")


def run(browser: str, args: list[str], profile: str) -> str:
    command = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        sys.exit(f"screenshot_report: chromium failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def section_offsets(browser: str, page: Path, profile: str) -> dict[str, list[int]]:
    """Top and height of each <section>, by running a script in the page's DOM."""
    probe = page.with_name(page.stem + ".probe.html")
    script = ("<script>window.addEventListener('load',()=>{"
              "const o={};document.querySelectorAll('section').forEach(s=>{"
              "const r=s.getBoundingClientRect();o[s.id]=[Math.round(r.top+scrollY),"
              "Math.round(r.height)]});"
              "document.title='OFFSETS'+JSON.stringify(o)+'|H'+"
              "document.documentElement.scrollHeight;});</script>")
    probe.write_text(page.read_text(encoding="utf-8").replace("</head>", script + "</head>"),
                     encoding="utf-8")
    try:
        dom = run(browser, [f"--window-size={WIDTH},900", "--dump-dom", probe.as_uri()], profile)
    finally:
        probe.unlink(missing_ok=True)
    start = dom.index("<title>OFFSETS") + len("<title>OFFSETS")
    text = dom[start:dom.index("</title>", start)]
    offsets_text, height = text.rsplit("|H", 1)
    import html

    offsets = json.loads(html.unescape(offsets_text))
    offsets["__height__"] = [int(height), 0]
    return offsets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from PIL import Image

    browser = chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    page = args.report.resolve()
    with tempfile.TemporaryDirectory() as profile:
        offsets = section_offsets(browser, page, profile)
        total = offsets.pop("__height__")[0] + 40
        full = args.out / "full.png"
        run(browser, [f"--window-size={WIDTH},900", f"--screenshot={args.out / 'first-screen.png'}",
                      page.as_uri()], profile)
        run(browser, [f"--window-size={WIDTH},{total}", f"--screenshot={full}", page.as_uri()],
            profile)
    image = Image.open(full)
    written = [args.out / "first-screen.png"]
    for name, (top, height) in offsets.items():
        box = (0, max(top - 8, 0), WIDTH, min(top + height + 8, image.height))
        target = args.out / f"{name}.png"
        image.crop(box).save(target)
        written.append(target)
    full.unlink()
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
