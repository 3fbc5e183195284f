"""Line 3, legal entities: the business register (商事主体登记) as market regulation exports it.

Assumptions (scale 1.0): 430,000 entities — 75 % companies, 25 % sole traders (个体工商户). Each
operates from a commercial unit: companies mostly in office towers and industrial parks, sole
traders in shop units (village ground floors, 商住楼 shops, shop buildings). Many share a unit, as
small firms do. One company in five is registered at a 前海 business-secretary address outside the
district's grids (a real, common practice) while operating in Nanshan; 15 % of the rest, and 5 % of
sole traders, registered at a unit they have since left. Status: 84 % 存续, 12 % 注销, 4 % 吊销.
About 12 % of sole traders (and a few tiny companies) are "three small places" (三小场所): small
stalls, workshops and entertainment venues in village shops and 商住楼.

Credit codes (GB 32100): authority 9 (market regulation), type 1 (enterprise) / 2 (individual
business), admin code 440305, a 9-character organisation code with its GB 11714 check (``MA5…``
for codes issued since the 2015 reform, 8 digits for older companies, ``L…`` for older sole
traders) and the final check character. Injected: ~1 % invalid codes (wrong check character,
wrong organisation-code check, a letter O/I for a digit 0/1, a lost character), ~1.5 %
duplicates, ~0.5 % broken rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from gridgov.demo import rows as rw
from gridgov.demo import schema, textmess
from gridgov.demo.identifiers import USCC_ALPHABET, org_check_values, uscc_check_char, uscc_check_indices
from gridgov.demo.names import NameMaker
from gridgov.demo.persons import EPOCH, IdRegistry, PersonBatch, make_people, sample_ages
from gridgov.demo.world import COMMERCIAL, INDUSTRIAL, MIXED, OFFICE, USE_COMMERCIAL, VILLAGE, World, scaled
from gridgov.demo.writers import TableWriter

ENTITIES_TOTAL = 430_000
HEADER = schema.headers("entities/business_register")
TRUTH_HEADER = [
    "record_id",
    "entity_id",
    "entity_kind",
    "true_credit_code",
    "credit_valid",
    "credit_defect",
    "registered_in_district",
    "registered_dwelling_code",
    "operating_dwelling_code",
    "operating_std_code",
    "operating_grid_code",
    "true_operating_address",
    "address_differs",
    "three_small_kind",
    "is_duplicate_of",
    "duplicate_kind",
    "broken",
    "address_defects",
]
DATES = [6]
QIANHAI_ADDRESS = "深圳市前海深港合作区前湾一路1号A栋201室（入驻深圳市前海商务秘书有限公司）"

# Trade-name characters (字号): common, auspicious, modern-sounding.
TRADE_CHARS = (
    "华信达腾科创智联星海云鑫盛恒泰富佳宏丰兴源瑞祥辉锦汇捷博通德和安康乐美新天宇升远航龙鹏飞明光晟昊睿"
    "弘嘉润鼎盈益凯中南蓝金银铭精力微芯数链图拓维思诚志隆顺昌广永久立卓越领先尚品优力合众纳川聚"
)
# (name word, industry, weight) for companies.
COMPANY_TRADES = (
    ("科技", "信息传输、软件和信息技术服务业", 10),
    ("信息技术", "信息传输、软件和信息技术服务业", 6),
    ("网络科技", "信息传输、软件和信息技术服务业", 5),
    ("软件", "信息传输、软件和信息技术服务业", 3),
    ("智能科技", "信息传输、软件和信息技术服务业", 4),
    ("数据服务", "信息传输、软件和信息技术服务业", 1),
    ("贸易", "批发和零售业", 8),
    ("商贸", "批发和零售业", 5),
    ("供应链管理", "批发和零售业", 5),
    ("进出口", "批发和零售业", 3),
    ("电子商务", "批发和零售业", 3),
    ("投资咨询", "租赁和商务服务业", 4),
    ("企业管理咨询", "租赁和商务服务业", 5),
    ("商务服务", "租赁和商务服务业", 3),
    ("人力资源", "租赁和商务服务业", 2),
    ("广告", "租赁和商务服务业", 2),
    ("生物科技", "科学研究和技术服务业", 3),
    ("检测技术", "科学研究和技术服务业", 2),
    ("设计", "科学研究和技术服务业", 3),
    ("电子", "制造业", 4),
    ("精密制造", "制造业", 1),
    ("医疗器械", "制造业", 2),
    ("文化传媒", "文化、体育和娱乐业", 5),
    ("建筑工程", "建筑业", 2),
    ("装饰工程", "建筑业", 2),
    ("物业管理", "房地产业", 2),
    ("房地产经纪", "房地产业", 1),
    ("餐饮管理", "住宿和餐饮业", 3),
    ("物流", "交通运输、仓储和邮政业", 2),
    ("教育科技", "教育", 1),
    ("金融信息服务", "金融业", 1),
)
# (shop word, industry, three-small kind or '', weight) for sole traders.
SHOP_TRADES = (
    ("餐饮店", "住宿和餐饮业", "小档口", 10),
    ("小吃店", "住宿和餐饮业", "小档口", 8),
    ("粉面店", "住宿和餐饮业", "小档口", 5),
    ("快餐店", "住宿和餐饮业", "小档口", 6),
    ("茶餐厅", "住宿和餐饮业", "", 3),
    ("凉茶铺", "住宿和餐饮业", "小档口", 2),
    ("便利店", "批发和零售业", "", 9),
    ("士多店", "批发和零售业", "小档口", 4),
    ("水果店", "批发和零售业", "小档口", 4),
    ("烟酒商行", "批发和零售业", "", 4),
    ("五金店", "批发和零售业", "", 3),
    ("服装店", "批发和零售业", "", 5),
    ("日用品店", "批发和零售业", "", 3),
    ("肉菜档", "批发和零售业", "小档口", 2),
    ("理发店", "居民服务、修理和其他服务业", "", 6),
    ("美容店", "居民服务、修理和其他服务业", "", 4),
    ("手机维修店", "居民服务、修理和其他服务业", "", 3),
    ("洗衣店", "居民服务、修理和其他服务业", "", 2),
    ("电器维修部", "居民服务、修理和其他服务业", "", 2),
    ("汽车美容店", "居民服务、修理和其他服务业", "", 1),
    ("豆腐坊", "制造业", "小作坊", 1),
    ("面食加工坊", "制造业", "小作坊", 1),
    ("糕点坊", "制造业", "小作坊", 1),
    ("服装加工部", "制造业", "小作坊", 1),
    ("五金加工部", "制造业", "小作坊", 1),
    ("棋牌室", "文化、体育和娱乐业", "小娱乐场所", 2),
    ("卡拉OK", "文化、体育和娱乐业", "小娱乐场所", 1),
    ("桌球室", "文化、体育和娱乐业", "小娱乐场所", 1),
    ("网吧", "文化、体育和娱乐业", "小娱乐场所", 1),
)
COMPANY_FORMS = (
    ("有限责任公司", 0.85),
    ("股份有限公司", 0.02),
    ("分公司", 0.06),
    ("个人独资企业", 0.04),
    ("合伙企业", 0.03),
)
CAPITAL = np.array([1, 3, 5, 10, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000])
CAPITAL_W = np.array([4, 3, 6, 12, 8, 12, 25, 8, 6, 7, 6, 2, 1], dtype=float)
STATUSES = ("存续", "注销", "吊销")
# GB 11714 value (digits as is, A=10 … Z=35) of each credit-code alphabet character, by alphabet index.
_ORG_VALUE = np.array([int(c) if c.isdigit() else ord(c) - 55 for c in USCC_ALPHABET], dtype=np.int64)
_ALPHA = np.array([ord(c) for c in USCC_ALPHABET], dtype=np.uint8)


def _credit_codes(rng: np.random.Generator, sole: NDArray[np.bool_], modern: NDArray[np.bool_]) -> list[str]:
    """Valid GB 32100 codes, unique, built as (n, 18) index arrays."""
    n = len(sole)
    # Organisation-code body (8 chars) as USCC alphabet indices.
    body = rng.integers(0, 10, size=(n, 8))
    letters = rng.integers(0, len(USCC_ALPHABET), size=(n, 5))
    m_idx, a_idx, five = USCC_ALPHABET.index("M"), USCC_ALPHABET.index("A"), 5
    body[modern, 0], body[modern, 1], body[modern, 2] = m_idx, a_idx, five
    body[modern, 3:] = letters[modern]
    old_sole = sole & ~modern
    body[old_sole, 0] = USCC_ALPHABET.index("L")
    check = org_check_values(_ORG_VALUE[body])
    check_idx = np.where(check == 10, USCC_ALPHABET.index("X"), check)
    head = np.zeros((n, 8), dtype=np.int64)
    head[:, 0] = 9
    head[:, 1] = np.where(sole, 2, 1)
    head[:, 2:8] = [4, 4, 0, 3, 0, 5]
    values = np.concatenate([head, body, check_idx[:, None]], axis=1)
    final = uscc_check_indices(values)
    full = np.concatenate([values, final[:, None]], axis=1)
    codes = _ALPHA[full].view("S18").ravel().astype(str)
    return [str(c) for c in codes]


def corrupt_credit(r_choice: float, r_pick: float, code: str) -> tuple[str, str]:
    """An invalid version of a valid credit code, and what went wrong."""
    if r_choice < 0.5:
        others = [c for c in USCC_ALPHABET if c != code[17]]
        return code[:17] + others[int(r_pick * len(others))], "bad_check_char"
    if r_choice < 0.7:
        # The organisation-code check digit is wrong but the final check was recomputed over it.
        digits = [c for c in "0123456789X" if c != code[16]]
        body = code[:16] + digits[int(r_pick * len(digits))]
        return body + uscc_check_char(body), "bad_org_check"
    if r_choice < 0.9:
        positions = [i for i, c in enumerate(code) if c in "01"]
        if positions:
            i = positions[int(r_pick * len(positions))]
            return code[:i] + ("O" if code[i] == "0" else "I") + code[i + 1 :], "illegal_char"
    i = 2 + int(r_pick * 15)
    return code[:i] + code[i + 1 :], "wrong_length"


def write_entities(
    world: World,
    out_dir: Path,
    *,
    scale: float,
    rng: np.random.Generator,
    registry: IdRegistry,
    as_of: date,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, object]:
    n = scaled(ENTITIES_TOTAL, scale)
    units = np.flatnonzero(world.d_use == USE_COMMERCIAL)
    if len(units) == 0:
        raise ValueError("No commercial units to place legal entities in.")
    ukind = world.b_kind[world.d_building[units]]
    company_w = np.select(
        [ukind == OFFICE, ukind == INDUSTRIAL, ukind == COMMERCIAL, ukind == MIXED, ukind == VILLAGE],
        [10.0, 6.0, 2.0, 1.5, 0.3],
        0.3,
    )
    sole_w = np.select(
        [ukind == VILLAGE, ukind == MIXED, ukind == COMMERCIAL, ukind == OFFICE, ukind == INDUSTRIAL],
        [5.0, 4.0, 4.0, 0.3, 0.5],
        0.5,
    )
    sole = rng.random(n) < 0.25
    operating = np.where(
        sole,
        units[rng.choice(len(units), size=n, p=sole_w / sole_w.sum())],
        units[rng.choice(len(units), size=n, p=company_w / company_w.sum())],
    )
    # Registration: 前海 secretary address, a unit since left, or the operating unit itself.
    qianhai = ~sole & (rng.random(n) < 0.20)
    moved = ~qianhai & (rng.random(n) < np.where(sole, 0.05, 0.15))
    registered = np.where(moved, units[rng.integers(0, len(units), n)], operating)
    registered = np.where(qianhai, -1, registered)

    today = (as_of - EPOCH).days
    # Established: weighted to recent years (Nanshan's register roughly doubled in the last decade).
    age_days = np.minimum((rng.exponential(6.0, n) * 365.25).astype(np.int64), 30 * 365)
    established = today - age_days
    modern = established >= (date(2015, 10, 1) - EPOCH).days
    status = rng.choice(3, size=n, p=[0.84, 0.12, 0.04])
    status = np.where(age_days < 365, 0, status)
    codes = _credit_codes(rng, sole, modern)
    _dedupe_codes(rng, codes, sole, modern)

    company_trade = rng.choice(len(COMPANY_TRADES), size=n, p=_weights([t[2] for t in COMPANY_TRADES]))
    shop_trade = rng.choice(len(SHOP_TRADES), size=n, p=_weights([t[3] for t in SHOP_TRADES]))
    form = rng.choice(len(COMPANY_FORMS), size=n, p=_weights([f[1] for f in COMPANY_FORMS]))
    capital = CAPITAL[rng.choice(len(CAPITAL), size=n, p=CAPITAL_W / CAPITAL_W.sum())]
    op_kind = world.b_kind[world.d_building[operating]]
    small_place_site = (op_kind == VILLAGE) | (op_kind == MIXED)
    three_small = np.array([SHOP_TRADES[int(t)][2] for t in shop_trade])
    three_small = np.where(sole & small_place_site & (rng.random(n) < 0.45), three_small, "")
    three_small = np.where(~sole & small_place_site & (rng.random(n) < 0.01), "小作坊", three_small)
    risk_score = rng.random(n) + (three_small != "") * 0.6 + (status != 0) * 0.3
    risk = np.where(risk_score > 1.25, "高", np.where(risk_score > 0.75, "中", "低"))

    reps = make_people(
        rng,
        registry,
        ages=sample_ages(rng, n, minimum=22, maximum=70),
        group=rng.choice(3, size=n, p=[0.25, 0.35, 0.40]),
        as_of=as_of,
    )
    maker = NameMaker()
    r = rw.py_random(rng)
    names = _entity_names(r, maker, reps, sole, company_trade, shop_trade, form)

    plan = rw.make_plan(rng, n)
    rows = plan.rows
    invalid_row = rw.pick_rows(
        rng, (plan.duplicate_of < 0) & (plan.broken == 0), rw.INVALID_CREDIT_RATE, rows
    )
    record_ids = rw.RecordIds(lambda i: str(i + 1))
    tally = rw.DefectTally(rows=rows)
    directory = out_dir / "entities"
    with (
        TableWriter(directory / "business_register.csv", HEADER) as feed,
        TableWriter(directory / "business_register_truth.csv", TRUTH_HEADER) as truth,
    ):
        out = rw.FeedRows(plan, record_ids, feed, truth, tally, _tally)
        row: list[object]
        truth_row: list[object]
        for lo in range(0, rows, rw.CHUNK):
            hi = min(rows, lo + rw.CHUNK)
            idx = plan.source[lo:hi]
            est_s = rw.days_to_iso(established[idx])
            for j in range(hi - lo):
                i = lo + j
                e = int(idx[j])
                if out.write_exact_duplicate(i):
                    continue
                dup_of = int(plan.duplicate_of[i])
                op = int(operating[e])
                ob = int(world.d_building[op])
                op_text, defects = textmess.messy_dwelling(
                    world.b_parts[ob], int(world.d_unit[op]), int(world.d_room[op]), r, textmess.BUSINESS
                )
                reg = int(registered[e])
                if reg < 0:
                    reg_text = QIANHAI_ADDRESS
                else:
                    rb = int(world.d_building[reg])
                    reg_text = textmess.standard_dwelling(
                        world.b_parts[rb], int(world.d_unit[reg]), int(world.d_room[reg]), with_community=True
                    )
                code, defect = codes[e], ""
                if dup_of >= 0:
                    code, defect = str(out.copies[dup_of][0][1]), str(out.copies[dup_of][1][5])
                elif invalid_row[i]:
                    code, defect = corrupt_credit(r.random(), r.random(), codes[e])
                name = names[e]
                entity_type = "个体工商户" if sole[e] else COMPANY_FORMS[int(form[e])][0]
                industry = (
                    SHOP_TRADES[int(shop_trade[e])][1]
                    if sole[e]
                    else COMPANY_TRADES[int(company_trade[e])][1]
                )
                if dup_of >= 0 and "(" in name:
                    name = name.replace("(", "（").replace(")", "）")  # same name, other brackets
                row = [
                    record_ids[i],
                    code,
                    name,
                    entity_type,
                    reps.name(maker, e),
                    "" if sole[e] else int(capital[e]),
                    est_s[j],
                    STATUSES[int(status[e])],
                    industry,
                    reg_text,
                    op_text,
                    str(risk[e]),
                    str(three_small[e]),
                ]
                truth_row = [
                    record_ids[i],
                    f"E{e + 1:07d}",
                    "sole_trader" if sole[e] else "company",
                    codes[e],
                    "0" if defect else "1",
                    defect,
                    "0" if reg < 0 else "1",
                    world.dwelling_code(reg) if reg >= 0 else "",
                    world.dwelling_code(op),
                    world.b_std_code[ob],
                    world.grid_code_of_building(ob),
                    world.dwelling_address(op),
                    "1" if reg != op else "0",
                    str(three_small[e]),
                    *out.truth_tail(i, defects),
                ]
                out.write(i, row, truth_row, r, required=[2, 10], dates=DATES)
            if progress:
                progress("entities", hi, rows)
    stats = tally.as_dict(
        {"duplicate": rw.DUPLICATE_RATE, "broken": rw.BROKEN_RATE, "credit_invalid": rw.INVALID_CREDIT_RATE}
    )
    stats["three_small_places"] = int((three_small != "").sum())
    stats["sole_traders"] = int(sole.sum())
    return stats


def _weights(values: list[float] | list[int]) -> NDArray[np.float64]:
    w = np.array(values, dtype=np.float64)
    return np.asarray(w / w.sum(), dtype=np.float64)


def _dedupe_codes(
    rng: np.random.Generator, codes: list[str], sole: NDArray[np.bool_], modern: NDArray[np.bool_]
) -> None:
    seen: set[str] = set()
    for i, code in enumerate(codes):
        while code in seen:
            code = _credit_codes(rng, sole[i : i + 1], modern[i : i + 1])[0]
        seen.add(code)
        codes[i] = code


def _entity_names(
    r: random.Random,
    maker: NameMaker,
    reps: PersonBatch,
    sole: NDArray[np.bool_],
    company_trade: NDArray[np.int64],
    shop_trade: NDArray[np.int64],
    form: NDArray[np.int64],
) -> list[str]:
    taken: set[str] = set()
    out: list[str] = []
    for e in range(len(sole)):
        for attempt in range(50):
            width = 2 if attempt < 10 else 3
            trade = "".join(TRADE_CHARS[r.randrange(len(TRADE_CHARS))] for _ in range(width))
            if sole[e]:
                word = SHOP_TRADES[int(shop_trade[e])][0]
                if r.random() < 0.25:
                    # Shops are often named after the owner: 阿明, 老陈.
                    surname = maker.surname_text(int(reps.surname[e]))
                    trade = (
                        ("老" + surname)
                        if r.random() < 0.5
                        else ("阿" + TRADE_CHARS[r.randrange(len(TRADE_CHARS))])
                    )
                name = f"深圳市南山区{trade}{word}" if r.random() < 0.7 else f"南山区{trade}{word}"
            else:
                word = COMPANY_TRADES[int(company_trade[e])][0]
                kind = COMPANY_FORMS[int(form[e])][0]
                if kind == "股份有限公司":
                    name = f"深圳{trade}{word}股份有限公司"
                elif kind == "分公司":
                    name = f"深圳市{trade}{word}有限公司南山分公司"
                elif kind == "个人独资企业":
                    name = f"深圳市南山区{trade}{word}服务部"
                elif kind == "合伙企业":
                    name = f"深圳{trade}{word}合伙企业(有限合伙)"
                else:
                    name = f"深圳市{trade}{word}有限公司"
            if name not in taken:
                break
        taken.add(name)
        out.append(name)
    return out


def _tally(tally: rw.DefectTally, truth_row: list[object]) -> None:
    if truth_row[4] == "0":
        tally.add("credit_invalid")
        tally.add(f"credit_invalid:{truth_row[5]}")
    if truth_row[12] == "1":
        tally.add("address_differs")
    for name in filter(None, str(truth_row[17]).split(";")):
        tally.add(f"address:{name}")
