"""Loaders over real-format fixtures: Markdown, HTML, text, FAQ CSV/JSON, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb_ingest.loaders import (
    MAX_FILE_BYTES,
    SUPPORTED_EXTENSIONS,
    Article,
    LoadError,
    Section,
    discover,
    load_bytes,
    load_file,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kb"


def load_one(name: str) -> Article:
    articles = load_file(FIXTURES / name, root=FIXTURES)
    assert len(articles) == 1
    return articles[0]


def all_text(article: Article) -> str:
    return "\n".join(s.text for s in article.sections)


def section(article: Article, *path: str) -> Section:
    matches = [s for s in article.sections if s.heading_path == path]
    assert len(matches) == 1, [s.heading_path for s in article.sections]
    return matches[0]


# --- Markdown ---------------------------------------------------------------------------------


def test_markdown_front_matter_fields() -> None:
    article = load_one("returns.md")
    assert article.id == "returns-and-refunds"
    assert article.title == "Returns and refunds"
    assert article.kind == "markdown"
    assert article.source == "returns.md"
    assert article.tags == ("returns", "refunds", "money back")
    assert article.audience == "public"
    assert article.language == "en"
    assert article.url == "https://help.northwind.example/returns"


def test_markdown_heading_paths_skip_the_title_h1() -> None:
    article = load_one("returns.md")
    assert [s.heading_path for s in article.sections] == [
        (),
        ("Returning an item",),
        ("Returning an item", "Items we cannot take back"),
        ("Refund timing",),
        ("Exchanges",),
    ]


def test_markdown_text_is_plain_and_keeps_lists_and_code() -> None:
    article = load_one("returns.md")
    intro = section(article).text
    assert intro == (
        "You can return most items within 30 days of delivery. See the returns portal to start."
    )
    steps = section(article, "Returning an item").text
    assert steps.splitlines() == [
        "- Pack the item in its original packaging.",
        "- Print the label from the portal.",
        "  - Labels are free in the UK.",
        "- Drop the parcel at any post office.",
    ]
    refund = section(article, "Refund timing").text
    assert "# not a heading" in refund  # code block text, not a heading
    assert "curl https://api.northwind.example/refunds/RF-1234" in refund
    text = all_text(article)
    for markup in ("**", "](", "```", "*original*", "---"):
        assert markup not in text


def test_markdown_without_front_matter_derives_id_title_and_paths(tmp_path: Path) -> None:
    folder = tmp_path / "Shipping"
    folder.mkdir()
    path = folder / "Lost Parcel.md"
    path.write_text(
        "# What to do about a lost parcel\n\nStart here.\n\n## Claims\n\nFile a claim.\n\n"
        "### Evidence\n\nPhotos help.\n\n## Refunds\n\nWithin 5 days.\n",
        encoding="utf-8",
    )
    [article] = load_file(path, root=tmp_path)
    assert article.id == "shipping/lost-parcel"
    assert article.source == "Shipping/Lost Parcel.md"
    assert article.title == "What to do about a lost parcel"
    assert [s.heading_path for s in article.sections] == [
        (),
        ("Claims",),
        ("Claims", "Evidence"),
        ("Refunds",),
    ]
    assert (article.tags, article.audience, article.language, article.url) == (
        (),
        "public",
        None,
        None,
    )


def test_markdown_title_falls_back_to_prettified_stem() -> None:
    [article] = load_bytes("delivery_times-uk.md", b"## Standard\n\n3 days.\n")
    assert article.title == "Delivery times uk"
    assert article.id == "delivery_times-uk"
    assert article.sections == (Section(("Standard",), "3 days."),)


def test_markdown_comma_tags_and_internal_audience() -> None:
    data = b"---\ntags: billing, refunds ,\naudience: Internal\n---\nAgents only.\n"
    [article] = load_bytes("agent-notes.md", data)
    assert article.tags == ("billing", "refunds")
    assert article.audience == "internal"


def test_markdown_unknown_audience_names_the_value() -> None:
    with pytest.raises(LoadError) as err:
        load_bytes("a.md", b"---\naudience: staff-only\n---\nHello\n")
    assert "staff-only" in err.value.reason
    assert "public" in err.value.reason and "internal" in err.value.reason


# --- HTML -------------------------------------------------------------------------------------


def test_html_metadata() -> None:
    article = load_one("help_center_page.html")
    assert article.id == "help_center_page"
    assert article.kind == "html"
    assert article.title == "Where is my parcel?"  # the h1, not the <title>
    assert article.tags == ("shipping", "tracking", "lost parcel")
    assert article.language == "en-GB"
    assert article.url == (
        "https://help.northwind.example/hc/en-gb/articles/360012345-Where-is-my-parcel"
    )
    assert article.audience == "public"


def test_html_heading_paths_and_text() -> None:
    article = load_one("help_center_page.html")
    assert [s.heading_path for s in article.sections] == [
        (),
        ("Tracking your parcel",),
        ("Tracking your parcel", "Tracking shows “delivered” but nothing arrived"),
        ("Reporting a lost parcel",),
    ]
    assert section(article).text == (
        "Most parcels arrive within 3–5 working days. If yours has not, check the tracking "
        "link in your dispatch email first."
    )
    tracking = section(article, "Tracking your parcel").text
    assert "select Track my order. The carrier page" in tracking
    assert "1. Find the tracking number (it starts with NW)." in tracking.splitlines()
    assert "2. Enter it on the carrier's site." in tracking.splitlines()
    delivered = section(
        article, "Tracking your parcel", "Tracking shows “delivered” but nothing arrived"
    ).text
    assert "up to 24 hours early" in delivered  # &nbsp; became a plain space
    assert "- Look for a card through the door." in delivered.splitlines()
    lost = section(article, "Reporting a lost parcel").text
    assert "Express | 3 working days" in lost.splitlines()


def test_html_navigation_footer_sidebar_and_cookie_text_is_gone() -> None:
    text = all_text(load_one("help_center_page.html"))
    for noise in (
        "Skip to main content",
        "Submit a request",
        "Sign in",
        "Northwind Help Center",  # logo and breadcrumbs
        "Orders and delivery",
        "Search",
        "Articles in this section",
        "Changing your delivery address",
        "Updated 3 days ago",
        "Was this article helpful",
        "All rights reserved",
        "Privacy policy",
        "cookies",
        "dataLayer",
        "tracking pixel",
    ):
        assert noise not in text, noise


def test_html_without_main_uses_body_and_title_tag() -> None:
    page = (
        b"<html><head><title>Opening hours</title></head><body>"
        b"<div class='navbar'><a href='/'>Home</a></div>"
        b"<p>We are open <b>9&ndash;5</b>.</p><h2>Holidays</h2><p>Closed on bank holidays.</p>"
        b"<div class='site-footer'>Footer links</div></body></html>"
    )
    [article] = load_bytes("hours.htm", page)
    assert article.title == "Opening hours"
    assert article.language is None and article.url is None and article.tags == ()
    assert article.sections == (
        Section((), "We are open 9–5."),
        Section(("Holidays",), "Closed on bank holidays."),
    )


# --- Plain text -------------------------------------------------------------------------------


def test_text_title_is_first_line_and_not_repeated() -> None:
    article = load_one("shipping_times.txt")
    assert article.id == "shipping_times"
    assert article.kind == "text"
    assert article.title == "Delivery times by country"
    assert article.sections == (
        Section(
            (),
            "United Kingdom: 1-2 working days with Express, 3-5 with Standard.\n"
            "Ireland: 2-4 working days.\n\n"
            "Rest of Europe: 4-7 working days. Customs may add a day or two.",
        ),
    )


def test_text_long_first_line_gives_stem_title_and_keeps_all_text() -> None:
    first = "A very long opening sentence " * 5
    [article] = load_bytes("store-policy.txt", f"{first}\nSecond line.\n".encode())
    assert article.title == "Store policy"
    assert article.sections[0].text == f"{first.rstrip()}\nSecond line."


def test_text_in_cp1252_is_decoded() -> None:
    data = "Café opening – “soon”\n\nCrème brûlée on Sundays.".encode("cp1252")
    [article] = load_bytes("cafe.txt", data)
    assert article.title == "Café opening – “soon”"
    assert article.sections[0].text == "Crème brûlée on Sundays."


# --- FAQ CSV / JSON ---------------------------------------------------------------------------


def test_faq_csv_with_bom_and_quoted_newline() -> None:
    articles = load_file(FIXTURES / "faq_bom.csv", root=FIXTURES)
    assert [a.id for a in articles] == [
        "faq-1",  # the BOM did not leak into the "id" column name
        "faq_bom:can-i-change-my-delivery-address",
        "faq-3",
    ]
    first = articles[0]
    assert first.kind == "faq"
    assert first.source == "faq_bom.csv"
    assert first.title == "How do I reset my password?"
    assert first.sections == (
        Section(
            (),
            'Go to Settings, then Security.\nChoose "Reset password" and follow the email link.',
        ),
    )
    assert first.tags == ("account", "password")
    assert [a.audience for a in articles] == ["public", "public", "internal"]
    assert articles[1].tags == ("shipping",)
    assert all(a.language is None and a.url is None for a in articles)


def test_faq_json_items() -> None:
    articles = load_file(FIXTURES / "faq.json", root=FIXTURES)
    assert [a.id for a in articles] == [
        "gift-cards-expiry",
        "faq:puedo-pagar-a-plazos",
        "faq:how-do-i-issue-a-goodwill-credit",
    ]
    gift, plazos, credit = articles
    assert gift.title == "Do gift cards expire?"  # "Question"/"Answer" keys, any case
    assert gift.sections == (
        Section((), "Gift cards are valid for 24 months from the date of purchase."),
    )
    assert gift.tags == ("gift cards", "billing")
    assert gift.language == "en"
    assert gift.url == "https://help.northwind.example/gift-cards"
    assert plazos.tags == ("pagos", "financiación")
    assert plazos.language == "es"
    assert credit.audience == "internal"


def test_faq_json_plain_list_and_duplicate_questions() -> None:
    data = b'[{"question": "Same?", "answer": "One."}, {"question": "Same?", "answer": "Two."}]'
    articles = load_bytes("help.json", data)
    assert [a.id for a in articles] == ["help:same", "help:same-2"]


# --- Ids, sources, discovery ------------------------------------------------------------------


def test_upload_id_is_the_filename_stem() -> None:
    [article] = load_bytes("Gift Cards.MD", b"# Gift cards\n\nValid 24 months.\n")
    assert article.id == "gift-cards"
    assert article.source == "Gift Cards.MD"
    assert article.sections == (Section((), "Valid 24 months."),)


def test_discover_folder(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / ".hidden.md").write_text("h")
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "c.html").write_text("c")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.txt").write_text("x")
    extra = tmp_path / "sub" / "deeper" / "c.html"
    found = discover([tmp_path, extra])
    assert found == [
        tmp_path / "a.txt",
        tmp_path / "b.md",
        tmp_path / "sub" / "deeper" / "c.html",
    ]


def test_discover_fixture_folder_and_every_file_loads_or_says_why() -> None:
    files = discover([FIXTURES])
    assert [p.name for p in files] == sorted(p.name for p in FIXTURES.iterdir())
    loaded, failed = 0, 0
    for path in files:
        try:
            loaded += len(load_file(path, root=FIXTURES))
        except LoadError:
            failed += 1
    assert (loaded, failed) == (9, 3)  # empty.txt, faq_no_answer.csv, old_manual.docx


# --- Bad input --------------------------------------------------------------------------------


def reason_for_file(name: str, **kwargs: int) -> str:
    with pytest.raises(LoadError) as err:
        load_file(FIXTURES / name, root=FIXTURES, **kwargs)
    assert err.value.source == name
    return err.value.reason


def reason_for_upload(name: str, data: bytes, **kwargs: int) -> str:
    with pytest.raises(LoadError) as err:
        load_bytes(name, data, **kwargs)
    return err.value.reason


def test_unsupported_extension() -> None:
    reason = reason_for_file("old_manual.docx")
    assert reason.startswith("unsupported file type .docx; supported: ")
    for ext in SUPPORTED_EXTENSIONS:
        assert ext in reason


def test_empty_file() -> None:
    assert reason_for_file("empty.txt") == "file is empty"


@pytest.mark.parametrize(
    "name,data",
    [
        ("blank.md", b"  \n\t\n"),
        ("bom-only.txt", b"\xef\xbb\xbf"),
        ("blank.csv", b"\r\n\r\n"),
        ("blank.html", b""),
        ("blank.pdf", b"   "),
    ],
)
def test_whitespace_only_is_empty(name: str, data: bytes) -> None:
    assert reason_for_upload(name, data) == "file is empty"


def test_file_over_default_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.pdf"
    with path.open("wb") as f:  # sparse: nothing is written, the size is what counts
        f.truncate(int(52.4 * 1024 * 1024))
    with pytest.raises(LoadError) as err:
        load_file(path, root=tmp_path)
    assert err.value.reason == "file is 52.4 MB; the limit is 20 MB"
    assert MAX_FILE_BYTES == 20 * 1024 * 1024


def test_upload_over_given_limit() -> None:
    reason = reason_for_upload("notes.txt", b"x" * 3000, max_bytes=1024)
    assert reason == "file is 2.9 KB; the limit is 1 KB"


def test_csv_without_answer_column_lists_columns_found() -> None:
    reason = reason_for_file("faq_no_answer.csv")
    assert "answer" in reason
    assert "columns found: question, reply" in reason


def test_csv_without_usable_rows() -> None:
    reason = reason_for_upload("faq.csv", b"question,answer\n,only an answer\nonly a question,\n")
    assert reason.startswith("no usable rows")


def test_csv_bad_audience_names_row_and_value() -> None:
    reason = reason_for_upload("faq.csv", b"question,answer,audience\nQ?,A.,staff\n")
    assert reason == "row 1: audience must be 'public' or 'internal', not 'staff'"


def test_invalid_json() -> None:
    reason = reason_for_upload("faq.json", b'[{"question": "Q?", "answer": "A."')
    assert reason.startswith("invalid JSON: ")
    assert "line 1" in reason


def test_json_of_the_wrong_shape() -> None:
    assert "FAQ JSON must be a list" in reason_for_upload("faq.json", b'{"faq": []}')
    reason = reason_for_upload("faq.json", b'[{"q": "Q?", "a": "A."}]')
    assert reason == "FAQ JSON items need 'question' and 'answer' keys; keys found: q, a"


def test_invalid_front_matter() -> None:
    reason = reason_for_upload("bad.md", b"---\ntitle: [unclosed\n---\nBody.\n")
    assert reason.startswith("invalid YAML front matter: ")
    assert "line 2" in reason


def test_markdown_with_only_front_matter() -> None:
    assert reason_for_upload("x.md", b"---\ntitle: X\n---\n\n") == "file has no text to ingest"


def test_binary_content_in_a_text_file() -> None:
    reason = reason_for_upload("notes.txt", b"PK\x03\x04\x00\x00binary")
    assert reason == "file is not text (it contains binary data)"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as err:
        load_file(tmp_path / "gone.md", root=tmp_path)
    assert err.value.source == "gone.md"
    assert err.value.reason.startswith("cannot read file: ")


def test_load_error_message() -> None:
    err = LoadError("docs/a.docx", "unsupported file type .docx")
    assert (err.source, err.reason) == ("docs/a.docx", "unsupported file type .docx")
    assert str(err) == "docs/a.docx: unsupported file type .docx"
