"""Screenshots of both services' Swagger UI (/docs) for the README, taken offline.

Starts service B (training a model into a temporary folder) and service A on free
loopback ports, as the browser test does, opens each /docs in headless Chromium (Debian's
`chromium`, driven by Playwright), expands the main POST operation and saves
docs/images/service_a_swagger.png and docs/images/service_b_swagger.png.

Usage, with the test environment: .venv/bin/python scripts/screenshots.py
"""

import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from devkit.chromium import chromium, missing_browser  # noqa: E402
from devkit.processes import running_services  # noqa: E402

IMAGES_DIR = REPO_ROOT / "docs" / "images"
VIEWPORT = {"width": 1280, "height": 900}
# (service, Swagger UI block id of its main POST operation)
SHOTS = [
    ("service_a", "operations-gateway-process_input_process_post"),
    ("service_b", "operations-model-create_prediction_predict_post"),
]


def main() -> int:
    problem = missing_browser()
    if problem:
        print(f"Cannot take screenshots: {problem}", file=sys.stderr)
        return 1
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as temporary:
        work = Path(temporary)
        for folder in ("models", "logs", "profile"):
            (work / folder).mkdir()
        with (
            running_services(work / "models", work / "logs") as (gateway, predictor),
            chromium(work / "profile", viewport=VIEWPORT) as browser,
        ):
            urls = {"service_a": gateway.url, "service_b": predictor.url}
            page = browser.new_page()
            for service, operation_id in SHOTS:
                page.goto(f"{urls[service]}/docs")
                operation = page.locator(f"#{operation_id}")
                operation.locator(".opblock-summary").click()
                operation.locator(".opblock-body").wait_for()
                # The title and description at the top, then as much of the block as fits;
                # no focus ring or hover effect from the click.
                page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
                page.mouse.move(0, 0)
                path = IMAGES_DIR / f"{service}_swagger.png"
                page.screenshot(path=path, animations="disabled")
                print(f"{path.relative_to(REPO_ROOT)}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
