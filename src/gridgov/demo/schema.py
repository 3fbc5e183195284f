"""Columns of every file the generator writes: the header as written, and an English key.

Department feeds carry the Chinese headers their source systems export (that is what an import
mapping has to deal with); the address library and the truth files use English headers, so for
them key and header are the same. Keys are stable; loaders should map by header through here
rather than by position (broken rows may have too few or too many fields).

Feed file names: ``<stem>.csv`` or ``<stem>.xlsx`` — rentals and the hotline export are XLSX when
they have at most ``writers.XLSX_MAX_ROWS`` rows; ``manifest.json`` lists the actual files.
"""

from __future__ import annotations

FEEDS: dict[str, list[tuple[str, str]]] = {
    "population/residents_self_declared": [
        ("record_id", "申报编号"),
        ("source", "数据来源"),
        ("name", "姓名"),
        ("id_number", "证件号码"),
        ("sex", "性别"),
        ("birth_date", "出生日期"),
        ("phone", "联系电话"),
        ("household_type", "户籍类型"),
        ("address", "居住地址"),
        ("move_in_date", "入住日期"),
        ("declared_on", "申报日期"),
    ],
    "housing/rentals": [
        ("record_id", "登记编号"),
        ("address", "房屋地址"),
        ("landlord_name", "出租人姓名"),
        ("landlord_id_number", "出租人证件号码"),
        ("landlord_phone", "出租人联系电话"),
        ("start_date", "租赁起始日期"),
        ("end_date", "租赁终止日期"),
        ("declared_occupants", "申报居住人数"),
        ("tenant_id_numbers", "承租人证件号码"),
        ("registered_on", "登记日期"),
    ],
    "entities/business_register": [
        ("record_id", "序号"),
        ("credit_code", "统一社会信用代码"),
        ("name", "主体名称"),
        ("entity_type", "主体类型"),
        ("legal_representative", "法定代表人/经营者"),
        ("registered_capital_wan", "注册资本(万元)"),
        ("established_on", "成立日期"),
        ("status", "登记状态"),
        ("industry", "行业门类"),
        ("registered_address", "住所"),
        ("operating_address", "经营场所"),
        ("risk_level", "风险等级"),
        ("three_small_kind", "三小场所类别"),
    ],
    "events/hotline_12345": [
        ("record_id", "工单编号"),
        ("received_at", "受理时间"),
        ("channel", "受理渠道"),
        ("appeal_type", "诉求类型"),
        ("major", "问题大类"),
        ("sub", "问题小类"),
        ("description", "诉求内容"),
        ("address", "事发地址"),
        ("lon", "经度"),
        ("lat", "纬度"),
        ("crs", "坐标系"),
        ("phone", "来电号码"),
        ("department", "承办单位"),
        ("status", "办理状态"),
        ("history", "流转记录"),
        ("satisfaction", "满意度"),
    ],
    "events/grid_reports": [
        ("record_id", "事件编号"),
        ("reported_at", "上报时间"),
        ("channel", "上报渠道"),
        ("reporter", "上报人"),
        ("phone", "联系电话"),
        ("major", "事件大类"),
        ("sub", "事件小类"),
        ("description", "事件描述"),
        ("address", "事发地址"),
        ("lon", "经度"),
        ("lat", "纬度"),
        ("crs", "坐标系"),
        ("department", "处置部门"),
        ("status", "当前状态"),
        ("history", "处置记录"),
    ],
}


def headers(stem: str) -> list[str]:
    return [header for _, header in FEEDS[stem]]


def key_of_header(stem: str) -> dict[str, str]:
    """Header as written → English key, for one feed."""
    return {header: key for key, header in FEEDS[stem]}
