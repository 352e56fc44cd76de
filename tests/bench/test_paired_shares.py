"""The bench's shares of «hello» (``bench.web.paired``): each page is measured in rounds right
after a round of the yardstick, and its share is the median of the rounds' own ratios, so a
moment when the host slows the whole VM moves both sides of the ratio it is in."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.web import Client, Load, Paired, combined, paired


def _load(per_second: float, seconds: float = 1.0, latencies: tuple[float, ...] = (),
          app_cpu_ms: float | None = None, db_cpu_ms: float | None = None) -> Load:
    ok = round(per_second * seconds)
    return Load(per_second, ok, 0, max(latencies, default=0.0), app_cpu_ms, db_cpu_ms,
                seconds=seconds, latencies=list(latencies))


def test_loads_put_together_count_every_answer_over_the_whole_time() -> None:
    together = combined([
        _load(100, 1.0, tuple(float(value) for value in range(1, 101)), 2.0, 0.5),
        _load(150, 2.0, tuple(float(value) for value in range(1, 301)), 4.0, 1.0)])
    assert together.ok == 400
    assert together.per_second == 400 / 3.0  # not the mean of 100 and 150 req/s
    assert together.seconds == 3.0
    assert together.p95_ms == 280.0  # the 380th of the 400 answers' times, sorted
    # CPU per answer weighted by answers: (100 × 2 + 300 × 4) / 400.
    assert together.app_cpu_ms == 3.5
    assert together.db_cpu_ms == (100 * 0.5 + 300 * 1.0) / 400
    unmeasured = combined([_load(10, app_cpu_ms=1.0), _load(10)])
    assert unmeasured.app_cpu_ms is None  # a round without CPU leaves the whole unmeasured


def test_a_slow_moment_of_the_host_moves_both_sides_of_its_round() -> None:
    # The host gives the VM half as much in the second round: «hello» and the page halve
    # together, and the page's share stays 10 %; against the median of every «hello» it would
    # read 10 %, 5 % and 10 % by round, and its throughput over the rounds 8.3 %.
    measured = Paired([(_load(3000), _load(300)), (_load(1500), _load(150)),
                       (_load(3000), _load(300))])
    assert measured.shares == [10.0, 10.0, 10.0]
    assert measured.share == 10.0
    assert measured.page.per_second == 250.0
    assert measured.hello.per_second == 2500.0
    assert Paired([(_load(2000), _load(100)), (_load(2000), _load(400)),
                   (_load(2000), _load(300))]).share == 15.0  # the median, not the mean
    assert Paired([(_load(0), _load(100))]).share is None  # no yardstick: no share


class _Recorder(BaseHTTPRequestHandler):
    arrivals: list[tuple[float, str]] = []
    delay = 0.0

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.arrivals.append((time.monotonic(), self.server.name))  # type: ignore[attr-defined]
        self.server.ports.add(self.client_address[1])  # type: ignore[attr-defined]
        if self.server.delay:  # type: ignore[attr-defined]
            time.sleep(self.server.delay)  # type: ignore[attr-defined]
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _server(name: str, delay: float, arrivals: list[tuple[float, str]],
            ports: set[int] | None = None) -> Iterator[int]:
    handler = type(f"Recorder{name}", (_Recorder,), {"arrivals": arrivals})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.name = name  # type: ignore[attr-defined]
    server.delay = delay  # type: ignore[attr-defined]
    server.ports = ports if ports is not None else set()  # type: ignore[attr-defined]
    server.protocol_version = "HTTP/1.1"
    handler.protocol_version = "HTTP/1.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_each_round_of_the_page_follows_a_round_of_the_yardstick() -> None:
    arrivals: list[tuple[float, str]] = []
    with _server("hello", 0.0, arrivals) as hello_port, \
            _server("page", 0.01, arrivals) as page_port:
        yardstick = [Client(hello_port) for _ in range(2)]
        clients = [Client(page_port) for _ in range(2)]
        try:
            measured = paired(yardstick, None, clients, "/pagina", server_pid=None,
                              rounds=3, seconds=0.3)
        finally:
            for client in yardstick + clients:
                client.connection.close()
    assert len(measured.rounds) == 3
    assert all(hello.ok > 0 and page.ok > 0 and not page.errors
               for hello, page in measured.rounds)
    # The page sleeps 10 ms an answer, «hello» not at all: the share is well under 100 %.
    assert measured.share is not None and 0 < measured.share < 100
    # Requests came in blocks, «hello» first: hello, page, hello, page, hello, page.
    blocks = [name for index, (_, name) in enumerate(sorted(arrivals))
              if index == 0 or sorted(arrivals)[index - 1][1] != name]
    assert blocks == ["hello", "page"] * 3
    assert measured.page.ok == sum(page.ok for _, page in measured.rounds)


def test_a_client_without_keep_alive_opens_a_connection_per_request() -> None:
    # As nginx sends requests to gunicorn in production: each to whichever worker accepts it.
    for keep_alive, connections in ((False, 6), (True, 1)):
        ports: set[int] = set()
        with _server("page", 0.0, [], ports) as port:
            client = Client(port, keep_alive=keep_alive)
            try:
                assert [client.get("/")[0] for _ in range(6)] == [200] * 6
            finally:
                client.connection.close()
        assert len(ports) == connections
