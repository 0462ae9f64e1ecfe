"""The printable reports in a real browser at 1024 px and their PDFs drawn to PNG (pypdfium2): screenshots
report-8d.png, report-recall-status.png, report-recall-termination.png and return-slip.png (PDF pages), and
report-*-page.png (the HTML pages). The return slip's barcode is read back from the drawn PDF."""

from __future__ import annotations

import threading

import pypdfium2
import pytest
from PIL import Image
from werkzeug.serving import make_server

from integrations.config import IntegrationSettings, NotifySettings
from integrations.db import IntegrationsBase
from integrations.traceability.models import TraceEvent
from tests.processes.driver import deploy_models
from tests.processes.test_recall_effectiveness import TRACE
from tests.processes.test_reports import closed_capa
from tests.web.test_report_pages import returned, terminated_recall
from web.app import create_app
from web.auth.demo import DEMO_PASSWORD, seed_demo_users
from web.auth.users import ensure_roles_and_groups
from web.extensions import db
from web.reports.codes import CODE39


@pytest.fixture
def report_site(make_engine, sqlite_database):
    """The bundled models on the built-in connectors with the recall tests' trace data, served on a free port
    (no job worker: the test runs the cases' jobs itself)."""
    notify = NotifySettings(backend="outbox", ack_secret="ack-secret-for-report-tests")
    engine = make_engine(sqlite_database, connector_modules=(), integration_settings=IntegrationSettings(notify=notify))
    IntegrationsBase.metadata.create_all(engine.db.engine)
    deploy_models(engine)
    with engine.db.transaction() as session:
        session.add_all(TraceEvent(**event) for event in TRACE)
    app = create_app(engine.settings, engine)
    with app.app_context():
        ensure_roles_and_groups(app.extensions["security"].datastore)
        seed_demo_users(app.extensions["security"].datastore)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="report-server", daemon=True)
    thread.start()
    try:
        yield engine, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


def sign_in(page, url: str, email: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")


def pdf_pages(page, url: str, headers: dict | None = None) -> list[Image.Image]:
    """The PDF the signed-in browser downloads, each page drawn at 110 dpi."""
    answer = page.request.get(url, headers=headers)
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    document = pypdfium2.PdfDocument(answer.body())
    return [document[index].render(scale=110 / 72).to_pil().convert("RGB") for index in range(len(document))]


def save_pages(images: list[Image.Image], path) -> None:
    """The pages one under the other in one PNG."""
    width, height = max(i.width for i in images), sum(i.height for i in images)
    sheet = Image.new("RGB", (width, height), "white")
    top = 0
    for image in images:
        sheet.paste(image, (0, top))
        top += image.height
    sheet.save(path)


def read_code39(image: Image.Image) -> str:
    """Decode the first Code 39 barcode on a drawn page: the row through it, its bars and spaces measured."""
    gray = image.convert("L")
    for y in range(gray.height):
        row = [gray.getpixel((x, y)) < 128 for x in range(gray.width)]
        runs, start = [], row.index(True) if True in row else None
        if start is None:
            continue
        x = start
        while x < gray.width:
            end = x
            while end < gray.width and row[end] == row[x]:
                end += 1
            runs.append((row[x], end - x))
            x = end
        if len(runs) < 29 or sum(1 for dark, _ in runs if dark) < 15:
            continue  # text, not a barcode
        narrow = min(length for _, length in runs[:9])
        decode = {pattern: char for char, pattern in CODE39.items()}
        elements = ["w" if length > 2 * narrow else "n" for _, length in runs]
        text = ""
        for index in range(0, len(elements) - 8, 10):
            char = decode.get("".join(elements[index:index + 9]))
            if char is None:
                break
            text += char
        if len(text) > 2 and text[0] == text[-1] == "*":
            return text[1:-1]
    raise AssertionError("no Code 39 barcode found")


def test_the_reports_drawn_and_shown_at_1024_px(report_site, page, screenshot_dir, clock):
    engine, url = report_site
    capa = closed_capa(engine, clock)
    recall = terminated_recall(engine, clock)
    rma = returned(engine)
    sign_in(page, url, "management@demo.loopline")
    shots = {"8d": (capa, "report-8d"), "recall-status": (recall, "report-recall-status"),
             "recall-termination": (recall, "report-recall-termination"), "return-slip": (rma, "return-slip")}
    for name, (run, shot) in shots.items():
        page.goto(f"{url}/instances/{run.id}/reports/{name}")
        assert page.locator("h1").first.is_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
        assert not overflow, f"{name}: the page is wider than 1024 px"
        page.screenshot(path=str(screenshot_dir / f"{shot}-page.png"), full_page=True)
        images = pdf_pages(page, f"{url}/instances/{run.id}/reports/{name}?format=pdf")
        save_pages(images, screenshot_dir / f"{shot}.png")
        if name == "return-slip":
            assert read_code39(images[0]) == "RMA-1001"
            long_number = f"RMA-{recall.variables['recallReference']}-CUST-881"
            remedy = returned(engine, rmaNumber=long_number)
            slip = pdf_pages(page, f"{url}/instances/{remedy.id}/reports/return-slip?format=pdf")
            save_pages(slip, screenshot_dir / "return-slip-long-number.png")
            assert read_code39(slip[0]) == long_number  # squeezed to the page's width, still read
            assert page.locator(".report-qr img").evaluate("img => img.naturalWidth") > 0
    chinese = pdf_pages(page, f"{url}/instances/{capa.id}/reports/8d?format=pdf", {"Accept-Language": "zh-CN,zh"})
    save_pages(chinese, screenshot_dir / "report-8d-zh.png")  # the model's Chinese labels in Noto Sans CJK
    page.goto(f"{url}/instances/{capa.id}")
    page.click("a.case-report")
    assert page.url.endswith(f"/instances/{capa.id}/reports/8d")
