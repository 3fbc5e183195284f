"""Real Nanshan place names (roads, estates, urban villages, office towers, industrial parks).

The shipped lists (``data/roads.tsv``, ``data/estates_landmarks.csv``) were harvested from POI and
bus-stop names, so they contain noise: restaurants tagged as estates, places in other cities, a
name with a ``?``. The filters below keep names that read like an address element of the right
kind and lie inside the real district outline; everything else is dropped. The result is sorted,
so it never depends on file order beyond the data itself.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

DATA_DIR = Path(__file__).with_name("data")

_CJK_NAME = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9·]{2,14}$")
# Places outside Nanshan, other cities or categories wrongly tagged as estates in the POI source.
_FOREIGN = (
    "罗湖",
    "福田",
    "龙岗",
    "宝安",
    "盐田",
    "龙华",
    "坪山",
    "光明",
    "布吉",
    "惠州",
    "东莞",
    "广州",
    "增城",
    "香港",
    "尖沙咀",
    "铜锣湾",
    "大鹏",
    "郯城",
    "台湾",
    "巽寮",
    "北京",
    "上海",
    "无锡",
    "山东",
    "恩施",
    "八达岭",
    "中英街",
    "大梅沙",
    "莲花山",
    "國",
    "廣",
    "東",
    "華",
    "僑",
    "銀",
    "遠",
    "萬",
    "紀",
    "際",
)
_NOT_HOMES = (
    "食府",
    "火锅",
    "烧烤",
    "海鲜",
    "美食",
    "影城",
    "酒店",
    "商城",
    "商业城",
    "批发",
    "服装",
    "美容",
    "烤鱼",
    "烤肉",
    "啤酒",
    "客家城",
    "玉器",
    "二手车",
    "时装",
    "家居",
    "宜家",
    "百安居",
    "书城",
    "古城",
    "汽车城",
    "电子城",
    "反斗城",
    "女儿城",
    "长城",
    "大学",
    "学生",
    "研究生",
    "KTV",
    "K歌",
    "影院",
    "剧院",
    "电影",
    "短租",
    "桌球",
    "乡村",
    "万象城",
    "海岸城",
    "太古城",
    "Esther",
    "天空之城",
    "北京城",
    "万色城",
    "特惠城",
    "古玩",
    "深圳湾体育",
    "世界之窗",
    "度假",
    "民俗",
    "文化村",
    "莜面",
    "老乡村",
    "商业街",
    "粤菜",
    "茶叶",
    "狗煲",
    "豆府",
    "工业",
    "渔村",
    "翠竹村",
    "西冲村",
    "华侨城$",
    "^深圳湾$",
    "^港湾$",
    "^湾$",
    "^小区$",
    "^茶湾$",
    "^桃苑$",
    "^荔苑$",
)
_ESTATE_SUFFIX = re.compile(
    r"(花园|苑|山庄|公寓|小区|家园|居|华庭|庭|府|湾|园|别墅|新村|名城|城|阁|邸|轩|峰|台|海岸|半岛)"
    r"([一二三四五六七八九十]+期)?$"
)
_OFFICE_SUFFIX = re.compile(
    r"(大厦|大楼|商务中心|国际中心|金融中心|科技中心|研发中心|商业中心|广场|购物中心)$"
)
_INDUSTRIAL_SUFFIX = re.compile(r"(工业园|工业区|工业城|科技园|产业园|软件园|工业大厦|科技工业园)$")
_NOT_OFFICES = (
    "健康",
    "体检",
    "培训",
    "活动",
    "教育",
    "早教",
    "婚",
    "医院",
    "烧烤",
    "体育",
    "会议",
    "物流",
    "监管",
    "体验",
    "名表",
    "美黑",
    "足浴",
    "摄影",
    "化妆",
    "维修",
    "男科",
    "语言",
    "珠宝",
    "汽车",
    "数据中心",
    "超级计算",
    "接待",
    "生态广场",
    "狂欢节",
    "石头坞",
    "凤凰广场",
    "北站",
    "中心广场",
    "泰源装饰",
    "Apple",
    "APPLE",
    "儿童",
    "慈铭",
    "爱康",
    "KTV",
    "K歌",
    "海鲜",
    "屯门",
    "地王",
    "在努力",
    "^科技园$",
    "^软件园$",
    "^科技工业园$",
    "^设计产业园$",
)
_STRIP_PREFIX = re.compile(r"^(深圳市?南山区|深圳市|深圳|南山区)")
_PHASE = re.compile(r"[一二三四五六七八九十]+期$")


@dataclass(frozen=True)
class Place:
    name: str
    kind: str  # estate | village | office | industrial
    lon: float
    lat: float
    weight: float  # check-in popularity: bigger places host more buildings


@dataclass(frozen=True)
class Road:
    name: str
    evidence: int


def _clean(raw: str) -> str:
    name = raw.strip().replace(".", "·").replace("．", "·")
    return _STRIP_PREFIX.sub("", name)


def _excluded(name: str, words: tuple[str, ...]) -> bool:
    for word in words:
        if word.startswith("^") or word.endswith("$"):
            if re.search(word, name):
                return True
        elif word in name:
            return True
    return False


def classify(name: str, category: str) -> str | None:
    """The address role a harvested name can play, or None to drop it."""
    if not _CJK_NAME.match(name) or _excluded(name, _FOREIGN):
        return None
    if category == "village":
        keep = name.endswith("村") and (not _excluded(name, _NOT_HOMES) or name == "蛇口渔二村")
        return "village" if keep else None
    if category == "residential":
        if _excluded(name, _NOT_HOMES):
            return None
        if name.endswith("村"):
            return "village"
        return "estate" if _ESTATE_SUFFIX.search(name) else None
    if category == "landmark_commercial":
        if _excluded(name, _NOT_OFFICES):
            return None
        if _INDUSTRIAL_SUFFIX.search(name):
            return "industrial"
        if _OFFICE_SUFFIX.search(name):
            return "office"
    return None


@lru_cache(maxsize=4)
def _load_places(outline_wkb: bytes) -> tuple[Place, ...]:
    outline = shapely.from_wkb(outline_wkb)
    shapely.prepare(outline)
    seen: dict[str, Place] = {}
    with (DATA_DIR / "estates_landmarks.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = _clean(row["name"])
            kind = classify(name, row["category_guess"])
            if kind is None:
                continue
            lon, lat = float(row["lon_wgs84"]), float(row["lat_wgs84"])
            if not shapely.contains_xy(outline, lon, lat):
                continue
            weight = float(row["weibo_checkin_value"] or 0)
            # The same name from two POIs ('雷圳·碧榕湾名苑', '雷圳碧榕湾名苑'): keep the more popular one.
            key = name.replace("·", "")
            if key not in seen or seen[key].weight < weight:
                seen[key] = Place(name, kind, lon, lat, weight)
    return tuple(sorted(seen.values(), key=lambda p: (p.kind, p.name)))


def load_places(outline: BaseGeometry) -> list[Place]:
    return list(_load_places(shapely.to_wkb(outline)))


@lru_cache(maxsize=1)
def load_roads() -> tuple[Road, ...]:
    roads: list[Road] = []
    with (DATA_DIR / "roads.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            name, evidence, *_ = line.rstrip("\n").split("\t")
            roads.append(Road(name, int(evidence)))
    return tuple(sorted(roads, key=lambda r: (-r.evidence, r.name)))


def base_name(name: str) -> str:
    """'招商海月花园二期' → '招商海月花园': later phases of a reused estate name get their own suffix."""
    return _PHASE.sub("", name)


def points(places: list[Place]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p.lon for p in places]), np.array([p.lat for p in places])
