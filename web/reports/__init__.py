"""Printable reports drawn from one Jinja template each: the HTML page, and the same HTML laid out as PDF by
fpdf2 (web/reports/pdf.py)."""
