"""Headless Chromium from Debian's `chromium` package, driven by Playwright (which downloads
no browser here): shared by the browser tests and scripts/screenshots.py."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def missing_browser() -> str | None:
    """Why headless Chromium cannot run here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        return f"Playwright is not importable ({error}); install requirements-dev.txt"
    if not (os.path.isfile(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK)):
        return (
            f"no Chromium executable at {CHROMIUM_PATH} "
            "(apt-get install chromium, or set CHROMIUM_PATH)"
        )
    return None


@contextmanager
def chromium(user_data_dir: Path, **options: Any) -> Iterator["BrowserContext"]:
    """A headless Chromium with a fresh profile in `user_data_dir`, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir,
            executable_path=CHROMIUM_PATH,
            headless=True,
            args=CHROMIUM_ARGS,
            **options,
        )
        try:
            yield context
        finally:
            context.close()
