"""The app in a real browser: Playwright drives Debian's Chromium (/usr/bin/chromium, installed by `make test`)."""

import os
import re

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from conftest import CHROMIUM, FLAGS, ROOT, AppServer, app_corpus

# A real server process (or a browser driving one): the slow tier.
pytestmark = pytest.mark.slow

TOKEN = "e2e-admin-token"
REVIEWER = "e2e-reviewer-口令"  # non-ASCII: tokens are compared as UTF-8 bytes
QUESTION = "我们是小微企业，用电接入要自己出钱吗？"
# A temporary file unless `make screenshot` asks for the README's picture (SCREENSHOT_DIR=docs).
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    server = AppServer(
        app_corpus(tmp_path_factory.mktemp("e2e")), POLICY_QA_ADMIN_TOKEN=TOKEN, POLICY_QA_REVIEWER_TOKEN=f"王解读={REVIEWER}"
    ).wait()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 1500}, locale="zh-CN")
    page.goto(app.url)
    expect(page.get_by_text("广圆享 · 惠企政策智能问答")).to_be_visible(timeout=30_000)
    yield page
    page.close()


def ask(page: Page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()


def test_ask_read_sources_and_review(page, app, tmp_path):
    ask(page, QUESTION)
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text("由供电企业出资建设红线外电力接入工程", timeout=60_000)
    expect(chat).to_contain_text("摘录模式")  # no language model configured: the notice says so
    card = page.locator(".citation-card").first
    expect(card).to_contain_text("《广元市2025年对标改革打造最优营商环境五大专项行动方案》")
    expect(card).to_contain_text("广营商办〔2025〕1号")
    expect(card).to_contain_text("（十六）降低用电成本")
    folder = ROOT / SCREENSHOT_DIR if SCREENSHOT_DIR else tmp_path
    page.screenshot(path=str(folder / "screenshot-chat.png"), full_page=True)
    assert (folder / "screenshot-chat.png").stat().st_size > 10_000

    card.click()
    mark = page.locator("#source-view mark")
    expect(mark).to_contain_text("对160千瓦及以下居民、小微企业及所有充换电设施项目由供电企业出资建设红线外电力接入工程")
    view = page.locator("#source-view")
    expect(view).to_contain_text("责任单位：市发展改革委、国网广元供电公司")  # the whole section, not only the quote
    expect(view).to_contain_text("2025-03-24")

    page.get_by_text("审核回答（政策解读员）").click()
    page.locator("#review-verdict").get_by_text("正确").click()
    page.locator("#review-submit").click()
    expect(page.locator("#review-status")).to_contain_text("reviewer token", timeout=20_000)  # no token: refused
    page.locator("#reviewer-token input").fill(REVIEWER)
    page.locator("#review-submit").click()
    expect(page.locator("#review-status")).to_contain_text("已记录", timeout=20_000)
    expect(page.locator("#review-status")).to_contain_text("王解读")

    page.get_by_role("tab", name="解读审核").click()
    expect(page.locator("#review-list-status")).to_contain_text("输入解读员口令", timeout=20_000)
    page.locator("#review-token input").fill(REVIEWER)
    page.locator("#review-refresh").click()
    table = page.locator("#review-table")
    expect(table).to_contain_text(QUESTION, timeout=20_000)
    expect(table).to_contain_text("正确")
    expect(table).to_contain_text("王解读")

    # Asked again, the interpreter-checked answer comes first.
    page.get_by_role("tab", name="政策问答").click()
    ask(page, QUESTION)
    expect(page.locator("#chatbot")).to_contain_text("经政策解读员核对的回答", timeout=60_000)


def test_markup_in_a_question_is_shown_not_run(page):
    links = "[点此领取补贴](http://phish.example/a) ![图](http://phish.example/b.png) http://phish.example/c"
    ask(page, f'<img src=x onerror="window.__xss=1">{links}电子保函费率是多少？')
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text("2.8‰", timeout=60_000)
    expect(chat).to_contain_text('<img src=x onerror="window.__xss=1">')
    expect(chat).to_contain_text(links)  # Markdown shown as written: no link, no image
    assert page.evaluate("window.__xss") is None
    assert page.locator("#chatbot img[src='x']").count() == 0
    assert page.locator("#chatbot a[href*='phish'], #chatbot img[src*='phish']").count() == 0


def test_upload_a_document_to_the_library(page, tmp_path):
    notice = tmp_path / "猕猴桃加工补助通知.md"
    notice.write_text(
        "# 关于支持猕猴桃加工企业发展的通知\n\n一、对新建猕猴桃冷链仓储的加工企业，按设备投资额的10%给予补助。\n", encoding="utf-8"
    )
    page.get_by_role("tab", name="文档库").click()
    expect(page.locator("#doc-table")).to_contain_text("失业保险条例", timeout=20_000)
    page.locator("#admin-token input").fill(TOKEN)
    page.locator("#admin-unlock").click()
    expect(page.locator("#library-status")).to_contain_text("口令正确", timeout=20_000)
    page.locator("#upload-files input[type=file]").set_input_files(str(notice))
    expect(page.locator("#upload-files")).to_contain_text("猕猴桃加工补助通知", timeout=20_000)  # name and suffix sit in two cells
    page.locator("#upload-button").click()
    expect(page.locator("#upload-results")).to_contain_text("已新增", timeout=120_000)
    expect(page.locator("#doc-table")).to_contain_text("关于支持猕猴桃加工企业发展的通知")

    page.get_by_role("tab", name="政策问答").click()
    ask(page, "新建猕猴桃冷链仓储有补助吗？")
    expect(page.locator("#chatbot")).to_contain_text(re.compile("按设备投资额的10%给予补助"), timeout=60_000)


def test_upload_a_scanned_notice_and_cite_its_page(page, tmp_path):
    """A scan with no text layer is read by OCR on upload; the answer's source card gives the page and says to check it."""
    from scans import ScannedPage, make_scanned_pdf

    scan = make_scanned_pdf(
        tmp_path / "苍溪县茶叶烘干补助通知.pdf",
        [
            ScannedPage(
                masthead="苍溪县农业农村局",
                lines=[
                    "关于支持茶叶烘干设备更新的通知",
                    "  对更新茶叶烘干设备的茶叶加工企业，按设备购置价的",
                    "百分之十五给予一次性补助，单户最高二十万元。",
                ],
                seal=True,
                page_label="- 1 -",
            )
        ],
    )
    page.get_by_role("tab", name="文档库").click()
    page.locator("#admin-token input").fill(TOKEN)
    page.locator("#admin-unlock").click()
    expect(page.locator("#library-status")).to_contain_text("口令正确", timeout=20_000)
    page.locator("#upload-files input[type=file]").set_input_files(str(scan))
    expect(page.locator("#upload-files")).to_contain_text("苍溪县茶叶烘干补助通知", timeout=20_000)
    page.locator("#upload-button").click()
    expect(page.locator("#upload-results")).to_contain_text("已新增", timeout=180_000)
    expect(page.locator("#upload-results")).to_contain_text(re.compile(r"已新增\s*[1-9]"))  # with its chunk count

    page.get_by_role("tab", name="政策问答").click()
    ask(page, "我们做茶叶加工，换烘干设备能补多少钱？")
    expect(page.locator("#chatbot")).to_contain_text("单户最高二十万元", timeout=60_000)
    expect(page.locator("body")).to_contain_text("OCR识别，请核对原件")


def test_a_which_policies_question_is_matched_and_the_profile_shown(page):
    ask(page, "我们是一家做猕猴桃加工的小微企业，在苍溪县，今年想贷款扩大生产，有哪些政策可以用？")
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text("我理解的企业情况", timeout=60_000)
    expect(chat).to_contain_text("行业：猕猴桃加工")
    expect(chat).to_contain_text("项政策适用")
    page.get_by_role("tab", name="政策匹配").click()
    expect(page.locator("#pf-industry textarea")).to_have_value("猕猴桃加工")  # shown, to be corrected
    page.locator("#pf-industry textarea").fill("猕猴桃冷链物流")
    page.locator("#match-button").click()
    results = page.locator("#match-results")
    expect(results).to_contain_text("项政策适用", timeout=30_000)
    expect(results).to_contain_text("牵头")


def test_an_interpreter_records_a_changed_clause_and_the_next_answer_shows_it(page):
    page.get_by_role("tab", name="解读审核").click()
    page.locator("#review-token input").fill(REVIEWER)
    page.locator("#amend-doc input").click()
    page.get_by_role("option", name="失业保险条例.md").click()
    page.locator("#amend-clause textarea").fill("第十七条")
    page.locator("#amend-change textarea").fill("（演示）领取期限按新规定执行")
    page.locator("#amend-title textarea").fill("某省失业保险实施办法")
    page.locator("#amend-number textarea").fill("某政发〔2026〕1号")
    page.locator("#amend-effective textarea").fill("2026-07-01")
    page.locator("#amend-submit").click()
    expect(page.locator("#amend-status")).to_contain_text("已记录调整说明", timeout=20_000)
    expect(page.locator("#amend-table")).to_contain_text("某政发〔2026〕1号")

    page.get_by_role("tab", name="政策问答").click()
    ask(page, "失业保险金最长可以领多久？")
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text("此条款已调整", timeout=60_000)
    expect(chat).to_contain_text("某政发〔2026〕1号")
    expect(page.locator(".citation-card").first).to_contain_text("此条款已调整")
