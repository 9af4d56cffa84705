"""Screenshot of Prometheus's graph page for the README: docs/images/prometheus_graph.png.

Against a running stack with the observability profile (`docker-compose --profile
observability up --build -d`): sends the gateway 90 s of mixed traffic (forwarded and
log-only inputs), waits until Prometheus has scraped enough of it for a per-second rate,
then opens the graph of that rate, by route, in headless Chromium (Debian's `chromium`,
driven by Playwright) and saves it. Works with the official image's UI and with the
stand-in's classic one (scripts/standin_base_image.sh).

Usage, with the test environment: .venv/bin/python scripts/prometheus_screenshot.py
  [--gateway-url http://127.0.0.1:8000] [--prometheus-url http://127.0.0.1:9090]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from devkit.chromium import chromium, missing_browser  # noqa: E402

IMAGE = REPO_ROOT / "docs" / "images" / "prometheus_graph.png"
VIEWPORT = {"width": 1280, "height": 900}
QUERY = 'sum by (route) (rate(http_requests_total{job="service_a"}[1m]))'
TRAFFIC_SECONDS = 90.0
"""Long enough for the 1-minute rate to rise, then hold a plateau on the graph."""
REQUEST_PAUSE_S = 0.1
DATA_TIMEOUT = 60.0
# The graph once drawn: the React UI's chart canvas, or the classic UI's SVG (Rickshaw).
GRAPH_DRAWN = ".graph-chart canvas, .graph_area svg"


def send_traffic(client: httpx.Client, gateway_url: str) -> int:
    """Inputs for TRAFFIC_SECONDS, one in four only logged; how many were sent."""
    sent = 0
    deadline = time.monotonic() + TRAFFIC_SECONDS
    while time.monotonic() < deadline:
        client.post(
            f"{gateway_url}/process",
            json={"data": f"screenshot input {sent}", "forward_to_model": sent % 4 != 0},
        ).raise_for_status()
        sent += 1
        time.sleep(REQUEST_PAUSE_S)
    return sent


def wait_for_series(client: httpx.Client, prometheus_url: str) -> None:
    """Until QUERY has a result: two scrapes of the traffic at least."""
    deadline = time.monotonic() + DATA_TIMEOUT
    while time.monotonic() < deadline:
        answer = client.get(f"{prometheus_url}/api/v1/query", params={"query": QUERY}).json()
        if answer.get("data", {}).get("result"):
            return
        time.sleep(1)
    raise TimeoutError(f"Prometheus at {prometheus_url} has no data for {QUERY}")


def graph_url(prometheus_url: str) -> str:
    # The same parameters in both UIs: an expression, the graph tab (0), its time range.
    parameters = {"g0.expr": QUERY, "g0.tab": "0", "g0.range_input": "2m"}
    return f"{prometheus_url}/graph?{urlencode(parameters)}"


def main() -> int:
    parser = argparse.ArgumentParser(description="Screenshot of Prometheus's graph page.")
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument("--prometheus-url", default="http://127.0.0.1:9090")
    options = parser.parse_args()
    problem = missing_browser()
    if problem:
        print(f"Cannot take the screenshot: {problem}", file=sys.stderr)
        return 1

    with httpx.Client(timeout=10, trust_env=False) as client:
        print(f"sending {TRAFFIC_SECONDS:.0f} s of traffic to {options.gateway_url}")
        sent = send_traffic(client, options.gateway_url)
        print(f"{sent} inputs sent; waiting for Prometheus to have scraped them")
        wait_for_series(client, options.prometheus_url)

    IMAGE.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="prometheus-screenshot-") as profile,
        chromium(Path(profile), viewport=VIEWPORT) as browser,
    ):
        page = browser.new_page()
        page.goto(graph_url(options.prometheus_url))
        page.wait_for_selector(GRAPH_DRAWN)
        page.wait_for_load_state("networkidle")
        # No focus ring on the expression field, no hover tooltip over the lines.
        page.evaluate("document.activeElement.blur()")
        page.mouse.move(0, 0)
        page.screenshot(path=IMAGE, animations="disabled")
    print(f"{IMAGE.relative_to(REPO_ROOT)}: {IMAGE.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
