"""JupyterLab in a real browser. The newcomer's path: JupyterLab opens notebook 01 as `make lab` does,
the user switches the parameters cell to the tiny profile, runs all cells and sees outputs, none of
them an error. The run inspector: notebook 10 runs on a small grid's runs over a dataset whose ids
and labels are script payloads, a click on a video of the chosen batch opens that video's timeline,
hovering its segments shows their labels as text, and no payload ever runs (in JupyterLab a script
in the page could run code in the kernel)."""
import json
import re
import secrets
import sys
import tomllib
import urllib.request
from types import SimpleNamespace

import pandas as pd
import pytest

from conftest import HOSTILE_LABEL, ROOT, hostile_dataset_folder
from servers import CHROMIUM, free_port, served

NOTEBOOK = "notebooks/01-dataset.ipynb"
KERNEL = "Python 3 (activeloc)"
SCREENSHOTS = ROOT / "reports" / "figures" / "ui"  # the tests' own record, kept for README
SCREENSHOT = SCREENSHOTS / "jupyterlab-01-dataset.png"
RUN_TIMEOUT_MS = 5 * 60 * 1000

pytestmark = [pytest.mark.browser, pytest.mark.realdata]  # 01 compares with the real annotations when present

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not CHROMIUM.is_file():
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); browser tests skipped", allow_module_level=True)

# Run All has started once a code cell shows [*] or a count (they all show [ ] before); it is over when the
# kernel is idle and no cell is queued or running ([*]): after an error JupyterLab clears the queued prompts.
# The kernel's state is read where the user sees it, in the status bar: the toolbar's execution indicator
# says "idle" before the kernel has started.
PROMPTS = "panel => [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim())"
RUN_STARTED = f"panel => ({PROMPTS})(panel).some(p => p !== '[ ]:')"
RUN_OVER = f"""([panel, idle]) =>
    [...document.querySelectorAll('.jp-StatusBar-TextItem')].some(e => e.textContent.trim() === idle)
    && !({PROMPTS})(panel).some(p => p.includes('*'))"""
# JupyterLab renders an error's traceback as stderr; the error mime type is there for other versions.
PROBLEMS = ('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"], '
            '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')


@pytest.fixture
def lab(project, tmp_path):
    """JupyterLab from this venv, rooted at the copy and opening on notebooks/ as `make lab` does."""
    port, token = free_port(), secrets.token_hex(16)
    state = tmp_path / "jupyter"  # a newcomer's fresh settings and workspace, none of this machine's
    news = state / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')  # no "official Jupyter news?" toast over the screenshot
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
           "--ServerApp.allow_root=True", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={project}",
           "--LabApp.default_url=/lab/tree/notebooks",
           f"--LabApp.user_settings_dir={state / 'settings'}", f"--LabApp.workspaces_dir={state / 'workspaces'}"]
    url = f"http://127.0.0.1:{port}"

    def answers():
        request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(request, timeout=5).close()

    with served(cmd, answers, tmp_path / "jupyterlab.log", env={"JUPYTER_RUNTIME_DIR": str(state / "runtime")}):
        yield SimpleNamespace(url=url, token=token, root=project)


def open_notebook(page, lab, notebook: str):
    """Open ``notebook`` in JupyterLab and wait for its kernel; returns the notebook panel and the
    status bar's idle text."""
    page.goto(f"{lab.url}/lab/tree/{notebook}?token={lab.token}")
    idle = f"{KERNEL} | Idle"
    sync_api.expect(page.locator(".jp-StatusBar-TextItem", has_text=idle)).to_have_text(idle, timeout=90_000)
    return page.locator(".jp-NotebookPanel"), idle


def run_all(page, panel, idle) -> tuple[bool, list, list]:
    """Run > Run All Cells, as a user does; whether it finished, the cells' prompts and any error or
    stderr output."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    try:
        page.wait_for_function(RUN_STARTED, arg=panel.element_handle(), timeout=30_000)
        page.wait_for_function(RUN_OVER, arg=[panel.element_handle(), idle], timeout=RUN_TIMEOUT_MS, polling=500)
        finished = True
    except sync_api.TimeoutError:
        finished = False
    prompts = [p.strip() for p in panel.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()]
    problems = [p.strip() for p in panel.locator(PROBLEMS).all_text_contents()]
    return finished, prompts, problems


def test_newcomer_runs_dataset_notebook_tiny(lab):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            panel, idle = open_notebook(page, lab, NOTEBOOK)

            # The parameters cell: put the cursor before "quick" with the keyboard, select it, type over it.
            cell = panel.locator(".jp-CodeCell").first
            first_line = cell.locator(".cm-line").first
            sync_api.expect(first_line).to_contain_text('profile = "quick"')
            cell.locator(".cm-content").click()
            page.keyboard.press("Control+Home")
            for _ in range(first_line.text_content().index("quick")):
                page.keyboard.press("ArrowRight")
            for _ in range(len("quick")):
                page.keyboard.press("Shift+ArrowRight")
            page.keyboard.type("tiny")
            sync_api.expect(first_line).to_have_text(re.compile(r'^profile = "tiny"(\s|$)'))
            page.keyboard.press("Escape")  # back to command mode, as after editing

            finished, prompts, problems = run_all(page, panel, idle)
            tables = panel.locator(".jp-OutputArea-output table")
            if tables.count():
                tables.first.scroll_into_view_if_needed()
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOT)
            n_tables = tables.count()
        finally:
            browser.close()

    assert finished, f"Run All did not finish in {RUN_TIMEOUT_MS // 60_000} min: prompts {prompts}; outputs {problems}"
    assert not problems, "error or stderr outputs in JupyterLab:\n" + "\n---\n".join(problems)
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), f"cells not all run: {prompts}"
    assert n_tables > 0, "no table rendered (expected the split statistics)"
    parameters = json.loads((lab.root / "data" / "processed" / "dataset" / "parameters.json").read_text())
    tiny = tomllib.loads((lab.root / "notebooks" / "profiles.toml").read_text())["tiny"]["01-dataset"]
    assert parameters["profile"] == "tiny"
    assert parameters["feature_dim"] == tiny["feature_dim"], "profile = \"tiny\" did not apply the tiny values"


@pytest.fixture
def inspected_runs(project):
    """03's folder in the copy, holding a small grid's MCLE and Uncertainty runs (seed 0) on a hostile
    dataset: what 10 inspects."""
    from activeloc.experiments import make_cells, run_grid

    processed = project / "data" / "processed"
    folder = hostile_dataset_folder(processed / "dataset", n=300, classes=12, feature_dim=12)
    cells = make_cells(folder, ["mcle", "uncertainty"], [16], [0.0], [0], selection_videos=120, testing_videos=60,
                       knowledge_videos=120)
    run_grid(cells, processed / "experiments" / "selection-ablation")
    return project


def test_inspector_notebook_opens_a_clicked_videos_timeline(inspected_runs, lab):
    shot = SCREENSHOTS / "jupyterlab-inspector.png"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1600})
            panel, idle = open_notebook(page, lab, "notebooks/10-inspector.ipynb")
            finished, prompts, problems = run_all(page, panel, idle)
            buttons = panel.locator(".activeloc-open-video")
            sync_api.expect(buttons.first).to_be_visible(timeout=30_000)
            chosen = [b.strip() for b in buttons.all_text_contents()]
            buttons.nth(1).click()  # the second video MCLE chose
            title = panel.locator(".activeloc-detail-title")
            sync_api.expect(title).to_contain_text(chosen[1], timeout=30_000)
            timeline = panel.locator(".activeloc-timeline")
            sync_api.expect(timeline).to_be_visible(timeout=30_000)
            panel.locator(".activeloc-inspector").evaluate("e => e.scrollIntoView()")  # the batch and the timeline
            drawn = timeline.locator("canvas").first.evaluate("c => c.width * c.height")
            tip = hover_until_a_tip(page, timeline.locator("canvas").first, y=24 + 3 + 6)  # the ground truth's first row
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=shot)
            pwned = page.evaluate("() => window.__pwned")
        finally:
            browser.close()

    assert finished, f"Run All did not finish in {RUN_TIMEOUT_MS // 60_000} min: prompts {prompts}; outputs {problems}"
    assert not problems, "error or stderr outputs in JupyterLab:\n" + "\n---\n".join(problems)
    table = pd.read_csv(lab.root / "reports" / "tables" / "inspector_step.csv")
    mcle = table[table["selector"] == "mcle"]["video_id"].tolist()
    assert chosen[:len(mcle)] == mcle, "the widget's rows are not the batch the notebook explained"
    assert drawn > 0
    assert tip.startswith("ground truth") and HOSTILE_LABEL.split("{")[0] in tip, tip  # the label, as text
    assert pwned is None, f"a payload ran in JupyterLab: {pwned}"


def hover_until_a_tip(page, canvas, y: float) -> str:
    """Move the mouse along a row of ``canvas`` until the tooltip shows; its text."""
    box = canvas.bounding_box()
    tip = page.locator(".activeloc-tip").first
    for x in range(115, int(box["width"]), 6):
        page.mouse.move(box["x"] + x, box["y"] + y)
        if tip.is_visible():
            return tip.inner_text()
    raise AssertionError("no segment on that row showed a tooltip")
