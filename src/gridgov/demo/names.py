"""Frequency lists for plausible Chinese names and ID area codes (all people in the demo are synthetic).

Surname shares are rounded from published rankings (national: the Ministry of Public Security
2020 household-register ranking; Guangdong: provincial rankings, where 陈, 黄, 梁, 林 rank far
higher than nationally). They are relative weights, not exact percentages: the tail is cut.
Given-name characters are common ones by sex, with a separate list for people born after 2000,
whose names follow different fashions (梓, 轩, 涵, 睿 …). Area codes are real county-level codes
(GB/T 2260) of the places most of Nanshan's residents come from; the weights are assumptions.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def _table(text: str) -> tuple[list[str], NDArray[np.float64]]:
    names: list[str] = []
    weights: list[float] = []
    for item in text.split():
        name, weight = item.split(":")
        names.append(name)
        weights.append(float(weight))
    array = np.array(weights)
    return names, array / array.sum()


SURNAMES_NATIONAL = _table(
    "王:7.12 李:7.00 张:6.74 刘:5.10 陈:4.61 杨:3.22 黄:2.45 赵:2.19 吴:2.05 周:1.97 徐:1.52 孙:1.47 "
    "马:1.29 朱:1.26 胡:1.20 郭:1.15 何:1.14 林:1.13 高:1.08 罗:1.07 郑:0.99 梁:0.96 谢:0.87 宋:0.84 "
    "唐:0.82 许:0.78 邓:0.75 韩:0.72 冯:0.71 曹:0.71 彭:0.67 曾:0.66 肖:0.64 田:0.62 董:0.61 潘:0.58 "
    "袁:0.58 蔡:0.56 蒋:0.55 余:0.54 于:0.53 杜:0.52 叶:0.52 程:0.51 魏:0.48 苏:0.47 吕:0.46 丁:0.45 "
    "任:0.45 卢:0.44 姚:0.44 沈:0.43 钟:0.42 姜:0.42 崔:0.41 谭:0.40 陆:0.39 范:0.38 汪:0.37 廖:0.37 "
    "石:0.36 金:0.35 韦:0.34 贾:0.33 夏:0.33 付:0.32 方:0.32 邹:0.31 熊:0.31 白:0.30 孟:0.30 秦:0.29 "
    "邱:0.29 侯:0.28 江:0.28 尹:0.27 薛:0.26 闫:0.26 段:0.25 雷:0.25 龙:0.24 黎:0.24 史:0.23 陶:0.23 "
    "贺:0.22 毛:0.22 郝:0.22 顾:0.21 龚:0.21 邵:0.21 万:0.20 覃:0.20 武:0.20 钱:0.19 戴:0.19 严:0.19 "
    "莫:0.18 孔:0.17 向:0.17 常:0.16 汤:0.15 康:0.15 易:0.15 乔:0.14 赖:0.14 文:0.14 欧阳:0.05 司马:0.01 "
    "上官:0.01 诸葛:0.01"
)

SURNAMES_GUANGDONG = _table(
    "陈:10.2 李:7.1 黄:6.6 张:5.0 梁:4.1 林:4.0 刘:3.6 吴:3.3 罗:2.8 何:2.6 郑:2.3 杨:2.1 谢:2.0 钟:2.0 "
    "曾:1.8 邓:1.7 周:1.5 叶:1.5 王:1.5 蔡:1.4 许:1.3 冯:1.2 赖:1.1 卢:1.1 朱:1.0 彭:1.0 苏:1.0 徐:0.9 "
    "潘:0.9 邱:0.9 郭:0.9 廖:0.8 欧:0.7 温:0.7 江:0.7 庄:0.6 方:0.6 余:0.6 胡:0.6 莫:0.5 洪:0.5 伍:0.5 "
    "杜:0.4 麦:0.4 古:0.4 严:0.3 赵:0.3 孙:0.3 马:0.3 关:0.3 邝:0.2 植:0.1 冼:0.1 欧阳:0.2 司徒:0.1"
)

# Given-name characters. Weights are relative; the lists are long enough that names rarely repeat.
GIVEN_MALE = _table(
    "伟:9 强:6 磊:6 军:6 勇:6 杰:6 涛:5 斌:5 超:5 明:5 刚:4 平:4 辉:5 鹏:5 华:5 飞:4 鑫:3 波:4 "
    "宇:4 浩:4 凯:3 健:4 俊:4 帆:2 帅:2 旭:3 宁:3 龙:4 林:3 阳:3 建:5 国:5 文:5 志:5 东:4 海:4 峰:4 "
    "亮:3 成:4 晨:2 博:2 家:3 锦:2 天:3 永:4 荣:3 庆:3 兴:3 德:3 福:2 金:3 祥:3 瑞:2 彬:2 毅:2 翔:2 "
    "坤:2 炜:2 立:3 新:3 春:3 晓:3 昊:2 哲:2 铭:2 洋:2 振:3 远:2 光:3 达:3 良:2 清:2 胜:2 武:2 "
    "少:2 小:2 进:2 广:2 培:1 汉:2 才:1 贤:1 仁:1 义:1 嘉:2 泽:2 智:2 思:1 冠:1 伦:1 耀:1 雄:2"
)
GIVEN_FEMALE = _table(
    "芳:8 娜:6 敏:6 静:6 丽:7 艳:6 秀:5 娟:5 英:5 霞:5 燕:5 玲:5 红:5 梅:5 琳:4 婷:5 雪:4 慧:4 "
    "莉:4 萍:4 颖:4 倩:3 欣:3 怡:3 佳:3 琪:3 晶:3 媛:2 洁:3 薇:2 蕾:2 蓉:2 丹:3 璐:2 瑶:2 梦:2 "
    "春:3 玉:4 凤:3 兰:3 桂:3 珍:3 月:3 小:3 美:3 海:2 晓:3 文:3 秋:2 云:3 惠:3 淑:2 琴:3 翠:2 "
    "雅:2 嘉:2 宝:1 彩:2 金:2 爱:2 冬:1 青:2 巧:2 素:1 银:1 珊:2 诗:2 思:2 婉:1 妮:2 露:1 岚:1"
)
GIVEN_MODERN = _table(
    "梓:6 子:7 轩:6 涵:6 睿:5 宇:6 浩:5 欣:5 一:5 诺:4 沐:3 辰:4 奕:3 晨:4 泽:4 雨:5 思:5 语:3 "
    "可:3 馨:4 悦:4 妍:4 晴:3 彤:3 锦:3 逸:3 俊:3 嘉:4 佳:4 皓:3 博:3 铭:3 熙:3 瑶:3 琪:3 萱:3 "
    "怡:3 若:3 依:3 安:3 乐:2 然:3 昊:3 煜:2 宸:2 楷:2 梓:2 芊:2 柏:2 书:2 文:3 心:3 钰:2 航:2"
)

# Area codes (first six digits of a resident ID) by group. Shenzhen's districts first: anyone whose
# household registration was first issued in the city (including children born here).
AREA_SHENZHEN = _table("440301:3 440303:2 440304:3 440305:6 440306:3 440307:3 440308:1")
AREA_GUANGDONG = _table(
    "440103:1 440104:1 440105:1 440106:1 440507:1 440511:1 440513:3 440514:3 440515:2 441402:1 "
    "441481:3 441422:2 441424:3 445102:1 445122:2 445202:1 445222:2 445281:4 440802:1 440882:3 "
    "440883:2 440825:2 440902:1 440981:4 440982:3 440983:2 441502:1 441581:3 441521:2 441302:2 "
    "441322:2 441602:1 441622:3 441202:1 441881:2"
)
AREA_OTHER = _table(
    "430102:2 430104:2 430521:5 431021:4 431081:2 430381:2 430481:4 430482:3 431102:2 430621:2 "
    "420106:2 420102:1 421127:3 421126:3 420984:2 421003:2 360121:2 360730:3 360781:2 360722:3 "
    "450102:1 450881:4 450921:3 450981:3 510107:1 510104:1 511302:1 511621:3 511324:2 410102:1 "
    "411521:2 411522:2 411323:2 350102:1 350582:2 350583:2 500101:2 500103:1 370102:1 320102:1 "
    "330102:1 610102:1 220102:1 230102:1 130102:1 140105:1 340102:1 530102:1 520102:1 620102:1"
)

# Mobile number prefixes in use in mainland China (the three operators and their virtual ranges).
MOBILE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        133,
        134,
        135,
        136,
        137,
        138,
        139,
        147,
        150,
        151,
        152,
        153,
        155,
        156,
        157,
        158,
        159,
        166,
        172,
        173,
        175,
        176,
        177,
        178,
        180,
        181,
        182,
        183,
        184,
        185,
        186,
        187,
        188,
        189,
        191,
        195,
        198,
        199,
    ],
    dtype=np.int64,
)
MOBILE_WEIGHTS = np.array(
    [
        4,
        3,
        3,
        3,
        4,
        6,
        6,
        7,
        8,
        8,
        1,
        4,
        3,
        3,
        2,
        2,
        2,
        2,
        4,
        4,
        1,
        1,
        2,
        1,
        1,
        1,
        1,
        3,
        2,
        2,
        1,
        1,
        3,
        3,
        4,
        4,
        3,
        2,
        1,
        2,
        2,
    ],
    dtype=np.float64,
)
MOBILE_WEIGHTS /= MOBILE_WEIGHTS.sum()


def draw(rng: np.random.Generator, table: tuple[list[str], NDArray[np.float64]], n: int) -> NDArray[np.intp]:
    """Indices into ``table[0]`` drawn by frequency."""
    return np.asarray(rng.choice(len(table[0]), size=n, p=table[1]), dtype=np.intp)


def mobile_numbers(rng: np.random.Generator, n: int) -> NDArray[np.int64]:
    prefix = MOBILE_PREFIXES[rng.choice(len(MOBILE_PREFIXES), size=n, p=MOBILE_WEIGHTS)]
    return prefix * 100_000_000 + rng.integers(0, 100_000_000, size=n, dtype=np.int64)


class NameMaker:
    """Builds full names from index arrays drawn in bulk (one Python join per name, no more)."""

    def __init__(self) -> None:
        self.national = SURNAMES_NATIONAL[0]
        self.guangdong = SURNAMES_GUANGDONG[0]
        self.male = GIVEN_MALE[0]
        self.female = GIVEN_FEMALE[0]
        self.modern = GIVEN_MODERN[0]

    def draw(
        self,
        rng: np.random.Generator,
        *,
        male: NDArray[np.bool_],
        guangdong: NDArray[np.bool_],
        modern: NDArray[np.bool_],
    ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
        """Returns (surname code, given 1, given 2 (-1 for one-character names), given list code).

        Surname code: index into national list, or ``len(national) + index`` into the Guangdong list.
        Given list code: 0 male, 1 female, 2 modern.
        """
        n = len(male)
        surname = draw(rng, SURNAMES_NATIONAL, n)
        gd = draw(rng, SURNAMES_GUANGDONG, n) + len(self.national)
        surname = np.where(guangdong, gd, surname)
        kind = np.where(modern, 2, np.where(male, 0, 1))
        first = np.empty(n, dtype=np.intp)
        second = np.empty(n, dtype=np.intp)
        for code, table in ((0, GIVEN_MALE), (1, GIVEN_FEMALE), (2, GIVEN_MODERN)):
            mask = kind == code
            count = int(mask.sum())
            first[mask] = draw(rng, table, count)
            second[mask] = draw(rng, table, count)
        # About a fifth of people have a one-character given name (fewer among the young).
        single = rng.random(n) < np.where(modern, 0.10, 0.22)
        second = np.where(single | (second == first), -1, second)
        return surname, first, second, kind

    def surname_text(self, code: int) -> str:
        return self.national[code] if code < len(self.national) else self.guangdong[code - len(self.national)]

    def name(self, surname: int, first: int, second: int, kind: int) -> str:
        table = self.male if kind == 0 else self.female if kind == 1 else self.modern
        given = table[first] + (table[second] if second >= 0 else "")
        return self.surname_text(surname) + given
