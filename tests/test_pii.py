"""runtime.pii: each PII type in the spellings people type, checksums that reject look-alikes,
boundaries that work next to Chinese characters, and a prefilter that never misses a finding."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from runtime import pii

# (text, masked text). Check digits below are real: 110101199003071233 and 32058319910415106X pass
# ISO 7064 MOD 11-2; 6222021234567890128, 6217000012345670 and 4111111111111111 pass Luhn.
FOUND = [
    # PHONE: mobile in every common spelling, landlines with area codes
    ("我手机13812345678记一下", "我手机<PHONE>记一下"),
    ("call +86 138 1234 5678 ok", "call <PHONE> ok"),
    ("电话138-1234-5678。", "电话<PHONE>。"),
    ("86-13812345678", "<PHONE>"),
    ("(+86)13812345678", "<PHONE>"),
    ("座机010-12345678", "座机<PHONE>"),
    ("(0755)12345678", "<PHONE>"),
    ("公司021 6123 4567", "公司<PHONE>"),
    ("+86 21 6123 4567", "<PHONE>"),
    ("１３８１２３４５６７８", "<PHONE>"),  # full-width digits (IME in full-width mode)
    ("电话13812345678 2点打", "电话<PHONE> 2点打"),
    ("记一下 一三八一二三四五六七八", "记一下 <PHONE>"),  # read out digit by digit, in numerals
    ("幺三九一二三四五六七八好吗", "<PHONE>好吗"),  # 幺 (yāo) for 1
    ("打1三8一2345六七8", "打<PHONE>"),  # digits and numerals mixed
    ("一八六 二三四五 六七八九", "<PHONE>"),
    # ID_NUMBER: 18 digits with a valid check character, X included, optionally spaced 6-8-4
    ("身份证110101199003071233", "身份证<ID_NUMBER>"),
    ("身份证号32058319910415106X。", "身份证号<ID_NUMBER>。"),
    ("32058319910415106x", "<ID_NUMBER>"),
    ("110101 19900307 1233", "<ID_NUMBER>"),
    # BANK_CARD: 16-19 digits, grouped or not, Luhn-valid
    ("卡号6222021234567890128", "卡号<BANK_CARD>"),
    ("卡号 6222 0212 3456 7890 128", "卡号 <BANK_CARD>"),
    ("6217-0000-1234-5670", "<BANK_CARD>"),
    ("4111111111111111", "<BANK_CARD>"),
    # EMAIL: ASCII only, so neighbouring Chinese stays
    ("发到li.hua@example.com吧", "发到<EMAIL>吧"),
    ("邮箱：12345678@qq.com。", "邮箱：<EMAIL>。"),
    ("Mail me at Tom.Zhao+x@mail.example.co.uk, thanks", "Mail me at <EMAIL>, thanks"),
    # WECHAT_ID / QQ: an id after its context word, and raw wxids anywhere
    ("加我微信meilan_1958", "加我微信<WECHAT_ID>"),
    ("微信：meilanchen", "微信：<WECHAT_ID>"),
    ("我微信号是 grandma88", "我微信号是 <WECHAT_ID>"),
    ("wx: abc_123", "wx: <WECHAT_ID>"),
    ("my WeChat ID: MeiChen_58", "my WeChat ID: <WECHAT_ID>"),
    ("vx meilan88", "vx <WECHAT_ID>"),
    ("是wxid_abcd1234啊", "是<WECHAT_ID>啊"),
    ("QQ 12345678", "QQ <QQ>"),
    ("qq号：1234567", "qq号：<QQ>"),
    ("扣扣是98765", "扣扣是<QQ>"),
    ("my QQ is 29464184 if WeChat fails", "my QQ is <QQ> if WeChat fails"),
    ("My WeChat ID is helen_zhou77 ok", "My WeChat ID is <WECHAT_ID> ok"),
    # PLATE: regular and new-energy, with the optional middle dot
    ("车牌京A12345", "车牌<PLATE>"),
    ("粤B·8888A停在楼下", "<PLATE>停在楼下"),
    ("京AD12345", "<PLATE>"),
    ("沪A12345D", "<PLATE>"),
    # ADDRESS: Chinese street addresses and English ones
    ("我家在北京市朝阳区建国路88号3号楼1202室", "我家在<ADDRESS>"),
    ("我明天去建国路88号", "我明天去<ADDRESS>"),
    ("住幸福小区5栋302", "住<ADDRESS>"),
    ("长乐路123弄4号201室", "<ADDRESS>"),
    ("广东省深圳市南山区科技南路18号", "<ADDRESS>"),
    ("I live at 12 Garden Road now", "I live at <ADDRESS> now"),
    ("我家在长乐路", "我家在<ADDRESS>"),  # a street without a house number (ADDRESS_STREET)
    ("去南京路吃饭", "去<ADDRESS>吃饭"),
    ("住在上海市徐汇区", "住在<ADDRESS>"),  # a district (ADDRESS_DISTRICT); a city alone stays
    ("杭州西湖区的房子", "杭州<ADDRESS>的房子"),
    ("221B Baker Street", "<ADDRESS>"),
    ("Flat 403, Building 4, 94 Pingjiang Road, Gusu District, Suzhou / ok", "<ADDRESS> / ok"),
    ("send to Room 622, Building 1, 103 Guoquan Road, Yangpu District, Shanghai!", "send to <ADDRESS>!"),
    ("Community Centre, 1047 Ganjiang West Road, Gusu District, Suzhou", "Community Centre, <ADDRESS>"),
    # PERSON: honorifics, English titles, @mentions of people the name index does not know
    ("明天去看王医生", "明天去看<PERSON>"),
    ("李老师好", "<PERSON>好"),
    ("欧阳建国教授说", "<PERSON>说"),
    ("张会计说没问题", "<PERSON>说没问题"),  # titles that also follow an organisation: right after a surname
    ("郑老板娘和孙护士长都来了", "<PERSON>和<PERSON>都来了"),  # the longer title, whole
    ("好的，谢谢宋老师！", "好的，谢谢<PERSON>！"),  # 谢 is a surname too: the titled name is 宋老师
    ("Dr. Liu said hi", "<PERSON> said hi"),
    ("@王小明\u2005你好", "@<PERSON>\u2005你好"),
]

KEPT = [
    "身份证110101199003071234",  # 18 digits, wrong check digit
    "random 110101199013071235",  # month 13: not a birth date
    "卡号6222021234567890123",  # Luhn fails
    "0000 0000 0000 0000",  # passes Luhn, but one repeated digit is no card
    "卡号6222 0212 3456 7890",  # a (non-Luhn) grouped number is not a phone in the middle
    "订单号1381234567890123",  # 16 digits starting like a mobile: not a phone
    "加微信 thanks",  # an English word after 微信 is no WeChat id
    "5 miles down the road",  # lowercase: no street address
    "下个月3号见",  # a date, not an address
    "2026年3月1号到",
    "@所有人\u2005开会",  # @all is nobody
    "苏ABCDE",  # letters after a province character: a word, not a plate
    "农业部部长和常务书记来了",  # an organisation's title (部 and 务 are no surname)
    "到时候让阿姨帮忙收一下",  # 时 is a surname, but 让 no character of a given name
    "连班主任都知道了",  # 连: "even", not a surname here (and left out of the list)
    "你好，吃了吗？",
    "一二三四五六七八九十",  # counting, not a phone
    "过马路小心，走夜路别怕，一路平安",  # words ending in 路 that name no street
    "高速公路上堵车",
    "我们小区和社区医院，开发区的住宅区",  # words ending in 区 that name no district
    "逛街去步行街",
    "江南的春天，周末很高兴",
    "我们一起去一趟，两三天就回",
    "一三八一二三四五六七八九",  # 12 digits once read: no mobile
    "",
]


@pytest.mark.parametrize(("text", "masked"), FOUND)
def test_each_type_is_found_in_its_common_spellings(text, masked):
    assert pii.mask_pii(text) == masked


@pytest.mark.parametrize("text", KEPT)
def test_look_alikes_stay(text):
    assert pii.mask_pii(text) == text


def test_checksums():
    assert pii.id_number_valid("110101199003071233")
    assert pii.id_number_valid("32058319910415106X")
    assert not pii.id_number_valid("110101199003071234")
    assert not pii.id_number_valid("11010119900307123")
    assert pii.luhn_valid("6222 0212 3456 7890 128")
    assert not pii.luhn_valid("6222021234567890123")
    assert not pii.luhn_valid("4111111111111")  # too short for a bank card


def test_findings_are_typed_spans_without_values():
    [span] = pii.find_pii("电话13812345678")
    assert (span.start, span.end, span.entity, span.placeholder) == (2, 13, "PHONE", "<PHONE>")
    assert not hasattr(span, "text")  # a span can be logged: it never carries the value


def test_overlapping_findings_merge_so_no_fragment_survives():
    spans = [pii.Span(0, 5, "PHONE"), pii.Span(3, 9, "ADDRESS", 0.8), pii.Span(12, 14, "PERSON")]
    assert pii.resolve_spans(spans) == [pii.Span(0, 9, "ADDRESS", 0.8), pii.Span(12, 14, "PERSON")]
    # Same text found twice: a member's name wins over the generic <PERSON> of an @mention.
    tie = [pii.Span(1, 3, "PERSON", 0.5), pii.Span(1, 3, pii.SPEAKER, 1.0, "<U3>")]
    assert pii.replace_spans("@小明\u2005", pii.resolve_spans(tie)) == "@<U3>\u2005"


def test_entity_selection():
    text = "电话13812345678 邮箱li@example.com"
    assert pii.mask_pii(text, ["EMAIL"]) == "电话13812345678 邮箱<EMAIL>"
    with pytest.raises(ValueError, match="unknown PII entity"):
        pii.find_pii(text, ["SSN"])


def test_names_match_longest_first_with_latin_boundaries_next_to_cjk():
    regex = pii.names_regex(["Li", "Tom", "Tom Zhao", "小明", "小明明"])
    labels = {
        pii.name_key(n): pii.Span(0, 0, pii.SPEAKER, 1.0, f"<{n}>")
        for n in ["Li", "Tom", "Tom Zhao", "小明", "小明明"]
    }

    def sub(text: str) -> str:
        return pii.replace_spans(text, pii.resolve_spans(pii.find_names(text, regex, labels)))

    assert sub("Lisa和Li说") == "Lisa和<Li>说"  # not inside a longer Latin word, fine next to CJK
    assert sub("tom zhao来了, Tommy没来") == "<Tom Zhao>来了, Tommy没来"  # case-insensitive, longest first
    assert sub("小明明和小明") == "<小明明>和<小明>"  # CJK names need no boundary
    assert pii.names_regex([]) is None


def test_prefilter_never_misses_a_finding():
    for text, _ in FOUND:
        assert pii.could_contain_pii(text), text
        found = {s.entity for s in pii.find_pii(text)}
        assert found <= set(pii.triggered_entities(text)), text


def test_prefilter_trigger_runs_in_re2_on_raw_text():
    pc = pytest.importorskip("pyarrow.compute")
    pa = pytest.importorskip("pyarrow")
    texts = [t for t, _ in FOUND]
    assert all(pc.match_substring_regex(pa.array(texts), pii.PII_TRIGGER).to_pylist())
    assert not pc.match_substring_regex(
        pa.array(["你好，吃了吗？", "ok see you"]), pii.PII_TRIGGER
    ).to_pylist()[0]


def test_runtime_module_imports_only_the_standard_library():
    tree = ast.parse(Path(pii.__file__).read_text(encoding="utf-8"))
    imported = {
        (n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [n])
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
