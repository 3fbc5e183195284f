"""Line 4, events: a year of 12345 hotline work orders and grid/app/video reports.

Assumptions (scale 1.0, per year): 450,000 reports through the grid system (grid workers'
patrols ~60 %, the public's snap-reports 随手拍 ~20 %, video analytics ~12 %, hand-overs from
departments ~8 %: about one report per grid per working hour) and 160,000 12345 hotline work
orders located in Nanshan. Times fall in the 12 months up to ``as_of``, weighted to working days
(official calendar with 调休, from ``chinesecalendar``) and working hours; the hotline also gets
evening calls. Phone-app points are GCJ-02 (what Amap/Tencent SDKs give), video points WGS84,
call-centre orders carry coordinates only when the caller used an app channel.

Injected: reporters' category wrong (hotline ~6 %, grid ~3 %), messy place text, ~1.5 % duplicates
(repeat reports of the same incident, or export glitches), ~0.5 % broken rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray

from gridgov.areas.crs import wgs84_to_gcj02_array
from gridgov.demo import rows as rw
from gridgov.demo import schema, textmess
from gridgov.demo.persons import EPOCH
from gridgov.demo.population import Population
from gridgov.demo.world import USE_COMMERCIAL, USE_OWNER, USE_RENTED, VILLAGE, World, scaled
from gridgov.demo.writers import TableWriter, table_path

GRID_REPORTS_TOTAL = 450_000
HOTLINE_TOTAL = 160_000
MISLABEL_GRID = 0.03
MISLABEL_HOTLINE = 0.06


@dataclass(frozen=True)
class Subtype:
    major: str
    sub: str
    anchor: str  # home | shop | road | green: what kind of place it happens at
    grid_weight: float
    hotline_weight: float
    department: str  # template: {street} {short} {community}
    limit_hours: float  # typical time to handle (drives the status history)
    problems: tuple[str, ...]


TAXONOMY: tuple[Subtype, ...] = (
    Subtype(
        "市容环境",
        "暴露垃圾",
        "home",
        10,
        3,
        "{street}城市管理办公室",
        4,
        ("有{n}袋生活垃圾堆放未清运", "垃圾桶周边散落垃圾，异味明显", "有装修垃圾随意堆放"),
    ),
    Subtype(
        "市容环境",
        "道路不洁",
        "road",
        8,
        2,
        "{street}城市管理办公室",
        2,
        ("路面有油污和泥沙未清扫", "人行道上散落大量落叶和纸屑", "路面有渣土遗撒"),
    ),
    Subtype(
        "市容环境",
        "垃圾满溢",
        "home",
        5,
        2,
        "{street}城市管理办公室",
        4,
        ("垃圾桶已满溢未及时清运", "垃圾收集点满溢，污水外流"),
    ),
    Subtype(
        "市容环境",
        "绿地养护",
        "green",
        4,
        1.5,
        "区城市管理和综合执法局",
        40,
        ("绿化带杂草丛生无人修剪", "绿地内苗木枯死未补种", "绿篱被踩踏损毁"),
    ),
    Subtype(
        "宣传广告",
        "非法小广告",
        "shop",
        6,
        1,
        "{street}综合行政执法队",
        8,
        ("墙面和电线杆上张贴大量小广告", "有人派发和张贴办证小广告"),
    ),
    Subtype(
        "宣传广告",
        "违规户外广告",
        "road",
        2,
        1,
        "{street}综合行政执法队",
        40,
        ("有未经审批的户外广告牌", "广告横幅破损悬挂存在安全隐患"),
    ),
    Subtype(
        "施工管理",
        "违法搭建",
        "home",
        4,
        3,
        "{street}规划土地监察队",
        4,
        ("楼顶正在违法加建铁皮房", "一楼门前私自搭建雨棚和围墙", "天台搭建简易房屋"),
    ),
    Subtype(
        "施工管理",
        "施工扰民",
        "road",
        2,
        5,
        "区住房和建设局",
        8,
        ("工地夜间施工噪音很大", "工地超时施工影响居民休息"),
    ),
    Subtype(
        "施工管理",
        "工地扬尘",
        "road",
        2,
        2,
        "区住房和建设局",
        8,
        ("工地未覆盖防尘网，扬尘严重", "渣土车未冲洗车轮带泥上路"),
    ),
    Subtype(
        "街面秩序",
        "占道经营",
        "shop",
        9,
        3,
        "{street}综合行政执法队",
        2,
        ("商户占用人行道摆放货物经营", "有流动摊贩占道摆卖"),
    ),
    Subtype(
        "街面秩序",
        "店外经营",
        "shop",
        6,
        1.5,
        "{street}综合行政执法队",
        2,
        ("餐馆在店外摆放桌椅经营", "商铺将商品摆出门外"),
    ),
    Subtype(
        "街面秩序",
        "非机动车乱停放",
        "road",
        7,
        1.5,
        "{street}综合行政执法队",
        4,
        ("共享单车大量乱停放堵塞人行道", "电动车乱停放阻碍通行"),
    ),
    Subtype(
        "突发事件", "道路积水", "road", 1, 1.5, "区水务局", 4, ("暴雨后路面严重积水", "排水口堵塞造成积水")
    ),
    Subtype(
        "突发事件",
        "树木倒伏",
        "green",
        1,
        1,
        "区城市管理和综合执法局",
        4,
        ("大树倒伏压住路面", "树枝断裂悬挂有坠落危险"),
    ),
    Subtype(
        "矛盾纠纷",
        "邻里纠纷",
        "home",
        2,
        5,
        "{community}工作站",
        120,
        ("邻居之间因漏水问题发生纠纷", "邻居长期占用楼道引发矛盾"),
    ),
    Subtype(
        "矛盾纠纷",
        "劳资纠纷",
        "shop",
        1,
        4,
        "{street}劳动管理办公室",
        120,
        ("员工反映被拖欠工资", "商户拖欠店员工资未支付"),
    ),
    Subtype(
        "矛盾纠纷",
        "物业纠纷",
        "home",
        1,
        4,
        "{street}住房和建设办公室",
        120,
        ("业主与物业因收费问题发生纠纷", "物业管理不到位引起业主不满"),
    ),
    Subtype(
        "安全隐患",
        "消防通道堵塞",
        "home",
        6,
        3,
        "{street}消防安全委员会办公室",
        4,
        ("消防通道被杂物堵塞", "车辆长期占用消防通道", "楼道内堆放大量易燃杂物"),
    ),
    Subtype(
        "安全隐患",
        "燃气隐患",
        "home",
        3,
        2,
        "{street}安全生产监督管理办公室",
        2,
        ("闻到燃气泄漏气味", "出租屋内违规使用液化气瓶", "燃气管道老化有安全隐患"),
    ),
    Subtype(
        "安全隐患",
        "电动车违规充电",
        "home",
        5,
        3,
        "{street}消防安全委员会办公室",
        4,
        ("电动车在楼道内充电", "有人从楼上拉电线给电动车充电"),
    ),
    Subtype(
        "安全隐患",
        "井盖缺损",
        "road",
        4,
        1.5,
        "区城市管理和综合执法局",
        4,
        ("路面井盖破损缺失", "井盖松动下沉有安全隐患"),
    ),
    Subtype(
        "安全隐患",
        "三小场所隐患",
        "shop",
        5,
        1,
        "{street}安全生产执法队",
        24,
        ("小作坊内电线私拉乱接", "小档口住人，存在“三合一”隐患", "小娱乐场所消防器材缺失"),
    ),
    Subtype(
        "治安",
        "群租",
        "home",
        2,
        3,
        "{short}派出所",
        72,
        ("出租屋内居住人数过多疑似群租", "一套房子隔成多个小间出租"),
    ),
    Subtype(
        "治安",
        "可疑人员",
        "road",
        1,
        1,
        "{short}派出所",
        2,
        ("有可疑人员在小区附近徘徊", "有人深夜在楼道翻找物品"),
    ),
    Subtype(
        "公共卫生",
        "病媒生物",
        "home",
        2,
        2,
        "{street}公共卫生服务中心",
        40,
        ("垃圾站附近老鼠蟑螂多", "积水处蚊虫孳生"),
    ),
    Subtype(
        "公共卫生",
        "食品安全",
        "shop",
        1,
        2,
        "南山市场监督管理局{short}监管所",
        40,
        ("餐馆后厨卫生状况差", "商店出售过期食品"),
    ),
    Subtype(
        "民生服务",
        "路灯不亮",
        "road",
        3,
        2,
        "区城市管理和综合执法局",
        24,
        ("路灯晚上不亮，通行不便", "多盏路灯损坏"),
    ),
    Subtype(
        "民生服务",
        "停水停电",
        "home",
        1,
        3,
        "{street}城市建设办公室",
        8,
        ("小区无故停水没有通知", "楼栋停电已经数小时"),
    ),
    Subtype(
        "生态环境",
        "噪音扰民",
        "home",
        3,
        8,
        "深圳市生态环境局南山管理局",
        24,
        ("商铺用高音喇叭招揽顾客，噪音扰民", "楼上装修噪音影响休息", "夜间有人聚会喧哗"),
    ),
    Subtype(
        "生态环境",
        "油烟污染",
        "shop",
        2,
        3,
        "深圳市生态环境局南山管理局",
        40,
        ("餐馆油烟直排，影响周边居民", "烧烤摊油烟扰民"),
    ),
    Subtype(
        "生态环境", "污水直排", "shop", 1, 1, "区水务局", 24, ("商户将污水直接排入雨水井", "洗车店污水横流")
    ),
)
WHERE = {
    "home": ("楼下", "门口", "旁边", "楼道", "天台", "附近", "后面"),
    "shop": ("门口", "一楼商铺", "旁边", "对面", "门前"),
    "road": ("路段", "门口路边", "附近路面", "人行道上", "公交站旁"),
    "green": ("旁绿化带", "附近绿地", "门口花坛", "旁边"),
}
GRID_CHANNELS = (("网格员巡查", 0.60), ("随手拍", 0.20), ("视频智能发现", 0.12), ("部门移交", 0.08))
HOTLINE_CHANNELS = (("电话", 0.65), ("微信", 0.12), ("i深圳APP", 0.10), ("网站", 0.08), ("短信", 0.05))
APPEAL_TYPES = (("投诉", 0.45), ("求助", 0.20), ("举报", 0.15), ("咨询", 0.12), ("建议", 0.08))
GRID_HOURS = np.array(
    [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 4, 6, 6, 5, 2, 2, 4, 6, 6, 5, 2, 1, 0.8, 0.6, 0.4, 0.3]
)
HOTLINE_HOURS = np.array(
    [0.5, 0.3, 0.2, 0.2, 0.2, 0.3, 0.8, 1.5, 3, 5, 5, 4.5, 3, 3, 4.5, 5, 4.5, 4, 3, 3, 3, 2.5, 1.5, 0.8]
)
GRID_HEADER = schema.headers("events/grid_reports")
HOTLINE_HEADER = schema.headers("events/hotline_12345")
TRUTH_HEADER = [
    "record_id",
    "event_id",
    "true_grid_code",
    "true_community_code",
    "true_street_code",
    "true_std_code",
    "true_major",
    "true_sub",
    "category_mislabelled",
    "true_lon",
    "true_lat",
    "is_duplicate_of",
    "duplicate_kind",
    "broken",
    "address_defects",
]


def day_weights(as_of: date) -> tuple[list[date], NDArray[np.float64]]:
    """The 365 days up to ``as_of`` and their weight (working days 1.0, rest days 0.45)."""
    try:
        import chinese_calendar

        def working(day: date) -> bool:
            try:
                return bool(chinese_calendar.is_workday(day))
            except NotImplementedError:  # a year the package does not know yet
                return day.weekday() < 5
    except ImportError:  # pragma: no cover - it is a dependency

        def working(day: date) -> bool:
            return day.weekday() < 5

    days = [as_of - timedelta(days=364 - i) for i in range(365)]
    weights = np.array([1.0 if working(d) else 0.45 for d in days])
    return days, weights / weights.sum()


def _anchor_weights(world: World, pop: Population) -> dict[str, NDArray[np.float64]]:
    """Per-building weight of being where an event of each anchor kind happens."""
    n_b = world.n_buildings
    homes = np.bincount(
        world.d_building, weights=(world.d_use == USE_OWNER) | (world.d_use == USE_RENTED), minlength=n_b
    )
    shops = np.bincount(world.d_building, weights=world.d_use == USE_COMMERCIAL, minlength=n_b)
    people = np.bincount(world.d_building, weights=pop.count, minlength=n_b)
    any_building = np.ones(n_b)
    return {
        "home": homes * 0.5 + people * 0.5 + 1e-9,
        "shop": shops * (1 + 2 * (world.b_kind == VILLAGE)) + 1e-9,
        "road": any_building + people * 0.01,
        "green": any_building,
    }


def _choose(r_values: NDArray[np.float64], table: tuple[tuple[str, float], ...]) -> NDArray[np.int64]:
    cumulative = np.cumsum([p for _, p in table])
    return np.minimum(np.searchsorted(cumulative / cumulative[-1], r_values, side="right"), len(table) - 1)


def _fmt_time(seconds: int, previous: int | None) -> str:
    text = str(np.datetime64(seconds, "s")).replace("T", " ")[:16]
    if previous is not None and text[:10] == str(np.datetime64(previous, "s"))[:10]:
        return text[11:]
    return text


def write_events(
    world: World,
    pop: Population,
    out_dir: Path,
    *,
    scale: float,
    kind: str,
    rng: np.random.Generator,
    as_of: date,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, object]:
    """kind: 'hotline' (events/hotline_12345.xlsx) or 'grid' (events/grid_reports.csv)."""
    hotline = kind == "hotline"
    n = scaled(HOTLINE_TOTAL if hotline else GRID_REPORTS_TOTAL, scale)
    weights = np.array([t.hotline_weight if hotline else t.grid_weight for t in TAXONOMY])
    sub = rng.choice(len(TAXONOMY), size=n, p=weights / weights.sum())
    anchors = _anchor_weights(world, pop)
    building = np.zeros(n, dtype=np.int64)
    for name, w in anchors.items():
        mask = np.array([TAXONOMY[int(s)].anchor == name for s in range(len(TAXONOMY))])[sub]
        building[mask] = rng.choice(world.n_buildings, size=int(mask.sum()), p=w / w.sum())
    # 群租 reports point at real group rentals more often than not: that is how they are found.
    group_buildings = np.unique(world.d_building[np.flatnonzero(pop.group_rental)])
    qunzu = np.flatnonzero((np.array([t.sub for t in TAXONOMY])[sub] == "群租") & (rng.random(n) < 0.6))
    if len(group_buildings) and len(qunzu):
        building[qunzu] = group_buildings[rng.integers(0, len(group_buildings), len(qunzu))]

    # The point: near the building, never outside its grid (the truth is the grid the point is in).
    grid = world.b_grid[building]
    lat0 = world.b_lat[building]
    sigma = 25.0 / 110_574.0
    lon = np.round(world.b_lon[building] + rng.normal(0, sigma / np.cos(np.radians(lat0)), n), 6)
    lat = np.round(lat0 + rng.normal(0, sigma, n), 6)
    geoms = np.array([g.geometry for g in world.grids], dtype=object)
    shapely.prepare(geoms)
    inside = shapely.contains_xy(geoms[grid], lon, lat)
    lon = np.where(inside, lon, world.b_lon[building])
    lat = np.where(inside, lat, world.b_lat[building])
    gx, gy = wgs84_to_gcj02_array(lon, lat)

    # Time: day by the working calendar, hour by the channel's daily profile.
    days, day_w = day_weights(as_of)
    day = rng.choice(len(days), size=n, p=day_w)
    hours = HOTLINE_HOURS if hotline else GRID_HOURS
    hour = rng.choice(24, size=n, p=hours / hours.sum())
    first_day = (days[0] - EPOCH).days
    t0 = (first_day + day) * 86_400 + hour * 3600 + rng.integers(0, 3600, n)
    order = np.argsort(t0, kind="stable")  # exports are in time order
    end_of_window = ((as_of - EPOCH).days + 1) * 86_400

    channel = _choose(rng.random(n), HOTLINE_CHANNELS if hotline else GRID_CHANNELS)
    appeal = _choose(rng.random(n), APPEAL_TYPES)
    mislabel = rng.random(n) < (MISLABEL_HOTLINE if hotline else MISLABEL_GRID)
    shown = np.where(mislabel, (sub + rng.integers(1, len(TAXONOMY), n)) % len(TAXONOMY), sub)
    accept_delay = rng.integers(180, 2400, n)
    dispatch_delay = rng.integers(120, 1800, n)
    limit = np.array([t.limit_hours for t in TAXONOMY])[sub]
    handle = (rng.lognormal(np.log(limit * 0.6), 0.7) * 3600).astype(np.int64) + 600
    verify = rng.integers(1200, 86_400, n)
    rejected = rng.random(n) < (0.04 if hotline else 0.05)
    phones = pop.batch.phone[rng.integers(0, pop.n, n)]
    satisfaction = _choose(
        rng.random(n), (("满意", 0.70), ("基本满意", 0.15), ("不满意", 0.07), ("未评价", 0.08))
    )

    plan = rw.make_plan(rng, n, order=order)
    rows = plan.rows
    r = rw.py_random(rng)
    prefix = "RX" if hotline else "SJ"
    record_ids = rw.RecordIds(lambda i: f"{prefix}{_date_code(int(t0[plan.source[i]]))}{i + 1:07d}")
    tally = rw.DefectTally(rows=rows)
    directory = out_dir / "events"
    if hotline:
        path = table_path(directory, "hotline_12345", rows, prefer_xlsx=True)
        header, truth_path = HOTLINE_HEADER, directory / "hotline_12345_truth.csv"
    else:
        path = directory / "grid_reports.csv"
        header, truth_path = GRID_HEADER, directory / "grid_reports_truth.csv"
    rates = textmess.HOTLINE if hotline else textmess.REPORTER
    with TableWriter(path, header, sheet="12345工单") as feed, TableWriter(truth_path, TRUTH_HEADER) as truth:
        out = rw.FeedRows(plan, record_ids, feed, truth, tally, _tally)
        row: list[object]
        truth_row: list[object]
        for lo in range(0, rows, rw.CHUNK):
            hi = min(rows, lo + rw.CHUNK)
            for i in range(lo, hi):
                e = int(plan.source[i])
                if out.write_exact_duplicate(i):
                    continue
                dup_of = int(plan.duplicate_of[i])
                b = int(building[e])
                parts = world.b_parts[b]
                sub_t = TAXONOMY[int(sub[e])]
                shown_t = TAXONOMY[int(shown[e])]
                where = WHERE[sub_t.anchor][r.randrange(len(WHERE[sub_t.anchor]))]
                place, defects = textmess.messy_place(parts, r, rates, where)
                problem = sub_t.problems[r.randrange(len(sub_t.problems))].format(n=2 + r.randrange(8))
                start = int(t0[e])
                if dup_of >= 0:
                    # The same incident reported again, later and in other words.
                    start += r.randrange(600, 3 * 86_400)
                    start = min(start, end_of_window - 60)
                ch = (HOTLINE_CHANNELS if hotline else GRID_CHANNELS)[int(channel[e])][0]
                description = _describe(r, ch, place, problem)
                community = world.communities[int(world.grid_community[int(world.b_grid[b])])]
                street = world.street_name_of_community[int(world.grid_community[int(world.b_grid[b])])]
                department = shown_t.department.format(
                    street=street, short=street.removesuffix("街道"), community=community.name
                )
                status, history = _history(
                    start,
                    int(accept_delay[e]),
                    int(dispatch_delay[e]),
                    int(handle[e]),
                    int(verify[e]),
                    end_of_window,
                    department,
                    hotline,
                    bool(rejected[e]) or (dup_of >= 0 and r.random() < 0.5),
                    "重复上报" if dup_of >= 0 else "",
                )
                point: tuple[float, float] | None = None
                crs = ""
                if hotline:
                    if ch in ("微信", "i深圳APP") and r.random() < 0.7:
                        point, crs = (float(gx[e]), float(gy[e])), "GCJ-02"
                elif ch in ("网格员巡查", "随手拍"):
                    point, crs = (float(gx[e]), float(gy[e])), "GCJ-02"
                elif ch == "视频智能发现":
                    point, crs = (float(lon[e]), float(lat[e])), "WGS84"
                lon_s, lat_s = _coordinate_cells(point, xlsx=path.suffix == ".xlsx")
                time_s = str(np.datetime64(start, "s")).replace("T", " ")
                grid_code = world.grids[int(world.b_grid[b])].code
                # The columns both exports share: what and where, then who handles it and how far.
                incident: list[object] = [shown_t.major, shown_t.sub, description, place, lon_s, lat_s, crs]
                handling = [department, status, history]
                if hotline:
                    phone = str(int(phones[e])) if ch in ("电话", "短信") or r.random() < 0.5 else ""
                    if phone and r.random() < 0.4:
                        phone = phone[:3] + "****" + phone[7:]
                    appeal_type = APPEAL_TYPES[int(appeal[e])][0]
                    rating = satisfaction_text(status, int(satisfaction[e]))
                    row = [record_ids[i], time_s, ch, appeal_type, *incident, phone, *handling, rating]
                    required, dates = [6, 7], [1]
                else:
                    reporter, phone = _reporter(r, ch, grid_code, int(phones[e]), department)
                    row = [record_ids[i], time_s, ch, reporter, phone, *incident, *handling]
                    required, dates = [7, 8], [1]
                truth_row = [
                    record_ids[i],
                    f"{'H' if hotline else 'G'}{e + 1:07d}",
                    grid_code,
                    community.code,
                    community.parent_code,
                    world.b_std_code[b],
                    sub_t.major,
                    sub_t.sub,
                    "1" if shown[e] != sub[e] else "0",
                    f"{lon[e]:.6f}",
                    f"{lat[e]:.6f}",
                    *out.truth_tail(i, defects),
                ]
                out.write(i, row, truth_row, r, required=required, dates=dates)
            if progress:
                progress("hotline" if hotline else "grid_reports", hi, rows)
    stats = tally.as_dict(
        {
            "duplicate": rw.DUPLICATE_RATE,
            "broken": rw.BROKEN_RATE,
            "category_mislabelled": MISLABEL_HOTLINE if hotline else MISLABEL_GRID,
        }
    )
    stats["file"] = path.name
    stats["events"] = n
    return stats


def _coordinate_cells(point: tuple[float, float] | None, *, xlsx: bool) -> tuple[object, object]:
    """Numbers in a spreadsheet, fixed 6-decimal text in a CSV (about 0.1 m), blank when absent."""
    if point is None:
        return "", ""
    if xlsx:
        return round(point[0], 6), round(point[1], 6)
    return f"{point[0]:.6f}", f"{point[1]:.6f}"


def satisfaction_text(status: str, index: int) -> str:
    return ("满意", "基本满意", "不满意", "未评价")[index] if status == "已办结" else ""


def _date_code(seconds: int) -> str:
    return str(np.datetime64(seconds, "s"))[:10].replace("-", "")


def _describe(r: random.Random, channel: str, place: str, problem: str) -> str:
    if channel in dict(HOTLINE_CHANNELS):
        opener = ("市民来电反映：", "来电人反映：", "市民反映，", "诉求人称：")[r.randrange(4)]
        closer = ("希望相关部门尽快处理。", "请求尽快处理。", "已多次反映未解决，希望尽快处理。", "")[
            r.randrange(4)
        ]
        return f"{opener}{place}{problem}，{closer}".rstrip("，")
    if channel == "网格员巡查":
        opener = ("", "巡查发现", "巡查时发现")[r.randrange(3)]
    elif channel == "视频智能发现":
        opener = "视频监控发现"
    elif channel == "随手拍":
        opener = ("", "我发现", "市民拍照反映：")[r.randrange(3)]
    else:
        opener = "转办："
    return f"{opener}{place}{problem}"


def _reporter(r: random.Random, channel: str, grid_code: str, phone: int, department: str) -> tuple[str, str]:
    if channel == "网格员巡查":
        return f"WG{grid_code}-{1 + r.randrange(3):02d}", ""
    if channel == "随手拍":
        return "市民", str(phone) if r.random() < 0.6 else ""
    if channel == "视频智能发现":
        return f"SP{grid_code[6:]}{r.randrange(100):02d}", ""
    return department, ""


def _history(
    start: int,
    accept: int,
    dispatch: int,
    handle: int,
    verify: int,
    end: int,
    department: str,
    hotline: bool,
    rejected: bool,
    reason: str,
) -> tuple[str, str]:
    """Status and a one-line summary of the closed loop (上报 → 立案 → 派遣 → 处置 → 核查结案)."""
    first = "受理" if hotline else "上报"
    steps = [f"{_fmt_time(start, None)} {first}"]
    t = start + accept
    if t >= end:
        return ("待受理" if hotline else "待立案"), "；".join(steps)
    if rejected:
        steps.append(f"{_fmt_time(t, start)} 不予立案（{reason or '不属于受理范围'}）")
        return ("已退回" if hotline else "不予立案"), "；".join(steps)
    steps.append(f"{_fmt_time(t, start)} 立案")
    t2 = t + dispatch
    if t2 >= end:
        return "办理中" if hotline else "已立案", "；".join(steps)
    steps.append(f"{_fmt_time(t2, t)} 派遣至{department}")
    t3 = t2 + handle
    if t3 >= end:
        return "办理中" if hotline else "处置中", "；".join(steps)
    steps.append(f"{_fmt_time(t3, t2)} 处置完成")
    t4 = t3 + verify
    if t4 >= end:
        return "办理中" if hotline else "待核查", "；".join(steps)
    steps.append(f"{_fmt_time(t4, t3)} {'回访办结' if hotline else '核查结案'}")
    return ("已办结" if hotline else "已结案"), "；".join(steps)


def _tally(tally: rw.DefectTally, truth_row: list[object]) -> None:
    if truth_row[8] == "1":
        tally.add("category_mislabelled")
    for name in filter(None, str(truth_row[14]).split(";")):
        tally.add(f"address:{name}")
