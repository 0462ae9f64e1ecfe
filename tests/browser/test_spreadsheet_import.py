"""A process owner imports a returns workbook with errors at 1024 px: the preview lists each error with row,
column and reason, "Import the N valid rows" runs the import in the background (the page reloads itself with a
progress bar), and the summary counts the cases started."""

from __future__ import annotations

from sqlalchemy import func, select

from orchestrator.models import ProcessDefinition, ProcessInstance
from tests.engine.test_spreadsheet_import import BAD_DATE, MISSING_NAME, UNKNOWN_REASON, returns_workbook

ROWS = 1500  # enough rows that the progress page is seen before the end
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sign_in(page, live_server, email: str) -> None:
    page.goto(live_server("/login"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", live_server.password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")


def returns_cases(engine) -> int:
    with engine.db.reading() as session:
        return session.scalar(select(func.count()).select_from(ProcessInstance).join(
            ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .where(ProcessDefinition.key == "returns"))


def test_a_returns_workbook_with_errors_is_previewed_then_its_valid_rows_imported(page, live_server, screenshot_dir):
    sign_in(page, live_server, "owner@demo.loopline")
    page.goto(live_server("/imports"))
    page.select_option("#import-kind", "returns")
    page.set_input_files("#import-file", files=[{"name": "returns-december.xlsx", "mimeType": XLSX,
                                                 "buffer": returns_workbook(ROWS)}])
    with page.expect_navigation():
        page.click("button[type=submit].primary")

    assert page.text_content("#count-total").strip() == str(ROWS)
    assert page.text_content("#count-valid").strip() == str(ROWS - 3)
    errors = [[cell.strip() for cell in row.split("\t")]
              for row in page.locator("#import-errors tbody tr").evaluate_all(
                  "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent).join('\\t'))")]
    assert [(int(row), column) for row, column, _reason in errors] == [
        (BAD_DATE, "Purchase date"), (MISSING_NAME, "Customer name"), (UNKNOWN_REASON, "Reason")]
    assert page.locator("#import-sample tbody tr").count() == 10
    headers = page.locator("#import-sample thead th").all_text_contents()
    assert headers[:3] == ["Row", "RMA number", "Received via"] and "Order number" in headers
    assert page.locator("#import-sample tbody tr").first.locator("td").nth(2).text_content() == "spreadsheet"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024  # no sideways scrolling at 1024 px
    assert returns_cases(live_server.engine) == 0  # nothing stored before the start
    page.screenshot(path=str(screenshot_dir / "import-preview.png"), full_page=True)

    with page.expect_navigation():
        page.click("#import-valid")
    assert page.locator("#import-progress").count() == 1
    # the page reloads itself: once some rows are in (or all, on a fast machine), it shows the bar moved on
    page.wait_for_function("() => Number(document.querySelector('#count-done')?.textContent) > 0",
                           timeout=300_000)
    assert page.text_content("#import-status").strip() in ("importing", "done")
    page.screenshot(path=str(screenshot_dir / "import-progress.png"), full_page=True)

    page.wait_for_selector("#import-result", timeout=300_000)  # the page reloads itself until the end
    assert page.text_content("#count-done").strip() == str(ROWS - 3)
    assert page.text_content("#count-failed").strip() == "0"
    assert returns_cases(live_server.engine) == ROWS - 3
    page.screenshot(path=str(screenshot_dir / "import-done.png"), full_page=True)
