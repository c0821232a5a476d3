"""Two people, two `activeloc annotate` servers, one queue, on a dataset whose every video id and
class label is a script payload, in two browser contexts (two browsers, as far as storage goes):
each is given a video nobody else holds; one draws, picks a hostile label, hovers the segment and
submits, the other answers "no action here"; the batch is complete once both submitted, and both
pages move on to the next batch's videos, again two different ones, with the same progress. The
ids and labels show as text, no payload runs, the pages report no Content-Security-Policy
violation, and a third server with other settings refuses to start on the queue."""
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from types import SimpleNamespace

import pytest

from conftest import HOSTILE_ID, HOSTILE_LABEL, hostile_dataset_folder
from servers import CHROMIUM, free_port, served

BATCH = 2
EDIT_LANE_Y = 24 + 12  # px below the canvas's top: inside the annotation lane (the ruler is 24 px; no other lane)
LEFT = 110  # px: the lane names' column
TITLE = re.compile(r"^(.*) \(\d+\.\d s\), video \d+ of \d+$", re.S)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("annotators")]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
pytest.importorskip("voila", reason="voila is not installed (the ui extra)")
if not CHROMIUM.is_file():
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); browser tests skipped", allow_module_level=True)

# Every page records what a payload would do and what the policy blocked.
WATCH = """window.addEventListener("securitypolicyviolation",
    (e) => (window.__csp = window.__csp || []).push(e.violatedDirective + " " + e.blockedURI));"""


def answers(url):
    try:
        urllib.request.urlopen(f"{url}/login", timeout=5).close()
    except urllib.error.HTTPError:
        pass  # any answer will do: the server is up


def annotate_command(folder, queue, port, batch_size=BATCH):
    return [sys.executable, "-m", "activeloc.cli", "annotate", "--dataset", str(folder), "--queue", str(queue),
            "--batch-size", str(batch_size), "--port", str(port)]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("annotators")
    folder = hostile_dataset_folder(tmp / "dataset", n=300, classes=8, feature_dim=8)
    queue, token = tmp / "queue.jsonl", secrets.token_hex(16)
    with ExitStack() as stack:
        urls = []
        for i in range(2):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            stack.enter_context(served(annotate_command(folder, queue, port), lambda url=url: answers(url),
                                       tmp / f"annotate-{i}.log", env={"ACTIVELOC_TOKEN": token}))
            urls.append(url)
        yield SimpleNamespace(urls=urls, token=token, queue=queue, folder=folder, env={"ACTIVELOC_TOKEN": token})


def records(servers):
    return [json.loads(line) for line in servers.queue.read_text().splitlines()] if servers.queue.exists() else []


def video_of(page) -> str:
    return TITLE.match(page.locator(".activeloc-title").inner_text()).group(1)


def progress(page) -> str:
    """The page's progress line without the person's own counts."""
    return re.sub(r" · you \([^)]*\): [^·]*", " ", page.locator(".activeloc-progress").inner_text())


def wait_records(servers, n, timeout=15):
    deadline = time.monotonic() + timeout
    while len(records(servers)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return records(servers)


def test_two_people_two_servers_one_queue_on_a_hostile_dataset(servers):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            pages = []
            for url in servers.urls:
                context = browser.new_context(viewport={"width": 1100, "height": 560})
                context.add_init_script(WATCH)
                page = context.new_page()
                page.goto(f"{url}/?token={servers.token}")
                page.locator(".activeloc-timeline canvas").wait_for(timeout=60_000)
                pages.append(page)
            ann, bob = pages
            first = [video_of(p) for p in pages]
            assert first[0] != first[1], first  # never the same video
            assert all(v.startswith(HOSTILE_ID.split("{")[0]) for v in first), first  # the ids, as text

            # A server with other settings on this queue (now held by two people) refuses to start.
            other = subprocess.run(annotate_command(servers.folder, servers.queue, free_port(), batch_size=3),
                                   capture_output=True, text=True, timeout=120, env={**os.environ, **servers.env})
            assert other.returncode == 2 and other.stderr.count("\n") == 1, other.stderr
            assert "served with batch_size 2" in other.stderr and "batch_size 3" in other.stderr

            # Ann draws a segment, picks a hostile label, hovers it and submits.
            canvas = ann.locator(".activeloc-timeline canvas")
            box = canvas.bounding_box()
            y = box["y"] + EDIT_LANE_Y
            ann.mouse.move(box["x"] + LEFT + 200, y)
            ann.mouse.down()
            ann.mouse.move(box["x"] + LEFT + 300, y, steps=4)
            ann.mouse.move(box["x"] + LEFT + 400, y, steps=4)
            ann.mouse.up()
            ann.wait_for_function("() => document.querySelector('.activeloc-timeline').dataset.segments !== '[]'",
                                  timeout=10_000)
            label_box = ann.get_by_placeholder("label (type to search)")
            label = ann.locator("datalist option").first.get_attribute("value")
            assert label.startswith(HOSTILE_LABEL.split("{")[0]), label
            label_box.fill(label)
            label_box.press("Enter")
            ann.wait_for_function("() => JSON.parse(document.querySelector('.activeloc-timeline').dataset.segments)"
                                  "[0].label !== null", timeout=10_000)
            ann.mouse.move(box["x"] + LEFT + 300, y)
            tip = ann.locator(".activeloc-tip")
            sync_api.expect(tip).to_be_visible(timeout=5_000)
            assert label in tip.inner_text()  # the label, as text
            shown = json.loads(ann.locator(".activeloc-timeline").get_attribute("data-segments"))
            ann.get_by_role("button", name="Submit", exact=True).click()
            record = wait_records(servers, 1)[-1]
            assert record["video_id"] == first[0]
            assert record["instances"] == [{"segment": [s["t0"], s["t1"]], "label": s["label"]} for s in shown]
            # The rest of the batch is Bob's: Ann waits.
            sync_api.expect(ann.locator(".activeloc-status")).to_contain_text("being annotated by others",
                                                                              timeout=10_000)

            bob.get_by_label("no action here").check()
            bob.get_by_role("button", name="Submit", exact=True).click()
            assert wait_records(servers, 2)[-1]["video_id"] == first[1]

            # The batch is complete: both servers choose the next one, and both pages move on.
            for page, before in zip(pages, first):
                sync_api.expect(page.locator(".activeloc-title")).to_be_visible(timeout=60_000)
                page.wait_for_function("before => !document.querySelector('.activeloc-title').innerText"
                                       ".startsWith(before + ' (')", arg=before, timeout=60_000)
            second = [video_of(p) for p in pages]
            assert second[0] != second[1] and not set(second) & set(first), second
            for page in pages:  # the same progress in every page (each reads the queue every 2 s)
                sync_api.expect(page.locator(".activeloc-progress")).to_contain_text(
                    f"batch: 0 of {BATCH} annotated ({BATCH} being annotated)", timeout=10_000)
            assert progress(ann) == progress(bob)
            assert [p.evaluate("() => window.__pwned") for p in pages] == [None, None], "a payload ran"
            assert [p.evaluate("() => window.__csp || []") for p in pages] == [[], []]
        finally:
            browser.close()
    people = [r["annotator"] for r in records(servers)]
    assert len(set(people)) == 2 and all(p.startswith("tab ") for p in people), people
