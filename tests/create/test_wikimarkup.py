"""Asana html_notes → Jira wiki markup: each construct the issue names, and escaping."""

import re

import pytest

from bridge.services.wikimarkup import html_to_wiki, text_to_wiki


@pytest.mark.parametrize("html, wiki", [
    ("<body>plain</body>", "plain"),
    ("<body><strong>bold</strong></body>", "*bold*"),
    ("<body>a <em>it </em>b</body>", "a _it_ b"),
    ("<body><s>gone</s> <u>under</u></body>", "-gone- +under+"),
    ("<body><code>a[0]</code></body>", "{{a\\[0\\]}}"),
    ("<body><a href=\"https://example.com/x?a=1\">site</a></body>",
     "[site|https://example.com/x?a=1]"),
    ("<body><a href=\"https://example.com\">https://example.com</a></body>",
     "[https://example.com]"),
    ("<body><a href=\"javascript:alert(1)\">bad</a></body>", "bad"),
    ("<body><a data-asana-gid=\"12\" data-asana-type=\"user\" "
     "href=\"https://app.asana.com/0/12/list\">@Jane Doe</a> ok</body>", "Jane Doe ok"),
    ("<body>1 &amp; 2 &lt;3&gt;</body>", "1 & 2 <3>"),
    ("<body><h1>Title</h1>text</body>", "h1. Title\n\ntext"),
    ("<body><hr/>x</body>", "----\n\nx"),
])
def test_inline_and_simple_blocks(html, wiki):
    assert html_to_wiki(html) == wiki


def test_paragraphs_keep_their_line_breaks():
    assert html_to_wiki("<body>one\ntwo\n\nthree</body>") == "one\ntwo\n\nthree"


def test_lists_nested_and_ordered():
    html = ("<body>Intro\n<ul><li>one</li><li>two<ul><li>deep <strong>b</strong></li></ul>"
            "</li></ul><ol><li>first</li><li>second<ol><li>sub</li></ol></li></ol>end</body>")
    assert html_to_wiki(html) == (
        "Intro\n\n* one\n* two\n** deep *b*\n\n# first\n# second\n## sub\n\nend")


def test_mixed_list_nesting():
    html = "<body><ol><li>a<ul><li>b</li></ul></li></ol></body>"
    assert html_to_wiki(html) == "# a\n#* b"


def test_code_block_is_literal():
    html = "<body><pre>if (a[0]) {\n  *x* = -1;\n}</pre></body>"
    assert html_to_wiki(html) == "{noformat}\nif (a[0]) {\n  *x* = -1;\n}\n{noformat}"


def test_markup_characters_in_text_are_escaped_only_where_jira_would_read_them():
    out = html_to_wiki("<body>well-known snake_case 5 * 3 - 2 [x] {y} a|b !img!</body>")
    assert out == "well-known snake_case 5 \\* 3 \\- 2 \\[x\\] \\{y\\} a\\|b \\!img\\!"


def test_line_start_markers_are_escaped():
    assert html_to_wiki("<body># not a list\nh1. not a heading\n* no</body>") == (
        "\\# not a list\n\\h1. not a heading\n\\* no")


def test_unknown_tags_keep_their_text_and_unclosed_tags_do_not_break_it():
    assert html_to_wiki("<body><span>in <strong>bold</span> tail</body>") == "in *bold* tail"


def test_empty_notes():
    assert html_to_wiki("") == ""
    assert html_to_wiki(None) == ""
    assert html_to_wiki("<body></body>") == ""


def test_plain_notes():
    assert text_to_wiki("a * b\n# c") == "a \\* b\n\\# c"


_META = "[]|!{}*_^~+-?#\\\n"
_ONE_LINK = __import__("re").compile(r"^\[(?:(?:\\.|[^\[\]|\\!{}\n])*\|)?[^\s\[\]|!{}\\]+\]$")


@pytest.mark.parametrize("c", list(_META))
def test_a_link_stays_one_link_whatever_its_label_and_url_hold(c):
    from bridge.services.wikimarkup import link

    out = link(f"{c}label{c}x{c}", f"https://files.example/{c}a{c}?q={c}#f{c}")
    assert _ONE_LINK.match(out), out
    html = html_to_wiki(f'<body><a href="https://x.example/{c}p">n{c}m</a></body>'
                        .replace("\n", "&#10;"))
    assert _ONE_LINK.match(html), html


def test_the_reported_attack_is_one_link():
    from bridge.services.wikimarkup import link

    attack = ("https://ok.example/a]!https://tracker.example/pixel.png![Reset your password|"
              "https://evil.example/login")
    assert link(attack, attack) == (
        "[https://ok.example/a%5D%21https://tracker.example/pixel.png%21%5BReset%20your"
        "%20password%7Chttps://evil.example/login]")
    assert link("x", "javascript:alert(1)") == "x"


def test_a_citation_is_escaped():
    assert text_to_wiki("??cite?? and a question?") == "\\?\\?cite\\?\\? and a question?"


@pytest.mark.parametrize("closer", ["{noformat}", "{NOFORMAT}", "{noformat:title=x}"])
def test_a_code_block_cannot_close_its_noformat_and_inject_markup(closer):
    # Nothing is escaped inside {noformat}: a "{noformat}" in the block's own text ended it,
    # and the rest became a tracking image and a phishing link in the new issue.
    html = (f"<body><pre>x{closer}!https://tracker.example/p.png! "
            f"[Reset your password|https://evil.example/login]{closer}</pre></body>")
    wiki = html_to_wiki(html)
    live = re.sub(r"\\.", "", wiki)  # what Jira reads as markup: escapes taken out
    assert "!" not in live and "[" not in live and "{" not in live, wiki
    assert "tracker.example/p.png" in wiki and "evil.example/login" in wiki  # text kept
