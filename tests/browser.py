"""Playwright driving Debian's Chromium (its own browser download cannot
work here). One browser per test module; helpers to log in and fill forms."""
import os
import shutil

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium): the browser tests need it")
    return path


# Module scope: Playwright's sync API runs an event loop in this thread while
# open, which would break later tests that call asyncio.run().
@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop in this thread; Django's ORM,
    # used by the test itself, must be allowed to run beside it.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    context.close()


def fill_form(page, values: dict) -> None:
    """Type each value into the field of that name (a <select> gets the option chosen)."""
    for name, value in values.items():
        # Not a hidden input of that name (a check form keeps other types' values in them):
        # the visible field, waited for when an HTMX swap is about to bring it.
        locator = page.locator(f"[name={name}]:not([type=hidden])")
        if locator.evaluate("e => e.tagName") == "SELECT":
            locator.select_option(value)
        else:
            locator.fill(value)


def login(page, base_url: str, username: str, password: str = "correct-horse-battery") -> None:
    """Log in through the login page, as a person would, and wait for the page after it."""
    page.goto(base_url + "/accounts/login/")
    fill_form(page, {"username": username, "password": password})
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
