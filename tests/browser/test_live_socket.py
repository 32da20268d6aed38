"""The page's live guesses go over one WebSocket once it is open, and by POST whenever it cannot be: a
proxy that refuses WebSockets, or a socket that closes with a drawing unanswered, loses no guess."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from tests.browser.drawing import draw_digit, settle
from tests.browser.pages import Watch

pytestmark = pytest.mark.browser

# Stands in for a network where WebSockets never open (a proxy that refuses the upgrade), without the
# console error a refused connection logs.
NO_SOCKETS = """
window.WebSocket = class extends EventTarget {
  static OPEN = 1;
  readyState = 0;
  constructor() {
    super();
    window.socketsTried = (window.socketsTried ?? 0) + 1;
    setTimeout(() => {
      this.readyState = 3;
      this.dispatchEvent(new Event('error'));
      this.dispatchEvent(new CloseEvent('close', { code: 1006 }));
    }, 10);
  }
  send() { throw new DOMException('The socket is not open.', 'InvalidStateError'); }
  close() {}
};
"""


def posts(watch: Watch) -> list[str]:
    return [url for url in watch.predictions() if urlsplit(url).path == "/api/predict"]


def sent_on_socket(watch: Watch) -> list[str]:
    return [url for url in watch.predictions() if urlsplit(url).path == "/api/predict/live"]


def test_once_the_socket_is_open_every_guess_goes_over_it(desktop: tuple[Page, Watch]) -> None:
    page, watch = desktop
    draw_digit(page, 7)
    assert settle(page) == "7"
    page.keyboard.press("c")
    before = len(posts(watch)), len(sent_on_socket(watch))
    for digit in (3, 1):
        draw_digit(page, digit)
        assert settle(page) == str(digit)
        page.keyboard.press("c")
    assert len(posts(watch)) == before[0], "a guess was posted although the socket was open"
    assert len(sent_on_socket(watch)) >= before[1] + 2  # live guesses and each pen-up's
    # the socket carries the page's query: a new model opens its own. Its first drawing may go by POST
    # while that socket opens (a drawing read in one guess does); the next goes over it.
    page.get_by_test_id("model").select_option("mlp")
    draw_digit(page, 7)
    assert settle(page) == "7"
    page.keyboard.press("c")
    before = len(posts(watch)), len(sent_on_socket(watch))
    draw_digit(page, 3)
    assert settle(page) == "3"
    assert len(posts(watch)) == before[0], "a guess was posted although the new model's socket was open"
    assert any("model=mlp" in url for url in sent_on_socket(watch)[before[1] :])


def test_without_websockets_the_page_posts(desktop: tuple[Page, Watch]) -> None:
    page, watch = desktop
    page.add_init_script(NO_SOCKETS)
    page.reload()
    page.wait_for_selector('[data-testid="layer-input"]')
    for digit in (7, 3):
        draw_digit(page, digit)
        assert settle(page) == str(digit)
        page.keyboard.press("c")
    assert len(posts(watch)) >= 4 and sent_on_socket(watch) == []
    # a socket that never opened is not tried again for a while: not once a guess
    assert page.evaluate("window.socketsTried") <= 2


def test_a_drawing_on_a_socket_that_closes_is_posted_instead(desktop: tuple[Page, Watch]) -> None:
    page, watch = desktop
    dropped: list[int] = []  # how many requests the page had made when its socket was dropped

    def route(socket) -> None:  # the first socket is dropped at its first drawing, unanswered
        server = socket.connect_to_server()

        def forward(message: str | bytes) -> None:
            if not dropped:
                dropped.append(len(watch.requests))
                socket.close(code=1001, reason="going away")
                return
            server.send(message)

        socket.on_message(forward)

    page.route_web_socket("**/api/predict/live*", route)
    page.reload()
    page.wait_for_selector('[data-testid="layer-input"]')
    draw_digit(page, 7)
    assert settle(page) == "7"
    page.keyboard.press("c")
    draw_digit(page, 3)
    assert settle(page) == "3"
    assert dropped, "no drawing went over the socket"
    after = [url for url in watch.requests[dropped[0] :] if urlsplit(url).path == "/api/predict"]
    assert after, "the dropped drawing was not posted"
