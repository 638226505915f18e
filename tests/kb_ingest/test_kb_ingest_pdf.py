"""PDF loading over real PDFs made with fpdf2: text layer, scanned-like, encrypted, corrupt."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF

from kb_ingest.loaders import LoadError, load_bytes, load_file

WARRANTY = (
    "Warranty claims must be raised within two years of purchase. "
    "Keep your receipt or order confirmation as proof of purchase. "
) * 8
REPAIRS = (
    "Repairs are free during the warranty period. "
    "We collect the item and return it within ten working days. "
) * 8
CONTACT = "Contact the support team by chat or email for anything else."


def make_pdf(pages: list[str], title: str | None = None, user_password: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    if title:
        pdf.set_title(title)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=user_password)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def words(text: str) -> str:
    return " ".join(text.split())


def test_pdf_pages_become_sections(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    path = folder / "Warranty Guide.pdf"
    path.write_bytes(make_pdf([WARRANTY, REPAIRS, CONTACT], title="Warranty and repairs"))
    [article] = load_file(path, root=tmp_path)
    assert article.id == "policies/warranty-guide"
    assert article.source == "policies/Warranty Guide.pdf"
    assert article.kind == "pdf"
    assert article.title == "Warranty and repairs"
    assert [s.heading_path for s in article.sections] == [
        ("Page 1",),
        ("Page 2",),
        ("Page 3",),
    ]
    assert words(article.sections[0].text) == words(WARRANTY)
    assert words(article.sections[1].text) == words(REPAIRS)
    assert words(article.sections[2].text) == CONTACT


def test_short_pdf_is_one_section_titled_by_stem() -> None:
    [article] = load_bytes("opening-hours.pdf", make_pdf(["Open 9 to 5.", "Closed Sundays."]))
    assert article.id == "opening-hours"
    assert article.title == "Opening hours"
    assert [s.heading_path for s in article.sections] == [()]
    assert article.sections[0].text == "Open 9 to 5.\n\nClosed Sundays."


def test_pdf_skips_blank_pages() -> None:
    data = make_pdf([WARRANTY, "", REPAIRS])
    [article] = load_bytes("guide.pdf", data)
    assert [s.heading_path for s in article.sections] == [("Page 1",), ("Page 3",)]


def test_scanned_like_pdf_without_text_layer() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_fill_color(200, 200, 200)
    pdf.rect(20, 20, 170, 250, style="F")  # a "scanned page": drawing, no text
    with pytest.raises(LoadError) as err:
        load_bytes("scan.pdf", bytes(pdf.output()))
    assert err.value.reason == "PDF has no text layer (scanned?)"


def test_encrypted_pdf() -> None:
    with pytest.raises(LoadError) as err:
        load_bytes("locked.pdf", make_pdf([WARRANTY], user_password="let-me-in"))
    assert err.value.reason == "PDF is encrypted"


def test_pdf_with_only_an_owner_password_is_read() -> None:
    [article] = load_bytes("restricted.pdf", make_pdf([CONTACT], user_password=""))
    assert article.sections[0].text == CONTACT


@pytest.mark.parametrize(
    "data",
    [
        b"this is not a PDF at all",
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog",
        make_pdf([WARRANTY, REPAIRS])[:700],
    ],
    ids=["no-header", "header-only", "truncated"],
)
def test_corrupt_pdf(data: bytes) -> None:
    with pytest.raises(LoadError) as err:
        load_bytes("broken.pdf", data)
    assert err.value.reason.startswith("not a readable PDF: ")
