"""The dashboard pages, their downloads, the drill-down and the API: readers of reports see them, staff are refused,
a bad filter value is a 400 naming the field. Figures are those of tests/engine/test_dashboards.py's rows."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from orchestrator.settings import REPO_ROOT
from tests.conftest import ADMIN
from tests.engine.test_dashboards import seed_dashboard_rows
from tests.web.test_pages import signed_in
from web.auth.demo import seed_demo_users

PERIOD = "from=2025-01-01&to=2025-12-31"
READERS = ("owner", "management", "auditor")


@pytest.fixture
def site(app, web_engine):
    web_engine.deployments.deploy_directory(REPO_ROOT / "bpmn", actor=ADMIN)
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    app.config["CASES"] = seed_dashboard_rows(web_engine)
    return app


def _row(html: str, table: str, first_cell: str) -> str:
    section = html.split(f'data-table="{table}"')[1].split("</section>")[0]
    return section.split(f">{first_cell}<")[1].split("</tr>")[0]


@pytest.mark.parametrize("who", READERS)
def test_readers_of_reports_see_the_three_dashboards(site, who):
    client = signed_in(site, who)
    landing = client.get("/dashboards").get_data(as_text=True)
    for process in ("returns", "recall", "capa"):
        assert f'href="/dashboards/{process}"' in landing
    returns = client.get(f"/dashboards/returns?{PERIOD}")
    assert returns.status_code == 200
    html = returns.get_data(as_text=True)
    assert "chart.umd.min.js" in html and "dashboards.js" in html and 'class="chart-data"' in html
    # SKU A: 2 returns, 3 units of 100 sold; the reason shown by its option name where the model has one
    assert ">2<" in _row(html, "rate_by_sku", "A") and ">3.0 %<" in _row(html, "rate_by_sku", "A")
    assert ">3.0 %<" in _row(html, "rate_by_month", "2025-03") and ">8.0 %<" in _row(html, "rate_by_month", "2025-04")
    assert "—" in _row(html, "rate_by_month", "2025-01")  # no units sold known that month
    assert ">75.0 %<" in _row(html, "pareto", "F1")
    assert ">Recycle / scrap<" in html  # disposition "scrap" by the returns model's option name
    capa = client.get(f"/dashboards/capa?{PERIOD}").get_data(as_text=True)
    assert ">2<" in _row(capa, "open_by_discipline", "D3")
    recall = client.get(f"/dashboards/recall?{PERIOD}").get_data(as_text=True)
    assert ">RC-1<" in recall and ">RC-2<" in recall and ">153<" in recall and ">33.3 %<" in recall


def test_the_drill_down_lists_the_cases_behind_a_bar(site):
    client = signed_in(site, "management")
    html = client.get(f"/dashboards/returns?{PERIOD}").get_data(as_text=True)
    link = 'href="/dashboards/returns/cases?dimension=sku&amp;value=A&amp;'
    assert link in html
    listing = client.get(f"/dashboards/returns/cases?dimension=sku&value=A&{PERIOD}")
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    cases = site.config["CASES"]
    assert f'href="/instances/{cases["R1"]}"' in text and f'href="/instances/{cases["R2"]}"' in text
    assert cases["R3"] not in text and "(2)" in text
    overdue = client.get(f"/dashboards/capa/cases?dimension=overdue&value=&{PERIOD}").get_data(as_text=True)
    assert cases["C1"] in overdue and cases["C2"] in overdue and cases["C3"] not in overdue


def test_tables_download_as_csv_and_xlsx(site):
    client = signed_in(site, "auditor")
    answer = client.get(f"/dashboards/returns?{PERIOD}&format=csv&table=rate_by_sku")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["SKU", "Returns", "Returned units", "Units sold", "Return rate"]
    assert rows[1:] == [["B", "2", "4.0", "80.0", "0.05"], ["A", "2", "3.0", "100.0", "0.03"]]
    answer = client.get(f"/dashboards/capa?{PERIOD}&format=xlsx&table=by_supplier")
    assert answer.status_code == 200
    sheet = load_workbook(io.BytesIO(answer.data)).worksheets[0]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == ["Supplier", "CAPAs", "Open", "Closed"]
    assert ["S1", 3, 2, 1] in values and ["S2", 2, 1, 1] in values
    missing = client.get(f"/dashboards/returns?{PERIOD}&format=csv&table=nothing")
    assert missing.status_code == 400 and "rate_by_sku" in missing.get_data(as_text=True)


def test_bad_filters_are_a_400_naming_the_field(site):
    client = signed_in(site, "management")
    answer = client.get("/dashboards/returns?from=notadate")
    assert answer.status_code == 400 and "&#39;from&#39; must be a date" in answer.get_data(as_text=True)
    answer = client.get("/dashboards/capa?from=2025-05-01&to=2025-04-01")
    assert answer.status_code == 400 and "&#39;to&#39; must not be before" in answer.get_data(as_text=True)
    answer = client.get(f"/dashboards/returns/cases?dimension=colour&value=red&{PERIOD}")
    assert answer.status_code == 422 and "dimension" in answer.get_data(as_text=True)
    assert client.get("/dashboards/payroll").status_code == 404


def test_staff_are_refused(site):
    client = signed_in(site, "customer.service")
    for path in ("/dashboards", "/dashboards/returns", "/dashboards/recall", "/dashboards/capa",
                 "/dashboards/returns/cases?dimension=sku&value=A", "/dashboards/returns?format=csv&table=pareto"):
        assert client.get(path).status_code == 403, path


def test_the_api_answers_readers_and_refuses_staff(site, as_):
    for who in ("owner", "auditor", "admin"):
        answer = as_(who).get(f"/api/v1/dashboards/returns?{PERIOD}")
        assert answer.status_code == 200, answer.data
        body = answer.get_json()
        assert body["total"]["units"] == 7 and body["total"]["sold"] == 180
        assert body["filter"]["from"] == "2025-01-01"
        assert body["pareto"][0] == {"faultCode": "F1", "cases": 3, "share": 0.75, "cumulativeShare": 0.75}
    capa = as_("auditor").get(f"/api/v1/dashboards/capa?{PERIOD}&supplier=S2").get_json()
    assert capa["cases"] == 2 and capa["byStage"] == [{"stage": "D3", "cases": 1}]
    recall = as_("auditor").get(f"/api/v1/dashboards/recall?{PERIOD}").get_json()
    total = recall["recalls"][1]["audiences"][2]
    assert (total["audience"], total["notified"], total["delivered"], total["opened"]) == ("total", 4, 3, 2)
    refused = as_("clerk").get("/api/v1/dashboards/returns")
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    bad = as_("owner").get("/api/v1/dashboards/capa?from=notadate")
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
    assert "from" in bad.get_json()["errors"]
    for query, field in (("from=2025-05-01&to=2025-04-01", "to"), ("to=0001-01-04", "to")):
        bad = as_("owner").get(f"/api/v1/dashboards/recall?{query}")
        assert bad.status_code == 422 and field in bad.get_json()["errors"], bad.data
