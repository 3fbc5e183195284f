"""The address normaliser: table-driven examples (the issue's and real Shenzhen ones), the numeral table
against cn2an, and the properties issue 4 asks for — idempotent, never raises, never loses a digit."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import cn2an
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gridgov.address.normalize import (
    MAX_INPUT_CHARS,
    NOISE,
    UNIT_WORDS,
    normalize,
    normalize_with_map,
    split_joined_number,
)
from gridgov.address.numerals import cn_to_digits, cn_to_int

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "address"
VAL_PAIRS = DATA / "sz_matching" / "val_pairs.tsv"
NAACL_TRAIN = DATA / "naacl2019" / "train.jsonl"

# --- examples -------------------------------------------------------------------------------------

ISSUE_EXAMPLES = [
    ("南山区向南路49号南粤山庄10-601", "南山区向南路49号南粤山庄10-601"),  # shorthand left to the parser
    ("轻铁西十四巷", "轻铁西14巷"),
    ("二单元", "2单元"),
    ("九栋", "9栋"),
    ("9栋、11栋11栋201", "9栋、11栋201"),
    ("广东省深圳市南山区南山区", "广东省深圳市南山区"),
    ("广东省深圳市深圳市南山区", "广东省深圳市南山区"),
    ("南山区向南路４９号１０－６０１", "南山区向南路49号10-601"),  # full-width digits and dash
    ("南山區向南路49號華僑城東門", "南山区向南路49号华侨城东门"),  # traditional characters
    ("六零一", "601"),
    ("一千零五十二号", "1052号"),
    ("二十三楼", "23层"),
    ("两栋", "2栋"),
    ("轻铁西十一巷11404", "轻铁西11巷11404"),  # the joined number waits for the library
]

NAME_EXAMPLES = [  # numerals inside names stay as written
    ("十里香花园", "十里香花园"),
    ("九龙", "九龙"),
    ("三湘海尚", "三湘海尚"),
    ("金家一路", "金家一路"),
    ("科技南十二路", "科技南十二路"),
    ("五一路", "五一路"),
    ("布心二村", "布心二村"),
    ("万科城二期", "万科城2期"),
    ("万二栋", "万2栋"),  # only the tail that is a number
    ("至尊门第第十栋", "至尊门第10栋"),  # the 第 of a name stays
    ("坪山街道对面喊七巷", "坪山街道对面喊7巷"),  # a village, not "opposite"
]

RULE_EXAMPLES = [
    ("5号楼3单元楼406室", "5栋3单元406"),
    ("3#楼201", "3栋201"),
    ("12幢B座", "12栋B座"),  # 座 is its own level
    ("1号楼房", "1号楼房"),
    ("两房一厅", "2房一厅"),  # a flat type: 房 before a number/厅 stays
    ("201室2号", "201室2号"),
    ("第三工业区第4栋", "第3工业区4栋"),
    ("13号之二", "13号之2"),
    ("宿舍一208", "宿舍一208"),  # would glue onto 208
    ("1四层", "1四层"),
    ("XX花园(注:自建房)1栋", "XX花园1栋"),
    ("XX花园(注:原12号)1栋", "XX花园注:原12号1栋"),  # a remark with a number is kept
    ("12 整套 3", "12 3"),
    ("南山区 向南路  10 601 ", "南山区向南路10 601"),
    ("A、、B栋，C栋；", "A、B栋、C栋"),
    ("10——601", "10-601"),
    ("ａ座２６ｇ", "A座26G"),
    ("", ""),
    ("   ", ""),
    ("\x00\x07\u200b\ufeff", ""),
]

# Real free texts from the Shenzhen pairs file (Lin et al. 2020), checked by eye.
REAL_EXAMPLES = [
    ("宝安区新安街道74区布心二村商住楼7栋四单元201", "宝安区新安街道74区布心二村商住楼7栋4单元201"),
    ("背夫六巷21号7楼", "背夫6巷21号7层"),
    ("应人石伟泰路伟泰工业园宿舍B一单元207", "应人石伟泰路伟泰工业园宿舍B1单元207"),
    ("龙华区观澜街道锦鲤一村38栋栋3单元505", "龙华区观澜街道锦鲤一村38栋3单元505"),
    ("坪山区坑梓街道第三工业区耀邦厂2号楼201", "坪山区坑梓街道第3工业区耀邦厂2栋201"),
    ("宝安区福永和平福明盛工业区3号厂房第一、二层", "宝安区福永和平福明盛工业区3号厂房第1、2层"),
    ("富士康工业区AN栋整套", "富士康工业区AN栋"),
    ("龙岗区布吉街道龙景三区四巷24号102", "龙岗区布吉街道龙景3区4巷24号102"),
    ("宝安区福永街道美盛新村第4栋C座509", "宝安区福永街道美盛新村4栋C座509"),
    ("宝安区福永街道永福苑A座0715房", "宝安区福永街道永福苑A座0715"),
    (
        "宝安区西乡新安六路福中福商业城(二期)C栋C2座406",
        "宝安区西乡新安六路福中福商业城2期C栋C2座406",
    ),
    ("龙华区龙华街道龙华汽车站斜对面联友商务大厦5楼503", "龙华区龙华街道龙华汽车站联友商务大厦5层503"),
    ("7区甲岸村106栋201已作废", "7区甲岸村106栋201"),
    ("南山区蛇口街道蛇口湾厦旧村九巷41—2号201", "南山区蛇口街道蛇口湾厦旧村9巷41-2号201"),
    ("罗湖区桂园街道滨河路1015号鹿丹村8栋一单元一层2号", "罗湖区桂园街道滨河路1015号鹿丹村8栋1单元1层2号"),
    ("南山区海印长城10―14C", "南山区海印长城10-14C"),
    ("怡园大厦（怡景阁、怡涛阁）怡涛阁", "怡园大厦怡景阁、怡涛阁"),
    ("福田区沙头街道沙尾东村286A号501之1", "福田区沙头街道沙尾东村286A号501之1"),
    # Known exception, kept because it is consistent on both sides: a name made of numeral + unit word.
    ("宝安区西乡兴业路湾上六座花园6栋1单元401", "宝安区西乡兴业路湾上6座花园6栋1单元401"),
]


@pytest.mark.parametrize(("text", "expected"), ISSUE_EXAMPLES + NAME_EXAMPLES + RULE_EXAMPLES + REAL_EXAMPLES)
def test_examples(text: str, expected: str) -> None:
    assert normalize(text) == expected
    assert normalize(expected) == expected
    assert normalize_with_map(text).text == expected


def test_over_long_input_is_capped() -> None:
    text = "南山区" * 1000  # 256 characters = 85 × 南山区 + 南, and the repeats fold into one
    assert normalize(text) == "南山区南"
    mapped = normalize_with_map("1" * 10_000)
    assert mapped.text == "1" * MAX_INPUT_CHARS
    assert mapped.truncated


def test_noise_list_is_exported_and_removed() -> None:
    for word in NOISE:
        assert normalize(f"向南路49号{word}") == "向南路49号"


# --- the map back to the source -------------------------------------------------------------------


def test_map_points_at_source_characters() -> None:
    text = "广东省深圳市南山區南山區 二十三楼６０１室"
    result = normalize_with_map(text)
    assert result.text == "广东省深圳市南山区23层601"
    i = result.text.index("23")
    assert result.source_span(i, i + 2) == (13, 16)  # 二十三
    j = result.text.index("层")
    assert text[slice(*result.source_span(j, j + 1))] == "楼"
    k = result.text.index("601")
    assert text[slice(*result.source_span(k, k + 3))] == "６０１"
    assert text[slice(*result.source_span(6, 9))] == "南山區"


# --- numerals against cn2an -----------------------------------------------------------------------


@pytest.mark.slow
def test_numeral_table_agrees_with_cn2an_on_0_to_99999() -> None:
    for n in range(100_000):
        text = cn2an.an2cn(n)
        assert cn_to_int(text) == n == cn2an.cn2an(text, "smart"), text


@pytest.mark.parametrize(
    "text",
    ["两千", "两万", "一千二", "三万五", "二百五", "一十四", "一千零十", "二〇〇一", "六零一", "零", "十万"],
)
def test_colloquial_numerals_agree_with_cn2an(text: str) -> None:
    assert cn_to_int(text) == cn2an.cn2an(text, "smart")


@pytest.mark.parametrize("text", ["", "万", "百", "千二百", "十十", "二千三千", "万二", "壹", "一二三万万"])
def test_non_numbers_are_not_converted(text: str) -> None:
    assert cn_to_digits(text) is None


def test_digit_by_digit_keeps_leading_zeros() -> None:
    assert cn_to_digits("零一") == "01"
    assert cn_to_digits("幺零一") == "101"


# --- joined numbers -------------------------------------------------------------------------------


def test_split_joined_number_asks_the_library() -> None:
    alley = {"1", "11", "12"}.__contains__
    assert split_joined_number("11404", alley) == [("11", "404"), ("1", "1404")]
    assert split_joined_number("11404", {"11"}.__contains__) == [("11", "404")]
    assert split_joined_number("11404", set[str]().__contains__) == []
    assert split_joined_number("1404", {"1"}.__contains__) == [("1", "404")]
    assert split_joined_number("404", alley) == []  # too short to hold a number and a room
    assert split_joined_number("11400", alley) == []  # room 400 / 1400 is not a flat number
    assert split_joined_number("12A404", alley) == []


# --- properties -----------------------------------------------------------------------------------

_FULL_WIDTH_DIGITS = {cp: chr(cp - 0xFEE0) for cp in range(0xFF10, 0xFF1A)}
_DIGIT_RUN = re.compile(r"[0-9]+")

# Pieces that exercise every rule (and their interplay), mixed with arbitrary characters.
_PIECES = [
    *("广东省", "深圳市", "南山区", "南山", "街道", "向南路", "南粤山庄", "花园", "村", "路", "街", "大厦"),
    *UNIT_WORDS,
    *("号楼", "栋楼", "单元楼", "楼层", "房间", "号房", "第", "之", "厅", "门第", "喊"),
    *("零", "〇", "一", "二", "两", "三", "九", "十", "百", "千", "万", "幺", "十四", "六零一", "二十三"),
    *NOISE,
    *("整", "套", "对", "面", "斜"),
    *("(", ")", "（", "）", "注", "备注:", "自建房", "、", "，", ",", "；", "-", "—", "～", "#", "＃", "."),
    *(" ", "　", "\t", "\n", "\u200b"),
    *("0", "1", "12", "601", "１２", "０", "Ａ", "a", "B", "Z", "G"),
    *("11栋", "A座", "區", "號", "樓", "①", "😀", "\ud800"),
]
_ANY_CHAR = st.characters(codec=None, exclude_categories=())  # surrogates and controls included
address_like = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(_ANY_CHAR, max_size=2)), max_size=40).map(
    "".join
)
any_text = st.text(_ANY_CHAR, max_size=300)

PROPERTY_SETTINGS = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _digit_runs(text: str) -> list[str]:
    return _DIGIT_RUN.findall(text[:MAX_INPUT_CHARS].translate(_FULL_WIDTH_DIGITS))


@PROPERTY_SETTINGS
@given(st.one_of(address_like, any_text))
def test_never_raises_and_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert isinstance(once, str)
    assert len(once) <= MAX_INPUT_CHARS
    assert normalize(once) == once


@PROPERTY_SETTINGS
@given(st.one_of(address_like, any_text))
def test_never_loses_a_digit(text: str) -> None:
    out = normalize(text)
    for run in _digit_runs(text):
        assert run in out, (run, out)


_CIRCLED = frozenset("①②③④⑤⑥⑦⑧⑨⑴⑵⑶⑷⑸⑹⑺⑻⑼⒈⒉⒊⒋⒌⒍⒎⒏⒐")


@PROPERTY_SETTINGS
@given(st.one_of(address_like, any_text))
def test_numbers_are_never_glued_together(text: str) -> None:
    """Stronger than the above: each number comes out as a whole number, not part of a longer one."""
    assume(not _CIRCLED.intersection(text))  # ①② are digits of their own that may sit next to one
    out_runs = set(_DIGIT_RUN.findall(normalize(text)))
    for run in _digit_runs(text):
        assert run in out_runs, (run, normalize(text))


@PROPERTY_SETTINGS
@given(st.one_of(address_like, any_text))
def test_map_agrees_with_normalize(text: str) -> None:
    result = normalize_with_map(text)
    assert result.text == normalize(text)
    assert len(result.starts) == len(result.ends) == len(result.text)
    head = min(len(text), MAX_INPUT_CHARS)
    for a, b in zip(result.starts, result.ends, strict=True):
        assert 0 <= a < b <= head
    assert list(result.starts) == sorted(result.starts)


_SAFE_PREFIX = st.sampled_from(["", "南山区", "向南路49号", "A", "南粤山庄10栋", "轻铁西"])


@settings(max_examples=3000, deadline=None)
@given(_SAFE_PREFIX, st.integers(0, 99_999), st.sampled_from(UNIT_WORDS))
def test_converted_numerals_appear_as_digits(prefix: str, n: int, unit: str) -> None:
    out = normalize(prefix + cn2an.an2cn(n) + unit)
    assert str(n) in out, out


_CN_DIGIT = dict(zip("0123456789", "零一二三四五六七八九", strict=True))


@settings(max_examples=1000, deadline=None)
@given(st.integers(0, 99_999), st.sampled_from(["", "南粤山庄10栋", "8栋"]))
def test_digit_by_digit_rooms(n: int, prefix: str) -> None:
    room = str(n).zfill(3)
    out = normalize(prefix + "".join(_CN_DIGIT[d] for d in room))
    assert out.endswith(room), out


# --- the real files: nothing raises, digits survive, idempotent ----------------------------------


def _real_texts(require_file: Callable[[Path], Path]) -> list[str]:
    texts: list[str] = []
    for line in require_file(VAL_PAIRS).read_text(encoding="utf-8").splitlines():
        texts.extend(line.split("\t")[:2])
    for line in require_file(NAACL_TRAIN).read_text(encoding="utf-8").splitlines():
        texts.append(json.loads(line)["text"])
    return list(dict.fromkeys(texts))


@pytest.mark.slow
def test_real_addresses(require_file: Callable[[Path], Path]) -> None:
    texts = _real_texts(require_file)
    assert len(texts) > 1000
    for text in texts:
        out = normalize(text)
        assert normalize(out) == out, text
        for run in _digit_runs(text):
            assert run in out, (text, out)
