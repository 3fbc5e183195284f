"""Address normaliser: the first stage of the address engine (issue 4, item 3).

`normalize(text)` turns a messy address into a canonical string that the parser and the matcher compare;
the standard addresses of the library go through the same function, so both sides meet in one form.
`normalize_with_map(text)` returns the same string plus, for every output character, the span of the
source text it came from, so a parser can report spans on what the user wrote.

It runs on millions of records (budget ~30 µs; it takes ~8 µs, see `bench/normalize.py`), so every table
and pattern is built at import time and a pass that finds nothing to do costs one regex scan. It never
raises on a `str`, it is idempotent, and it never drops or glues together a number written in digits: no
rule deletes a digit, and every deletion between two ASCII letters/digits leaves a space.

The rules, in the order they run:

1. **Length cap.** Only the first `MAX_INPUT_CHARS` characters are read (the API reports over-long input).
2. **Character fold** (one character → one character, so positions survive): full-width ASCII and the
   ideographic space → ASCII; ASCII letters → upper case (room "26g" = "26G"); every dash and tilde → "-";
   "＃", "№" → "#"; all brackets → "(" ")"; "," ";" "，" "；" → "、" (the one list separator); "。" → ".";
   quotes, control and format characters (zero-width space, BOM) and any other space → " "; ①–⑨ → 1–9;
   CJK compatibility ideographs and Kangxi radicals → the unified character (as NFKC does); traditional →
   simplified for the characters addresses use (`TRADITIONAL_TO_SIMPLIFIED`). Not full NFKC: NFKC would
   turn "㎡" into "m2" and "½" into "1⁄2", inventing digits.
3. **Remarks and brackets.** A bracketed remark — "(注: …)", "(备注…)", "(说明…)", "(近地铁站)", "(自建房)",
   "(已作废)" —
   goes with its content, unless it holds a digit ("(注: 原12号)" may be the old number: kept); other
   brackets are dropped and their content kept ("商业城(二期)" and "商业城二期" are the same place).
4. **Spaces.** A run of spaces between two ASCII letters/digits becomes one space (it separates numbers:
   "10 601" must not become "10601"); every other space goes.
5. **Noise words** (`NOISE`): 整套, 旁边, 附近, (斜)对面, 隔壁, 已作废 — except inside a known place name
   (对面喊, 对面岭 are villages) — and, at the very end only, words that just point: 楼下, 后面, 那里,
   那边, 这里, 门口.
6. **Chinese numerals → digits where they are numbers** (`numerals.cn_to_digits`). A run of numeral
   characters is converted when
   - it stands right before an address unit word (`UNIT_WORDS`: 号 栋 座 幢 楼 层 单元 室 房 巷 弄 期 区 坊 排
     组): 十四巷 → 14巷, 二单元 → 2单元, 一千零五十二号 → 1052号, 两栋 → 2栋; only the longest tail of
     the run that is a number is converted (万二栋 → 万2栋: 万 belongs to the name);
   - it follows 第 or 之 (ordinals and sub-numbers: 第三工业区 → 第3工业区, 13号之二 → 13号之2);
   - it is three or more digits read one by one (六零一, 二〇〇一, 二二八).
   Everything else is kept as written, which is how names survive: 十里香花园, 九龙, 三湘海尚, 万科, and
   road, street and village numbers — 科技南十二路, 金家一路, 五一路, 粤海二街, 高新南一道, 布心二村, 安乐二队
   — because in the Shenzhen pairs those are always written in Chinese on both sides (the numeral is part
   of the name; converting 五一路 would make it "51路", a bus route). Exception to all of the above: a
   numeral touching an ASCII digit is never converted, because the digits would run together into a
   different number (宿舍一208 = dormitory 1, room 208, not 1208).
7. **Unit words.** Building: 栋 / 幢 / 号楼 / 栋楼 / 号栋 / #楼 after a number or letter → 栋; 座 is kept
   apart, because Shenzhen addresses use both levels in one address (16栋B座, 1栋5座, C栋C2座). 第 before a
   numbered unit goes (第4栋 → 4栋), except where it ends a name (至尊门第) or follows a digit. 单元楼 →
   单元. Floor: 楼 / 楼层 after a number → 层 (5楼 = 5层; 层 is never a building). Room: 室 / 房 / 房间
   after a room number are dropped (601室 → 601), unless a number or 厅 follows (2房1厅 is a flat type).
   (Room runs before the others: dropping 室 can bring a unit word next to a number.)
8. **Separators.** Runs of 、 collapse to one; runs of "-" to one. Shorthand such as 10-601, 10栋601,
   10#601 is left for the parser.
9. **Repeats.** An exactly repeated adjacent chunk (2–32 characters, ending in the last character of an
   administrative, unit or estate word) is kept once: 11栋11栋 → 11栋, 深圳市深圳市 → 深圳市,
   南山区南山区 → 南山区; a chunk never starts inside a number, so 211栋11栋 stays. A deletion can bring
   words together that rules 3–8 rewrite, so after one they run again.
10. **Edges.** Leading and trailing separators, dots, dashes and spaces go.

Joined numbers ("轻铁西十一巷11404" = No. 11, room 404) cannot be split without the library: see
`split_joined_number`, the hook the matcher calls with the numbers the library knows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from gridgov.address.numerals import DIGIT_CHARS, cn_to_digits

__all__ = [
    "MAX_INPUT_CHARS",
    "NOISE",
    "TRADITIONAL_TO_SIMPLIFIED",
    "UNIT_WORDS",
    "Normalized",
    "normalize",
    "normalize_with_map",
    "split_joined_number",
]

#: Characters of input read; the rest is ignored. Real addresses are < 100 characters; the cap bounds
#: the work per record whatever arrives (the API layer rejects over-long input with a clear error).
MAX_INPUT_CHARS: Final = 256

#: Words that say nothing about where a place is; removed (see `_NOISE_KEEP` for names that contain one).
NOISE: Final[tuple[str, ...]] = ("整套", "旁边", "附近", "斜对面", "对面", "隔壁", "已作废")
# Place names that start with a noise word: 对面喊 (坪山), 对面岭 (龙岗) are villages, not directions.
_NOISE_KEEP: Final[dict[str, str]] = {"对面": "喊岭"}

#: Unit words after which a Chinese numeral is a number (rule 6). Roads (路 街 道) and villages (村 队)
#: are deliberately absent: their numerals are part of the name.
UNIT_WORDS: Final[tuple[str, ...]] = (
    "单元",
    "号",
    "栋",
    "座",
    "幢",
    "楼",
    "层",
    "室",
    "房",
    "巷",
    "弄",
    "期",
    "区",
    "坊",
    "排",
    "组",
)

# Traditional → simplified, one character each, for the characters addresses use: administrative and
# unit words, place-name and estate-name characters common in Guangdong, common surnames (陈屋村), and
# business words (厂, 贸易). A table rather than OpenCC: OpenCC is not a dependency, its phrase-level
# conversion is not needed for names, and a 1:1 table keeps every position (so spans stay exact) and runs
# inside str.translate. Characters whose simplified form depends on the word (乾 干, 於 于, 沖 冲, 鍾 钟,
# 餘 余, 覆 复) are left out on purpose. Each pair was checked against OpenCC's TSCharacters.
_TRAD_SIMP_PAIRS: Final = (
    "區区號号樓楼園园東东灣湾廣广門门華华興兴橋桥陽阳縣县鎮镇鄉乡莊庄棟栋層层單单廈厦館馆舘馆"
    "處处寶宝龍龙羅罗鹽盐頭头嶺岭崗岗觀观瀾澜鳳凤圍围濱滨邊边嶼屿島岛灘滩壩坝鵬鹏貝贝粵粤漁渔"
    "僑侨閣阁軒轩廳厅豐丰麗丽錦锦綠绿樂乐愛爱達达發发業业財财貿贸鋼钢鐵铁銀银電电車车機机場场"
    "廠厂齊齐寧宁萬万億亿貨货運运雲云風风陳陈黃黄張张劉刘楊杨趙赵吳吴鄭郑鄧邓葉叶馮冯蔣蒋後后"
    "裡里裏里內内對对側侧舊旧務务會会學学醫医藥药衛卫郵邮稅税營营實实開开關关聯联協协創创產产"
    "産产農农礦矿個个們们這这來来為为與与從从間间條条兩两蓮莲濕湿線线彎弯頂顶寬宽點点蘇苏滬沪"
    "湧涌徑径陸陆碼码鐘钟長长紅红橫横樹树環环盤盘勝胜壇坛廟庙齋斋雙双順顺漢汉圖图書书體体國国"
    "際际濟济鏡镜繡绣綉绣蘭兰偉伟滿满鶴鹤魚鱼雞鸡鴿鸽馬马鳥鸟溝沟戶户勞劳隊队組组鄰邻臺台銷销"
)
TRADITIONAL_TO_SIMPLIFIED: Final[dict[str, str]] = {
    _TRAD_SIMP_PAIRS[i]: _TRAD_SIMP_PAIRS[i + 1] for i in range(0, len(_TRAD_SIMP_PAIRS), 2)
}

_DASHES: Final = "‐‑‒–—―−﹣﹘⁓〜～~─ー"
_OPEN: Final = "（【〔［｛《〈「『([{<"
_CLOSE: Final = "）】〕］｝》〉」』)]}>"
_QUOTES: Final = "\"'“”‘’`´"
_SEPARATORS: Final = ",，;；､"
_CIRCLED: Final = ("①②③④⑤⑥⑦⑧⑨", "⑴⑵⑶⑷⑸⑹⑺⑻⑼", "⒈⒉⒊⒋⒌⒍⒎⒏⒐")


def _build_fold() -> dict[int, str]:
    """The one-character-to-one-character table of rule 2 (built once; str.translate applies it)."""
    table: dict[int, str] = {}
    for cp in range(0xFF01, 0xFF5F):  # full-width ASCII
        table[cp] = chr(cp - 0xFEE0)
    for cp in (*range(0x2E80, 0x2FE0), *range(0xF900, 0xFB00)):  # radicals, compatibility ideographs
        folded = unicodedata.normalize("NFKC", chr(cp))
        if len(folded) == 1 and folded != chr(cp):
            table[cp] = folded
    for cp in (*range(0x10000), *range(0xE0000, 0xE0080)):  # controls, format chars, spaces, surrogates
        if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"):
            table[cp] = " "
    for ch in _DASHES:
        table[ord(ch)] = "-"
    for ch in _OPEN:
        table[ord(ch)] = "("
    for ch in _CLOSE:
        table[ord(ch)] = ")"
    for ch in _QUOTES:
        table[ord(ch)] = " "
    for ch in _SEPARATORS:
        table[ord(ch)] = "、"
    for ch in "。｡":
        table[ord(ch)] = "."
    table[ord("№")] = "#"
    for row in _CIRCLED:
        for i, ch in enumerate(row):
            table[ord(ch)] = str(i + 1)
    for trad, simp in TRADITIONAL_TO_SIMPLIFIED.items():
        table[ord(trad)] = simp
    for cp in range(ord("a"), ord("z") + 1):
        table[cp] = chr(cp).upper()
    # Chase every value to its fixed point (ａ → a → A, ～ → ~ → -), so folding twice = folding once.
    for cp, value in table.items():
        seen = 0
        while ord(value) in table and table[ord(value)] != value and seen < 8:
            value = table[ord(value)]
            seen += 1
        table[cp] = value
    return {cp: v for cp, v in table.items() if chr(cp) != v}


_FOLD: Final = _build_fold()

_ALNUM: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ASCII_DIGITS: Final = frozenset("0123456789")
_EDGE: Final = " 、.-:!?·…"
_NUMERAL_CLASS: Final = "〇零一二三四五六七八九十百千万两幺"
_UNIT_ALT: Final = "|".join(UNIT_WORDS)
_ROOM_NEXT_BLOCK: Final = "0-9A-Z" + _NUMERAL_CLASS + "厅卫"

# Rule 3. A remark left open runs to the end of the text. One that holds a number (注: 原12号) is kept,
# brackets dropped: a digit is never thrown away.
_REMARK_RE: Final = re.compile(
    r"\((?:备注|注|说明|近|靠近|临近)[^()0-9]*(?:\)|$)|\((?:自建房|已作废|作废|整套|私房)\)"
)
_BRACKET_RE: Final = re.compile(r"[()]+")
_SPACE_RE: Final = re.compile(r" +")
# A run of noise words is one match, so the "keep ASCII neighbours apart" check sees the run's real
# neighbours (0整套整套0 → "0 0", not "00").
_NOISE_RE: Final = re.compile(
    "(?:"
    + "|".join(
        re.escape(word) + (f"(?![{_NOISE_KEEP[word]}])" if word in _NOISE_KEEP else "")
        for word in sorted(NOISE, key=len, reverse=True)
    )
    + ")+"
)
# Words that only point ("楼下", "那里") say nothing at the end of an address; inside one they may be a name.
_TRAILING_NOISE_RE: Final = re.compile(r"(?:楼下|后面|那里|那边|这里|门口) *$")
_NUMERAL_RE: Final = re.compile(f"[{_NUMERAL_CLASS}]+")
_UNIT_AFTER_RE: Final = re.compile(_UNIT_ALT)
_ORDINAL_BEFORE: Final = frozenset("第之")
# Rule 7. Each pattern replaces only the unit word, so the numbers around it keep their positions, and
# each starts with a literal character (lookbehinds come after it) so the regex engine scans for that
# character in C instead of trying every position. Possessive `*+`: a unit run followed by a blocked
# character is left whole rather than half-rewritten.
# 第 is kept after a digit too: dropping it would glue two numbers together (第1第2栋).
_ORDINAL_DROP_RE: Final = re.compile(r"第(?<![门府宅及0-9]第)第*(?=[0-9]+(?:" + _UNIT_ALT + "))")
_BUILDING_RE: Final = re.compile(
    r"[号#栋幢](?:(?<=[0-9A-Z][号#])[楼栋幢]|(?<=[0-9A-Z][栋幢]))[栋幢楼]*+(?![房上下])"
)
_UNIT_BLOCK_RE: Final = re.compile(r"单(?<=[0-9A-Z]单)元楼+")
_FLOOR_RE: Final = re.compile(r"楼(?<=[0-9]楼)层?(?![栋座号房幢上下梯道])")
_ROOM_RE: Final = re.compile(
    rf"[室房](?:(?<=[0-9A-Z][室房])|(?<=[0-9A-Z]号[室房]))(?:[室房]|(?<=房)间)*+(?![{_ROOM_NEXT_BLOCK}])"
)
_SEP_RUN_RE: Final = re.compile(r"、、+|--+")
# Rule 9 looks for a chunk ending in one of these characters (the last character of an administrative
# name, a unit word or an estate word), repeated right after itself.
_REPEAT_END: Final = frozenset(
    "省市区县镇街道路巷号栋座幢楼层元室房期坊排组村园苑城厦庄阁院场厂队弄里湾岭围山府居轩庭邸宅舍馆店司"
)
_REPEAT_MAX: Final = 32


def _space(m: re.Match[str]) -> str:
    s, a, b = m.string, m.start(), m.end()
    if a and b < len(s) and s[a - 1] in _ALNUM and s[b] in _ALNUM:
        return " "
    return ""


def _noise(m: re.Match[str]) -> str:
    # Keep ASCII numbers on both sides apart ("12整套3" is two numbers, not 123).
    return _space(m)


def _numeral(m: re.Match[str]) -> str:
    run = m.group()
    s, a, b = m.string, m.start(), m.end()
    if (a and s[a - 1] in _ASCII_DIGITS) or (b < len(s) and s[b] in _ASCII_DIGITS):
        return run
    if a and s[a - 1] in _ORDINAL_BEFORE:
        digits = cn_to_digits(run)
        return run if digits is None else digits
    if _UNIT_AFTER_RE.match(s, b):
        for i in range(len(run)):
            digits = cn_to_digits(run[i:] if i else run)
            if digits is not None:
                return run[:i] + digits
        return run
    if len(run) >= 3 and all(ch in DIGIT_CHARS for ch in run):
        return cn_to_digits(run) or run
    return run


def _find_repeat(s: str) -> tuple[int, int] | None:
    """The first [a, b) to delete because s[a:b] repeats the chunk right before it, or None.

    Plain Python instead of a backreference regex (`(.{1,31}?X)\\1`): the regex tries every length at
    every position (~10 µs a record); this only compares chunks between two equal end characters.
    """
    seen: dict[str, list[int]] | None = None
    for j, ch in enumerate(s):
        if ch not in _REPEAT_END:
            continue
        if seen is None:
            seen = {}
        previous = seen.get(ch)
        if previous is None:
            seen[ch] = [j]
            continue
        for i in reversed(previous):
            width = j - i
            if width > _REPEAT_MAX:
                break
            a = i + 1 - width
            if (
                width >= 2
                and a >= 0
                and s[a : i + 1] == s[i + 1 : j + 1]
                # the chunk may not start inside an ASCII number or word: 211栋11栋 is two buildings
                and not (a and s[a - 1] in _ALNUM and s[a] in _ALNUM)
            ):
                return i + 1, j + 1
        previous.append(j)
    return None


# (pattern, replacement, repeat until stable, guard) for rules 3–8; the two drivers below run the same
# list. A guard is a cheap test that is false only when the pattern cannot match: a regex call costs
# ~0.25 µs even when it finds nothing, and most texts need few of the passes.
_Repl = str | Callable[[re.Match[str]], str]
_Guard = Callable[[str], bool] | None
_TRAILING_NOISE_WORDS: Final = ("楼下", "后面", "那里", "那边", "这里", "门口")
_PASSES: Final[tuple[tuple[re.Pattern[str], _Repl, bool, _Guard], ...]] = (
    # a space, so 1(注)2 stays two numbers; nested: (注:a(注)b)
    (_REMARK_RE, " ", True, lambda s: "(" in s),
    (_BRACKET_RE, " ", False, lambda s: "(" in s or ")" in s),
    (_SPACE_RE, _space, False, lambda s: " " in s),
    (_NOISE_RE, _noise, True, None),  # removing one word can join the halves of another (整对面套)
    # 1202楼下那里 → 1202楼下 → 1202
    (_TRAILING_NOISE_RE, "", True, lambda s: s.rstrip(" ").endswith(_TRAILING_NOISE_WORDS)),
    (_NUMERAL_RE, _numeral, False, None),
    # Room first: dropping 室 can bring a unit word next to a number (0室号楼 → 0号楼 → 0栋), while the
    # passes after it only turn unit words into unit words, which no earlier pass looks at differently.
    (_ROOM_RE, "", True, lambda s: "室" in s or "房" in s),  # 0房间号房 → 0号房 → 0号
    (_ORDINAL_DROP_RE, "", False, lambda s: "第" in s),
    (_BUILDING_RE, "栋", False, None),
    (_UNIT_BLOCK_RE, "单元", False, lambda s: "元楼" in s),
    (_FLOOR_RE, "层", False, lambda s: "楼" in s),
    (_SEP_RUN_RE, lambda m: m.group()[0], False, lambda s: "、、" in s or "--" in s),
)


# Deleting a repeat can bring words together that an earlier pass rewrites (0单元楼单元楼 → 0单元单元楼 →
# 0单元楼 → 0单元), so after a deletion the passes run again; rarely more than once.
_MAX_ROUNDS: Final = 8


def _run_passes(s: str) -> str:
    for pattern, repl, repeat, guard in _PASSES:
        if guard is not None and not guard(s):
            continue
        changed = pattern.sub(repl, s)
        while repeat and changed != s:
            s, changed = changed, pattern.sub(repl, changed)
        s = changed
    return s


def normalize(text: str) -> str:
    """The canonical form of an address (see the module documentation for the rules)."""
    if len(text) > MAX_INPUT_CHARS:
        text = text[:MAX_INPUT_CHARS]
    s = _run_passes(text.translate(_FOLD))
    for _ in range(_MAX_ROUNDS):
        cut = _find_repeat(s)
        if cut is None:
            break
        while cut is not None:  # deleting one repeat can expose another (1栋2栋2栋1栋2栋)
            s = s[: cut[0]] + s[cut[1] :]
            cut = _find_repeat(s)
        s = _run_passes(s)
    return s.strip(_EDGE)


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised address and where each of its characters came from in the source text.

    `starts[i]` is the index in `source` of the character output character `i` came from; `ends[i]` is the
    end (exclusive) of the source stretch it stands for — "二十三" → "23" gives "2" → [0, 1) and
    "3" → [1, 3). Use `source_span` to turn an output span into a source span.
    """

    text: str
    source: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    truncated: bool

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The source span [a, b) covered by output characters [start, end)."""
        if start >= end or start >= len(self.text):
            anchor = self.starts[start] if start < len(self.starts) else len(self.source)
            return anchor, anchor
        end = min(end, len(self.text))
        return self.starts[start], max(self.ends[start:end])


def _sub_tracked(
    pattern: re.Pattern[str], repl: _Repl, s: str, starts: list[int], ends: list[int]
) -> tuple[str, list[int], list[int]]:
    """`pattern.sub(repl, s)` that also carries the per-character source spans along."""
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    pos = 0
    for m in pattern.finditer(s):
        a, b = m.span()
        old = m.group()
        new = repl(m) if callable(repl) else m.expand(repl)
        if new == old:
            continue
        out.append(s[pos:a])
        new_starts += starts[pos:a]
        new_ends += ends[pos:a]
        # Characters shared at both ends keep their own positions (23楼 → 23层 moves only 楼 → 层) …
        limit = min(len(old), len(new))
        p = 0
        while p < limit and old[p] == new[p]:
            p += 1
        q = 0
        while q < limit - p and old[-1 - q] == new[-1 - q]:
            q += 1
        out.append(s[a : a + p])
        new_starts += starts[a : a + p]
        new_ends += ends[a : a + p]
        middle = new[p : len(new) - q]
        if middle:
            # … and the changed middle shares its source stretch out evenly (二十三 → 23).
            lo, hi = a + p, b - q
            if hi > lo:
                src_a, src_b = starts[lo], max(ends[lo:hi])
            elif lo > 0:
                src_a, src_b = starts[lo - 1], ends[lo - 1]
            else:
                src_a = src_b = starts[0] if starts else 0
            k, width = len(middle), src_b - src_a
            for j in range(k):
                c_a = src_a + j * width // k
                c_b = src_a + (j + 1) * width // k
                new_starts.append(c_a)
                new_ends.append(max(c_b, min(c_a + 1, src_b)))
        out.append(middle)
        tail = b - q
        new_starts += starts[tail:b]
        new_ends += ends[tail:b]
        out.append(s[tail:b])
        pos = b
    if pos == 0:
        return s, starts, ends
    out.append(s[pos:])
    new_starts += starts[pos:]
    new_ends += ends[pos:]
    return "".join(out), new_starts, new_ends


def _run_passes_tracked(s: str, starts: list[int], ends: list[int]) -> tuple[str, list[int], list[int]]:
    for pattern, repl, repeat, guard in _PASSES:
        if guard is not None and not guard(s):
            continue
        while True:
            before = s
            s, starts, ends = _sub_tracked(pattern, repl, s, starts, ends)
            if not repeat or s == before:
                break
    return s, starts, ends


def normalize_with_map(text: str) -> Normalized:
    """`normalize(text)` with, for every output character, the source characters it came from."""
    truncated = len(text) > MAX_INPUT_CHARS
    head = text[:MAX_INPUT_CHARS] if truncated else text
    s = head.translate(_FOLD)  # one to one: positions unchanged
    starts = list(range(len(s)))
    ends = list(range(1, len(s) + 1))
    s, starts, ends = _run_passes_tracked(s, starts, ends)
    for _ in range(_MAX_ROUNDS):
        cut = _find_repeat(s)
        if cut is None:
            break
        while cut is not None:
            a, b = cut
            s, starts, ends = s[:a] + s[b:], starts[:a] + starts[b:], ends[:a] + ends[b:]
            cut = _find_repeat(s)
        s, starts, ends = _run_passes_tracked(s, starts, ends)
    left = len(s) - len(s.lstrip(_EDGE))
    right = len(s.rstrip(_EDGE))
    if right <= left:
        return Normalized("", text, (), (), truncated)
    return Normalized(s[left:right], text, tuple(starts[left:right]), tuple(ends[left:right]), truncated)


def split_joined_number(token: str, known_numbers: Callable[[str], bool]) -> list[tuple[str, str]]:
    """Ways to read digits written without a separator as (house number, room): "11404" → ("11", "404").

    People type "轻铁西十一巷11404" for No. 11, room 404; only the library knows whether the alley has a
    No. 11 (or a No. 1, room 1404). `known_numbers(n)` answers that for the place in question. Rooms are
    3 or 4 digits not starting with 0 and not ending in 00; 3-digit rooms come first (most of these
    addresses are low-rise village houses). An empty list means no reading; more than one means the
    caller must not guess.
    """
    if not (token.isascii() and token.isdigit()) or len(token) < 4:
        return []
    found: list[tuple[str, str]] = []
    for cut in range(max(1, len(token) - 4), len(token) - 2):
        number, room = token[:cut], token[cut:]
        if number[0] == "0" or room[0] == "0" or room.endswith("00"):
            continue
        if known_numbers(number):
            found.append((number, room))
    found.sort(key=lambda pair: len(pair[1]) != 3)
    return found
