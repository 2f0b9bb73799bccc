"""Vectorised identifier and name generation for the synthetic city.

The check-character algorithms are those of ``fincredit.consent.identifiers`` (GB 32100 for the
unified social credit code, GB 11643 / ISO 7064 MOD 11-2 for the resident ID), rewritten over numpy
arrays because generating millions of codes one Python call at a time takes minutes. The tests check
every generated code against ``validate_uscc`` / ``validate_resident_id``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fincredit.consent.identifiers import NINGBO_REGIONS

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_ASCII = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_RID_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_RID_CHECK_ASCII = np.frombuffer(b"10X98765432", dtype=np.uint8)

# Share of Ningbo's registered market entities per district/county (rounded, from the city's
# statistical yearbook orders of magnitude: Yinzhou and Cixi largest, Xiangshan/Ninghai smallest).
REGION_WEIGHTS: dict[str, float] = {
    "330203": 0.11,  # 海曙区
    "330205": 0.06,  # 江北区
    "330206": 0.10,  # 北仑区
    "330211": 0.05,  # 镇海区
    "330212": 0.20,  # 鄞州区
    "330213": 0.06,  # 奉化区
    "330225": 0.06,  # 象山县
    "330226": 0.07,  # 宁海县
    "330281": 0.12,  # 余姚市
    "330282": 0.17,  # 慈溪市
}

# How company names start: county-level cities and counties use their own name, urban districts use
# "宁波" or "宁波市<district>".
_NAME_PREFIXES: dict[str, tuple[str, ...]] = {
    "330203": ("宁波", "宁波市海曙"),
    "330205": ("宁波", "宁波市江北"),
    "330206": ("宁波", "宁波北仑", "宁波市北仑"),
    "330211": ("宁波", "宁波市镇海"),
    "330212": ("宁波", "宁波市鄞州"),
    "330213": ("宁波", "宁波市奉化", "宁波奉化"),
    "330225": ("象山", "象山县", "宁波"),
    "330226": ("宁海", "宁海县", "宁波"),
    "330281": ("余姚", "余姚市", "宁波"),
    "330282": ("慈溪", "慈溪市", "宁波"),
}

# Characters that make up the 字号 (trade name) of Chinese companies.
_TRADE_CHARS = (
    "华盛达鑫源泰恒宏兴佳瑞凯锦诚信德丰海天博明成新宇通安康永嘉乐美宝金银龙凤东方甬港科创智联合众力捷"
    "誉卓越远航昌隆旺富耀辉光晶鼎峰森林润泽洋江川山星辰云浩帆舜贝雅思特威尔亚欧中环球顺祥和汇聚腾飞"
    "立信捷宸铭钧烨晟弘毅启迪睿灵杰奥伟业振远大正阳春秋"
)
TRADE_CHARS = tuple(dict.fromkeys(_TRADE_CHARS))

# GB/T 4754-2017 sections, with the share of Ningbo enterprises in each (manufacturing and trade
# dominate; a growing tech and business-services share).
INDUSTRY_SECTIONS: dict[str, tuple[str, float]] = {
    "A": ("农、林、牧、渔业", 0.015),
    "B": ("采矿业", 0.002),
    "C": ("制造业", 0.300),
    "D": ("电力、热力、燃气及水生产和供应业", 0.005),
    "E": ("建筑业", 0.060),
    "F": ("批发和零售业", 0.250),
    "G": ("交通运输、仓储和邮政业", 0.045),
    "H": ("住宿和餐饮业", 0.030),
    "I": ("信息传输、软件和信息技术服务业", 0.070),
    "J": ("金融业", 0.008),
    "K": ("房地产业", 0.020),
    "L": ("租赁和商务服务业", 0.070),
    "M": ("科学研究和技术服务业", 0.055),
    "N": ("水利、环境和公共设施管理业", 0.008),
    "O": ("居民服务、修理和其他服务业", 0.025),
    "P": ("教育", 0.010),
    "Q": ("卫生和社会工作", 0.007),
    "R": ("文化、体育和娱乐业", 0.018),
    "S": ("公共管理、社会保障和社会组织", 0.002),
    "T": ("国际组织", 0.0),
}

INDUSTRY_WORDS: dict[str, tuple[str, ...]] = {
    "A": ("农业发展", "水产养殖", "果蔬种植", "生态农业"),
    "B": ("矿业", "石料开采"),
    "C": (
        "机械制造",
        "电子",
        "模具",
        "塑料制品",
        "服饰",
        "汽车零部件",
        "电器",
        "新材料",
        "轴承",
        "文具",
        "精密制造",
        "化工",
        "五金制品",
        "家居用品",
    ),
    "D": ("能源", "热电", "新能源"),
    "E": ("建设工程", "建筑装饰", "市政工程", "建筑安装"),
    "F": ("贸易", "进出口", "商贸", "供应链管理", "电子商务", "国际贸易", "百货"),
    "G": ("物流", "国际货运代理", "运输", "仓储", "船务"),
    "H": ("餐饮管理", "酒店管理", "餐饮"),
    "I": ("网络科技", "软件", "信息技术", "数据科技", "智能科技"),
    "J": ("投资管理", "融资租赁"),
    "K": ("房地产开发", "物业管理", "置业"),
    "L": ("企业管理咨询", "人力资源", "广告", "会展服务", "商务咨询"),
    "M": ("检测技术", "工程设计", "科技", "生物科技", "环保科技"),
    "N": ("环境工程", "园林绿化"),
    "O": ("家政服务", "汽车维修", "保洁服务"),
    "P": ("教育科技", "培训"),
    "Q": ("健康管理", "医疗管理"),
    "R": ("文化传媒", "体育发展", "影视"),
    "S": ("社会服务",),
    "T": ("国际合作",),
}

SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔汤应"
)
# Zipf-like: the first surnames (王李张刘陈) cover far more people than the tail.
SURNAME_WEIGHTS = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.9
SURNAME_WEIGHTS /= SURNAME_WEIGHTS.sum()
_MALE_CHARS = tuple(dict.fromkeys("伟强磊军勇杰涛斌波辉刚健明超亮俊峰浩宇鹏飞建国华平志文斌海东晨阳鑫杰毅"))
_FEMALE_CHARS = tuple(dict.fromkeys("芳娜敏静丽艳娟霞燕玲婷雪琳颖洁倩慧红梅兰萍瑶雯佳欣怡晓蕾莉丹"))

_ROADS = (
    "中山东路",
    "中山西路",
    "天童南路",
    "四明中路",
    "钱湖北路",
    "江南路",
    "明州路",
    "宁穿路",
    "沧海路",
    "百丈东路",
    "解放南路",
    "药行街",
    "环城北路",
    "新城大道",
    "滨海大道",
    "人民路",
    "科技路",
    "创业大道",
)

# Resident IDs of people who moved to Ningbo from elsewhere (Hangzhou, Wenzhou, Taizhou, Hefei,
# Nanchang, Chengdu): real GB/T 2260 division codes, as the identifier check requires.
_OTHER_REGIONS = ("330106", "330302", "331002", "340102", "360102", "510104")


def _take(pool: tuple[str, ...], idx: np.ndarray) -> pa.Array:
    return pa.array(pool, type=pa.string()).take(pa.array(idx))


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def uscc_codes(rng: np.random.Generator, regions: np.ndarray) -> pa.Array:
    """Unique USCCs (authority 9 market supervision, category 1 enterprise) for the given regions."""
    n = len(regions)
    body = rng.integers(0, 31, size=(n, 9), dtype=np.int64)
    # Unique by the 9-character body alone (31^9 values) — collisions are rare but real at 5M rows.
    while True:
        key = (body * (31 ** np.arange(9, dtype=np.int64))).sum(axis=1)
        _, first = np.unique(key, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            break
        body[dup] = rng.integers(0, 31, size=(int(dup.sum()), 9), dtype=np.int64)
    region_digits = _digit_matrix(regions, 6)
    values = np.concatenate(
        [np.full((n, 1), 9), np.full((n, 1), 1), region_digits, body], axis=1
    )  # characters as their GB 32100 values; digits are their own value
    check = (31 - (values @ _USCC_WEIGHTS) % 31) % 31
    ascii_codes = _USCC_ASCII[np.concatenate([values, check[:, None]], axis=1)]
    return _ascii_rows(ascii_codes)


def _digit_matrix(values: np.ndarray, width: int) -> np.ndarray:
    raw = np.frombuffer(np.ascontiguousarray(values.astype(f"S{width}")).tobytes(), dtype=np.uint8)
    return raw.reshape(len(values), width).astype(np.int64) - ord("0")


def _ascii_rows(matrix: np.ndarray) -> pa.Array:
    n, width = matrix.shape
    data = np.ascontiguousarray(matrix, dtype=np.uint8).tobytes()
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def resident_ids(
    rng: np.random.Generator, regions: np.ndarray, birth_days: np.ndarray, female: np.ndarray
) -> pa.Array:
    """Unique resident IDs; ``birth_days`` are datetime64[D]; sequence parity encodes sex (GB 11643)."""
    n = len(regions)
    born = birth_days.astype("datetime64[D]")
    year = born.astype("datetime64[Y]").astype(np.int64) + 1970
    month_start = born.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12 + 1
    day = (born - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    # The 17-digit body as one integer (region, yyyymmdd, sequence) so uniqueness is an int sort.
    prefix = regions.astype(np.int64) * 10**11 + (year * 10_000 + month * 100 + day) * 1_000
    seq = rng.integers(0, 500, size=n) * 2 + np.where(female, 0, 1)
    while True:
        body = prefix + seq
        _, first = np.unique(body, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            break
        seq[dup] = rng.integers(0, 500, size=int(dup.sum())) * 2 + np.where(female[dup], 0, 1)
    powers = 10 ** np.arange(16, -1, -1, dtype=np.int64)
    digits = (body[:, None] // powers) % 10
    check = _RID_CHECK_ASCII[(digits @ _RID_WEIGHTS) % 11]
    return _ascii_rows(np.concatenate([digits + ord("0"), check[:, None]], axis=1))


def person_regions(rng: np.random.Generator, n: int) -> np.ndarray:
    codes = np.array(list(REGION_WEIGHTS), dtype="U6")
    p = np.array(list(REGION_WEIGHTS.values()))
    local = codes[rng.choice(len(codes), size=n, p=p / p.sum())]
    other = np.array(_OTHER_REGIONS, dtype="U6")[rng.integers(0, len(_OTHER_REGIONS), size=n)]
    return np.where(rng.random(n) < 0.88, local, other)


def person_names(rng: np.random.Generator, female: np.ndarray) -> pa.Array:
    n = len(female)
    surname = _take(SURNAMES, rng.choice(len(SURNAMES), size=n, p=SURNAME_WEIGHTS))
    male_given = _take(_MALE_CHARS, rng.integers(0, len(_MALE_CHARS), size=n))
    female_given = _take(_FEMALE_CHARS, rng.integers(0, len(_FEMALE_CHARS), size=n))
    first = pc.if_else(pa.array(female), female_given, male_given)
    second_m = _take(_MALE_CHARS, rng.integers(0, len(_MALE_CHARS), size=n))
    second_f = _take(_FEMALE_CHARS, rng.integers(0, len(_FEMALE_CHARS), size=n))
    second = pc.if_else(pa.array(female), second_f, second_m)
    # About a quarter of given names are one character (张伟), the rest two (张建华).
    two = pa.array(rng.random(n) < 0.75)
    return pc.if_else(two, _join(surname, first, second), _join(surname, first))


def enterprise_names(
    rng: np.random.Generator, regions: np.ndarray, industries: np.ndarray, suffixes: pa.Array
) -> pa.Array:
    n = len(regions)
    prefix_pool: list[str] = []
    prefix_idx = np.empty(n, dtype=np.int64)
    for code, prefixes in _NAME_PREFIXES.items():
        mask = regions == code
        base = len(prefix_pool)
        prefix_pool.extend(prefixes)
        prefix_idx[mask] = base + rng.integers(0, len(prefixes), size=int(mask.sum()))
    word_pool: list[str] = []
    word_idx = np.empty(n, dtype=np.int64)
    for section, words in INDUSTRY_WORDS.items():
        mask = industries == section
        base = len(word_pool)
        word_pool.extend(words)
        word_idx[mask] = base + rng.integers(0, len(words), size=int(mask.sum()))
    c1 = _take(TRADE_CHARS, rng.integers(0, len(TRADE_CHARS), size=n))
    c2 = _take(TRADE_CHARS, rng.integers(0, len(TRADE_CHARS), size=n))
    return _join(_take(tuple(prefix_pool), prefix_idx), c1, c2, _take(tuple(word_pool), word_idx), suffixes)


def addresses(rng: np.random.Generator, regions: np.ndarray) -> pa.Array:
    n = len(regions)
    district = _take(tuple(NINGBO_REGIONS.values()), region_index(regions))
    road = _take(_ROADS, rng.integers(0, len(_ROADS), size=n))
    number = pc.cast(pa.array(rng.integers(1, 2000, size=n)), pa.string())
    return _join("浙江省宁波市", district, road, number, "号")


def region_index(regions: np.ndarray) -> np.ndarray:
    """Position of each Ningbo region code in ``NINGBO_REGIONS`` (whose keys are in ascending order)."""
    return np.searchsorted(np.array(list(NINGBO_REGIONS), dtype="U6"), regions)
