"""The Voila annotator app in a real browser, served by `activeloc annotate` on a tiny dataset: the
token is required; a segment drawn with the mouse, nudged with the keyboard, undone, labelled and
submitted lands in the queue; a finished batch brings the next one; a draft and the progress
survive a reload. And the timeline script draws 1,000 candidates in under 200 ms (read from the page).

The server's defences (activeloc.ui.server): its Content-Security-Policy on every response, the
page's inline scripts exactly those it allows, and no page violating it; the token dropped from
the URL once accepted, on no command line and in no log; unknown and malformed paths a 4xx.

One server for the module (its tests run in order on one worker and share its queue); each
measured time is printed (`pytest -s`) and kept in the test's report (record_property)."""
import base64
import hashlib
import inspect
import json
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT, write_dataset_folder
from servers import CHROMIUM, free_port, served

FIGURES = ROOT / "reports" / "figures" / "ui"  # the tests' own record, kept for README
BATCH = 3
RENDER_TARGET_MS = 200  # the target for 1,000 candidates

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("annotator_app")]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
pytest.importorskip("voila", reason="voila is not installed (the ui extra)")
if not CHROMIUM.is_file():
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); browser tests skipped", allow_module_level=True)

EDIT_LANE_Y = 24 + 12  # px below the canvas's top: inside the annotation lane (the ruler is 24 px; no other lane)
LEFT = 110  # px: the lane names' column


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, cookie=None, follow=False):
    """(status, headers, body as text) of a GET, with the login ``cookie`` if given (a Cookie header),
    following redirects only if ``follow``."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.build_opener(*([] if follow else [NoRedirect])).open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode("utf-8", "replace")


def get(url):
    """(status, Location header) of a GET that follows no redirect."""
    status, headers, _ = fetch(url)
    return status, headers.get("Location")


def login(app):
    """The login cookie (a Cookie header's value) the token gets."""
    status, headers, _ = fetch(f"{app.url}/?token={app.token}")
    assert status == 302, status
    return headers["Set-Cookie"].split(";")[0]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """`activeloc annotate` on a 300-video dataset, batches of 3, a known token given by file."""
    tmp = tmp_path_factory.mktemp("annotator_app")
    folder = write_dataset_folder(tmp / "dataset", n=300, classes=8, feature_dim=8)
    port, token, queue = free_port(), secrets.token_hex(16), tmp / "queue.jsonl"
    (tmp / "token").write_text(f"{token}\n")  # the command strips it
    cmd = [sys.executable, "-m", "activeloc.cli", "annotate", "--dataset", str(folder), "--queue", str(queue),
           "--batch-size", str(BATCH), "--port", str(port), "--token-file", str(tmp / "token")]
    url = f"http://127.0.0.1:{port}"
    with served(cmd, lambda: get(f"{url}/login"), tmp / "annotate.log") as server:  # SIGTERM ends Voila and its kernels
        yield SimpleNamespace(url=url, token=token, queue=queue, log=tmp / "annotate.log", pid=server.pid,
                              dataset=folder)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def queue_records(app):
    return [json.loads(line) for line in app.queue.read_text().splitlines()] if app.queue.exists() else []


# What the browser reports of the Content-Security-Policy: its violation events, through a binding
# that outlives reloads (any console message about the policy is kept too).
REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => window.cspViolation(
  `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));"""


@contextmanager
def opened(browser, app):
    """A page on the app, opened by the URL with the token, once its panel is drawn: (page, seconds
    from navigation to the panel). The URL drops the token, the kernel's websocket goes without it
    (the login cookie does); when the block ends, the page has violated no Content-Security-Policy."""
    page = browser.new_page(viewport={"width": 1100, "height": 520})
    try:
        # Whatever the page asks of anyone but the app (the template must fetch nothing from the internet).
        page.elsewhere, page.violations, page.websockets = [], [], []
        page.on("request", lambda r: None if r.url.startswith((app.url, "data:", "blob:")) else page.elsewhere.append(r.url))
        page.on("websocket", lambda ws: page.websockets.append(ws.url))
        page.expose_function("cspViolation", lambda violation: page.violations.append(violation))
        page.add_init_script(REPORT_VIOLATIONS)
        page.on("console", lambda m: page.violations.append(m.text) if "Content Security Policy" in m.text else None)
        start = time.monotonic()
        page.goto(f"{app.url}/?token={app.token}")
        page.locator(".activeloc-timeline canvas").wait_for(timeout=60_000)
        seconds = time.monotonic() - start
        assert page.url == f"{app.url}/"  # the login cookie is set: the token left the address bar and history
        assert page.websockets and not [url for url in page.websockets if "token" in url], page.websockets
        # Every widget view found its model: no placeholder stays (a stray one means an orphan widget).
        sync_api.expect(page.get_by_text("Loading widget...")).to_have_count(0, timeout=10_000)
        yield page, seconds
        assert page.violations == [], f"the page violated its Content-Security-Policy: {page.violations}"
    finally:
        page.close()


def screenshot(page, name):
    FIGURES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=FIGURES / name)


def segments(page):
    return json.loads(page.locator(".activeloc-timeline").get_attribute("data-segments"))


def wait_segments_change(page, before):
    page.wait_for_function("before => document.querySelector('.activeloc-timeline').dataset.segments !== before",
                           arg=json.dumps(before, separators=(",", ":")), timeout=10_000)
    return segments(page)


def drag(page, x0, x1):
    """Press at ``x0`` and release at ``x1`` (px from the canvas's left edge) on the annotation lane."""
    box = page.locator(".activeloc-timeline canvas").bounding_box()
    y = box["y"] + EDIT_LANE_Y
    page.mouse.move(box["x"] + x0, y)
    page.mouse.down()
    page.mouse.move(box["x"] + (x0 + x1) / 2, y, steps=4)
    page.mouse.move(box["x"] + x1, y, steps=4)
    page.mouse.up()


def title(page):
    return page.locator(".activeloc-title").inner_text()


def progress(page):
    return page.locator(".activeloc-progress").inner_text()


def test_a_request_without_the_token_is_refused(app):
    status, location = get(f"{app.url}/")
    assert status == 302 and location.startswith("/login"), (status, location)  # Voila sends it to its login page
    assert get(f"{app.url}/?token=wrong")[0] == 302
    kernel = f"{app.url}/api/kernels/00000000-0000-0000-0000-000000000000"
    assert get(kernel)[0] == get(f"{kernel}/channels")[0] == 403  # no kernel API for a stranger either
    assert not app.queue.exists()  # and nothing ran


@pytest.fixture(scope="module")
def page_by_cookie(app):
    """The first answer to the URL with the token, then the page by the cookie it set."""
    status, headers, _ = fetch(f"{app.url}/?token={app.token}&theme=light")
    cookie = headers["Set-Cookie"].split(";")[0]
    return SimpleNamespace(status=status, location=headers["Location"], cookie=cookie,
                           page=fetch(f"{app.url}{headers['Location']}", cookie))


def test_an_accepted_token_leaves_the_url_and_the_page_holds_none(app, page_by_cookie):
    # The same URL without the token (the rest of its query kept), which the cookie alone opens.
    assert (page_by_cookie.status, page_by_cookie.location) == (302, "/?theme=light")
    status, _, html = page_by_cookie.page
    assert status == 200 and "jp-Notebook" in html
    assert app.token not in html
    # The page config gives the frontend no token (PageConfig.getToken() is empty): the kernel's
    # websocket authenticates by the cookie (the browser tests below run on it).
    config = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    assert "token" not in json.loads(config.group(1))


def inline_scripts(html):
    """The text of each inline script the browser would run (JSON-typed scripts are data)."""
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    return [text for attributes, text in scripts if "src=" not in attributes
            and re.search(r'type="(?!text/javascript"|module")', attributes) is None]


def sha256(text):
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_every_response_carries_the_policy_which_allows_exactly_the_pages_inline_scripts(app, page_by_cookie):
    from voila import handler

    from activeloc.ui.server import INLINE_SCRIPTS, POLICY

    _, headers, html = page_by_cookie.page
    assert headers["Content-Security-Policy"] == POLICY and headers["Referrer-Policy"] == "no-referrer"
    answers = {path: fetch(f"{app.url}{path}", page_by_cookie.cookie)[:2] for path in
               ["/login", "/voila/static/voila.js", "/voila/templates/activeloc/static/voila-style.js",
                "/voila/labextensions/anywidget/package.json", "/voila/files/x", "/voila/templates/x/static/y",
                f"/api/kernels/{'0' * 8}-0000-0000-0000-{'0' * 12}"]}
    assert {path: status for path, (status, _) in answers.items()} == {
        "/login": 302, "/voila/static/voila.js": 200, "/voila/templates/activeloc/static/voila-style.js": 200,
        "/voila/labextensions/anywidget/package.json": 200, "/voila/files/x": 403, "/voila/templates/x/static/y": 404,
        f"/api/kernels/{'0' * 8}-0000-0000-0000-{'0' * 12}": 404}
    # (jupyter_server's API handlers append a "default-src 'none'", a repeat the browser ignores.)
    assert [path for path, (_, h) in answers.items() if not h["Content-Security-Policy"].startswith(POLICY)] == []
    # Each inline script has its hash in the policy, and each hash but the keep-alive's its script on
    # the page: a Voila whose scripts changed fails here, naming the script.
    on_page = {sha256(text): text.strip()[:80] for text in inline_scripts(html)}
    allowed = set(INLINE_SCRIPTS.values())
    assert {h: text for h, text in on_page.items() if h not in allowed} == {}, "inline scripts the policy blocks"
    heartbeat = "window.voila_heartbeat()"  # Voila's handler writes it while a cell runs long
    assert f"<script>{heartbeat}</script>" in inspect.getsource(handler)
    assert allowed - set(on_page) == {sha256(heartbeat)}


# Paths no page asks for, and malformed ones. Voila answered a 500 to any /voila/templates/ path not
# <template>/static/<file> (or climbing out of it), to a NUL byte in a template's asset or an
# allowlisted file, and (logged in) to a control character in any other path.
PROBES = ["/voila/templates/x", "/voila/templates/x/y", "/voila/templates/", "/voila/templates/activeloc/static/",
          "/voila/templates/activeloc/static/%2e%2e/%2e%2e/%2e%2e/x", "/voila/templates/%2e%2e/static/x",
          "/voila/templates/activeloc/static/%00", "/voila/templates/lab/static/x%00.js", "/voila/files/a%00.png",
          "/voila/files/%2e%2e/%2e%2e/x.png", "/voila/files/", "/voila/static/x", "/voila/static/%00",
          "/voila/labextensions/x", "/voila/api/themes/x", "/voila/api/shutdown/x", "/voila/render/x", "/voila/tree",
          "/api", "/api/kernels", "/api/contents", "/api/sessions", "/api/security/csp-report", "/static/x",
          "/nbextensions", "/nbextensions/x", "/favicon.ico", "/a%00b", "/a%20b", "/%0d%0aSet-Cookie:%20x=1",
          f"/{secrets.token_hex(8)}", "/" + "a" * 8000]


def test_unknown_and_malformed_paths_answer_4xx_and_logout_clears_the_cookie(app):
    cookie = login(app)
    strangers = {path: get(f"{app.url}{path}") for path in PROBES}
    assert {path: answer for path, answer in strangers.items()
            if not (400 <= answer[0] < 500 or answer[0] == 302 and answer[1].startswith("/login"))} == {}
    logged_in = {path: fetch(f"{app.url}{path}", cookie, follow=True)[0] for path in PROBES}
    assert {path: status for path, status in logged_in.items() if not 400 <= status < 500} == {}
    # jupyter_server's logout (a 500 in Voila): its page, and the browser told to drop the cookie.
    status, headers, html = fetch(f"{app.url}/logout", cookie)
    name = cookie.split("=")[0]
    assert status == 200 and "Successfully logged out" in html
    assert any(c.startswith(f'{name}="";') and "expires=" in c for c in headers.get_all("Set-Cookie")), \
        headers.get_all("Set-Cookie")


def test_draw_nudge_undo_label_submit_then_the_next_batch(app, browser, record_property):
    with opened(browser, app) as (page, load_seconds):
        text = page.locator("body").inner_text()
        assert "model not found" not in text.lower() and "error" not in text.lower(), text
        assert page.elsewhere == [], f"the page fetched from elsewhere: {page.elsewhere}"
        assert f"0 of {BATCH} annotated" in progress(page)
        video = title(page).split(" ")[0]

        drag(page, LEFT + 200, LEFT + 400)
        drawn = wait_segments_change(page, [])
        assert len(drawn) == 1 and drawn[0]["label"] is None and drawn[0]["t1"] > drawn[0]["t0"]
        page.keyboard.press(".")  # nudge the end of the selected segment
        nudged = wait_segments_change(page, drawn)
        assert nudged[0]["t0"] == drawn[0]["t0"] and nudged[0]["t1"] == pytest.approx(drawn[0]["t1"] + 0.5)
        page.keyboard.press("Control+z")
        assert wait_segments_change(page, nudged) == drawn

        label_box = page.get_by_placeholder("label (type to search)")
        label = page.locator("datalist option").first.get_attribute("value")
        label_box.fill(label)
        label_box.press("Enter")
        labelled = wait_segments_change(page, drawn)
        assert labelled[0]["label"] == label
        screenshot(page, "annotator-app.png")

        before = len(queue_records(app))
        start = time.monotonic()
        page.get_by_role("button", name="Submit", exact=True).click()
        while len(queue_records(app)) == before and time.monotonic() - start < 10:
            time.sleep(0.01)
        submit_seconds = time.monotonic() - start
        record = queue_records(app)[-1]
        assert record["video_id"] == video
        assert record["instances"] == [{"segment": [labelled[0]["t0"], labelled[0]["t1"]], "label": label}]
        sync_api.expect(page.locator(".activeloc-progress")).to_contain_text(f"1 of {BATCH} annotated")
        # On to the batch's next video (the page shows the progress first, then the next video).
        sync_api.expect(page.locator(".activeloc-title")).not_to_contain_text(f"{video} (", timeout=30_000)

        # The batch's other videos ("no action here"); its last submission brings the next batch.
        for _ in range(BATCH - len(queue_records(app))):
            video, before = title(page).split(" ")[0], len(queue_records(app))
            page.get_by_label("no action here").check()
            page.get_by_role("button", name="Submit", exact=True).click()
            start = time.monotonic()
            while len(queue_records(app)) == before and time.monotonic() - start < 10:
                time.sleep(0.01)
            assert queue_records(app)[-1] == {**queue_records(app)[-1], "video_id": video, "instances": []}
            # The next video of the batch, or after the refit the new batch's first.
            sync_api.expect(page.locator(".activeloc-title")).not_to_contain_text(f"{video} (", timeout=60_000)
        status = page.locator(".activeloc-status")
        sync_api.expect(status).to_contain_text("new batch of", timeout=60_000)
        refit = float(status.inner_text().split("took ")[1].split(" s")[0])
        sync_api.expect(page.locator(".activeloc-progress")).to_contain_text(f"0 of {BATCH} annotated")
        queued = {r["video_id"] for r in queue_records(app)}
        assert len(queued) == BATCH
        assert title(page).split(" ")[0] not in queued  # the new batch excludes what was annotated
    print(f"\npage load to first panel: {load_seconds:.2f} s; submit click to queue record: {submit_seconds * 1000:.0f} ms;"
          f" refit and selection after a batch of {BATCH}: {refit:.2f} s")
    record_property("page_load_seconds", round(load_seconds, 2))
    record_property("submit_to_queue_ms", round(submit_seconds * 1000))
    record_property("refit_seconds", refit)


def test_a_draft_and_the_progress_survive_a_reload(app, browser):
    with opened(browser, app) as (page, _):  # the reload is of the URL without the token: the cookie does
        video, shown = title(page).split(" ")[0], progress(page)
        drag(page, LEFT + 100, LEFT + 250)
        draft = wait_segments_change(page, [])
        page.reload()
        page.locator(".activeloc-timeline canvas").wait_for(timeout=60_000)
        page.wait_for_function("() => document.querySelector('.activeloc-timeline').dataset.segments !== '[]'",
                               timeout=10_000)
        assert title(page).split(" ")[0] == video
        assert segments(page) == draft
        assert progress(page) == shown
        assert f"in total: {len({r['video_id'] for r in queue_records(app)})} videos annotated" in shown
        screenshot(page, "annotator-app-after-reload.png")


def test_the_token_is_on_no_command_line_and_in_no_log(app):
    import psutil

    # Requests carrying the token that the server logs (a 403, a refused token containing it).
    assert fetch(f"{app.url}/voila/files/x.txt?token={app.token}")[0] == 403
    assert get(f"{app.url}/?token=not{app.token}")[0] == 302
    assert get(f"{app.url}/?%74oken=not{app.token}")[0] == 302  # a name tornado decodes is a token too
    for path in ("//elsewhere.example/", "/\\elsewhere.example/"):  # the redirect never leaves the server
        status, location = get(f"{app.url}{path}?token={app.token}")
        assert status == 302 and location.startswith("/") and not location.startswith(("//", "/\\")), location
    deadline = time.monotonic() + 10
    while "GET /voila/files/x.txt?token=[secret]" not in app.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = app.log.read_text()
    assert "GET /voila/files/x.txt?token=[secret]" in log and "GET /?token=[secret]" in log
    assert "GET /?%74oken=[secret]" in log
    assert app.token not in log
    # Neither the command's processes (the command, Voila, the kernels) nor Voila's environment hold it.
    command = psutil.Process(app.pid)
    processes = [command, *command.children(recursive=True)]
    [voila] = [p for p in processes if "activeloc.ui.server" in p.cmdline()]
    assert len(processes) >= 3  # a kernel at least: the pages above started some
    assert [p.cmdline() for p in processes if any(app.token in arg for arg in p.cmdline())] == []
    assert Path(voila.environ()["JUPYTER_TOKEN_FILE"]).read_text() == app.token
    assert app.token not in json.dumps(voila.environ())


def test_the_token_from_a_file_or_the_environment_and_one_on_the_command_line_warns(
        app, tmp_path, monkeypatch, capsys):
    from activeloc import cli

    launched = []

    class Server:  # what the command starts, its token file read while the command keeps it
        def __init__(self, cmd, env):
            launched.append(SimpleNamespace(cmd=cmd, env=env, token=Path(env["JUPYTER_TOKEN_FILE"]).read_text()))

        def wait(self, timeout=None):
            return 0

        poll = wait

    monkeypatch.setattr(subprocess, "Popen", Server)
    monkeypatch.setenv("JUPYTER_TOKEN", "a token of the user's own Jupyter")  # would override the file
    monkeypatch.delenv("ACTIVELOC_TOKEN", raising=False)

    def annotate(*options):
        status = cli.main(["annotate", "--dataset", str(app.dataset), "--queue", str(tmp_path / "queue.jsonl"),
                           "--port", "8899", *options])
        out, err = capsys.readouterr()
        return status, out, err

    (tmp_path / "token").write_text("  from-the-file \n")
    status, out, err = annotate("--token-file", str(tmp_path / "token"))
    assert (status, launched[-1].token, err) == (0, "from-the-file", "")
    assert "open http://127.0.0.1:8899/ and log in with the token you gave" in out and "from-the-file" not in out

    monkeypatch.setenv("ACTIVELOC_TOKEN", "from-the-environment")
    status, out, err = annotate()
    assert (status, launched[-1].token, err) == (0, "from-the-environment", "")
    assert "from-the-environment" not in out
    assert not {"ACTIVELOC_TOKEN", "JUPYTER_TOKEN"} & set(launched[-1].env)  # nor for the kernels to inherit
    monkeypatch.delenv("ACTIVELOC_TOKEN")

    status, out, err = annotate("--token", "on-the-command-line")
    assert (status, launched[-1].token) == (0, "on-the-command-line")
    assert err.startswith("activeloc annotate: warning: --token is visible to other local users") and err.count("\n") == 1

    status, out, err = annotate()  # none given: a new one, shown once, to whoever started the command
    assert (status, err) == (0, "") and f"open http://127.0.0.1:8899/?token={launched[-1].token}\n" in out
    assert all(not any(r.token in arg for arg in r.cmd) for r in launched)

    (tmp_path / "empty").write_text("\n")
    for options, error in [(["--token-file", str(tmp_path / "absent")], "cannot read it (No such file or directory)"),
                           (["--token-file", str(tmp_path / "empty")], "is empty"),
                           (["--token", "t", "--token-file", str(tmp_path / "token")], "not allowed with")]:
        with pytest.raises(SystemExit) as exit:
            annotate(*options)
        err = capsys.readouterr().err
        assert exit.value.code == 2 and error in err and err.count("\n") == 1, err
    assert len(launched) == 4


# The shipped script on a bare page, its model a stand-in holding a 1,000-candidate lane: the
# render is the script's alone (the app's tests above run the same script in Voila, through anywidget).
STANDIN = """async ([source, width]) => {
  const rng = (() => { let s = 7; return () => (s = (s * 16807) % 2147483647) / 2147483647; })();
  const t0 = Array.from({length: 1000}, () => rng() * 590);
  const data = {mode: "timeline", video_id: "1,000 candidates", duration: 600, width, view: [0, 600], selected: null,
                lanes: [{name: "candidates", kind: "candidates", t0, t1: t0.map((t) => t + 1 + 9 * rng()),
                         value: t0.map(() => rng())}]};
  const model = {get: (k) => data[k], set: (k, v) => { data[k] = v; }, save_changes() {}, on() {}, off() {}, send() {}};
  const module = await import(URL.createObjectURL(new Blob([source], {type: "text/javascript"})));
  const el = document.createElement("div");
  document.body.appendChild(el);
  module.default.render({model, el});
  return data.render_ms;
}"""


def test_a_1000_candidate_timeline_renders_fast(browser, record_property):
    from activeloc.ui.timeline import STATIC

    page = browser.new_page(viewport={"width": 1100, "height": 200})
    try:
        page.set_content(f"<style>{(STATIC / 'timeline.css').read_text()}</style>")
        model_ms = page.evaluate(STANDIN, [(STATIC / "timeline.js").read_text(), 1000])
        canvas = page.locator(".activeloc-timeline canvas[data-render-ms]")
        render_ms = float(canvas.get_attribute("data-render-ms"))  # what the page shows, as the widget's render_ms
        assert render_ms == pytest.approx(model_ms, abs=0.01)
        screenshot(page, "timeline-1000.png")
    finally:
        page.close()
    print(f"\n1,000-candidate timeline: first render {render_ms:.1f} ms (target < {RENDER_TARGET_MS} ms)")
    record_property("render_ms_1000_candidates", render_ms)
    assert render_ms < RENDER_TARGET_MS
