"""Chinese identifiers: resident IDs, credit codes, phone numbers, masking."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgov.core.errors import InvalidInput
from gridgov.core.identifiers import (
    CREDIT_CODE_ALPHABET,
    CREDIT_CODE_CATEGORIES,
    PROVINCE_CODES,
    SHENZHEN_AREA_CODE,
    credit_code_check_char,
    is_valid_credit_code,
    is_valid_org_code,
    is_valid_resident_id,
    mask_credit_code,
    mask_name,
    mask_phone,
    mask_resident_id,
    normalise_contact_number,
    normalise_landline,
    normalise_phone,
    org_code_check_char,
    parse_credit_code,
    parse_resident_id,
    resident_id_check_char,
)

TODAY = date(2026, 11, 28)


# ---------------------------------------------------------------- independent references


def mod11_2_holds(number: str) -> bool:
    """ISO 7064 MOD 11-2 as the standard states it: Σ aᵢ·2^(i-1), i counted from the right, ≡ 1 (mod 11)."""
    values = [10 if c == "X" else int(c) for c in number]
    return sum(v * pow(2, i, 11) for i, v in enumerate(reversed(values))) % 11 == 1


def gb32100_holds(code: str) -> bool:
    """GB 32100: Σ value·3^i over the first 17 plus the check value ≡ 0 (mod 31)."""
    values = [CREDIT_CODE_ALPHABET.index(c) for c in code]
    return (sum(v * pow(3, i, 31) for i, v in enumerate(values[:17])) + values[17]) % 31 == 0


# ---------------------------------------------------------------- resident ID


VALID_IDS = [
    ("11010519491231002X", "110105", date(1949, 12, 31), "female"),  # GB 11643's own example
    ("44030519900101123X", "440305", date(1990, 1, 1), "male"),
    ("440305200002290029", "440305", date(2000, 2, 29), "female"),  # a leap day
    ("810000198506150039", "810000", date(1985, 6, 15), "male"),  # Hong Kong residence permit
    ("440305190001010017", "440305", date(1900, 1, 1), "male"),  # the earliest date accepted
]


@pytest.mark.parametrize(("number", "area", "born", "sex"), VALID_IDS)
def test_valid_resident_ids_parse(number: str, area: str, born: date, sex: str) -> None:
    assert mod11_2_holds(number)
    parsed = parse_resident_id(number, today=TODAY)
    assert (parsed.number, parsed.area_code, parsed.birth_date, parsed.sex) == (number, area, born, sex)
    assert is_valid_resident_id(number, today=TODAY)


def test_resident_id_is_normalised() -> None:
    assert parse_resident_id("  11010519491231002x\n").number == "11010519491231002X"
    assert parse_resident_id("１１０１０５１９４９１２３１００２Ｘ").number == "11010519491231002X"
    assert parse_resident_id("\u300011010519491231002X").number == "11010519491231002X"


INVALID_IDS = [
    ("110105194912310021", "check digit does not match"),
    ("11010519491231002", "must be 18 characters"),
    ("", "must be 18 characters"),
    ("110105491231002", "must be 18 characters"),  # the old 15-digit form is not accepted
    ("1101051949123100A2", "17 digits followed by a digit or X"),
    ("11010519491231002Y", "17 digits followed by a digit or X"),
    ("1101051949123100２" + "X", None),  # full width inside: normalised, then the check decides
    ("99010519491231002X", "area code is not a known province"),
    ("17010519491231002X", "area code is not a known province"),
    ("11010519490231" + "002", "must be 18 characters"),
    ("110105194902310026", "birth date is not a real date"),  # 31 February, check digit recomputed
    ("110105189912310023", "birth date is before 1900"),
    ("110105203012310026", "birth date is in the future"),
]


@pytest.mark.parametrize(("number", "reason"), INVALID_IDS)
def test_invalid_resident_ids_are_refused_without_echoing(number: str, reason: str | None) -> None:
    if reason is None:
        assert parse_resident_id(number, today=TODAY).number == "11010519491231002X"
        return
    with pytest.raises(InvalidInput) as caught:
        parse_resident_id(number, today=TODAY)
    assert reason in caught.value.message
    assert not number or number not in str(caught.value)
    assert not is_valid_resident_id(number, today=TODAY)


def test_the_corrupted_bodies_above_have_correct_check_digits() -> None:
    # So that only the date (not the check digit) makes them invalid.
    for number in ("110105194902310026", "110105189912310023", "110105203012310026"):
        assert resident_id_check_char(number[:17]) == number[17]


def test_resident_id_repr_is_masked() -> None:
    parsed = parse_resident_id("44030519900101123X", today=TODAY)
    assert "19900101" not in repr(parsed) and "4403**********123X" in repr(parsed)
    assert "1990" not in str(parsed)
    assert parsed.masked == "4403**********123X"


def test_resident_id_check_char_refuses_bad_bodies() -> None:
    for body in ("1234", "4403051990010112X", "４４０３０５１９９００１０１１２３"):
        with pytest.raises(InvalidInput) as caught:
            resident_id_check_char(body)
        assert body not in str(caught.value)


def test_future_is_judged_by_today() -> None:
    number = "110105202611280012"
    assert resident_id_check_char(number[:17]) == number[17]
    assert is_valid_resident_id(number, today=date(2026, 11, 28))
    assert not is_valid_resident_id(number, today=date(2026, 11, 27))


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(sorted(PROVINCE_CODES)))
    area = f"{province:02d}{draw(st.integers(0, 9999)):04d}"
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    body = f"{area}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return body + resident_id_check_char(body)


@given(resident_ids())
def test_generated_resident_ids_round_trip(number: str) -> None:
    assert mod11_2_holds(number)
    parsed = parse_resident_id(number, today=TODAY)
    assert parsed.number == number
    assert f"{parsed.birth_date:%Y%m%d}" == number[6:14]
    assert parsed.sex == ("male" if int(number[16]) % 2 else "female")
    assert parse_resident_id(number.lower(), today=TODAY) == parsed


@given(resident_ids(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_substitution_breaks_a_resident_id(number: str, position: int, char: str) -> None:
    if number[position] == char:
        return
    changed = number[:position] + char + number[position + 1 :]
    assert not is_valid_resident_id(changed, today=TODAY)


@settings(max_examples=300)
@given(st.text(min_size=4, max_size=30))
def test_resident_id_errors_never_contain_the_input(text: str) -> None:
    try:
        parse_resident_id(text, today=TODAY)
    except InvalidInput as exc:
        assert text.strip() not in str(exc) or len(text.strip()) < 4
        assert exc.message.startswith("resident ID")


# ---------------------------------------------------------------- organisation code and credit code


def test_organisation_codes() -> None:
    assert org_code_check_char("D2143569") == "X" and is_valid_org_code("D2143569X")  # GB 11714's example
    assert is_valid_org_code("M000100Y4")  # inside GB 32100's example
    assert org_code_check_char("45575600") == "7"
    assert org_code_check_char("MA5ABCDE") == "5"
    assert not is_valid_org_code("D21435691")
    assert not is_valid_org_code("D2143569")
    assert not is_valid_org_code("d2143569x")
    assert not is_valid_org_code("D2143*69X")


VALID_CODES = [
    ("91350100M000100Y43", "工商", "企业"),  # GB 32100's own example
    ("91440300MA5ABCDE5X", "工商", "企业"),
    ("92440305L12345674M", "工商", "个体工商户"),
    ("124403004557560074", "机构编制", "事业单位"),
    ("511000005000100025", "民政", "社会团体"),  # registered at national level (100000)
    ("N2440305MA5G11113G", "农业", "村级集体经济组织"),
]


@pytest.mark.parametrize(("code", "authority", "category"), VALID_CODES)
def test_valid_credit_codes_parse(code: str, authority: str, category: str) -> None:
    assert gb32100_holds(code)
    parsed = parse_credit_code(code)
    assert parsed.code == code and parsed.org_code == code[8:17] and parsed.area_code == code[2:8]
    assert (parsed.authority_name, parsed.category_name) == (authority, category)
    assert is_valid_credit_code(code)


def test_credit_code_is_normalised() -> None:
    assert parse_credit_code(" 91350100m000100y43 ").code == "91350100M000100Y43"
    assert parse_credit_code("９１３５０１００Ｍ０００１００Ｙ４３").code == "91350100M000100Y43"


def with_check(body17: str) -> str:
    return body17 + credit_code_check_char(body17)


INVALID_CODES = [
    ("91350100M000100Y44", "check character does not match"),
    ("91350100M000100Y4", "must be 18 characters"),
    ("91350100MO00100Y43", "outside its alphabet"),  # O is not in the alphabet
    ("91350100M000I00Y43", "outside its alphabet"),
    (with_check("B1350100M000100Y4"), "registration authority"),  # B is no authority
    (with_check("94350100M000100Y4"), "organisation category"),  # 工商 has no category 4
    (with_check("99350100M000100Y4"), "organisation category"),
    (with_check("Y2350100M000100Y4"), "organisation category"),  # 其他 only has 1
    (with_check("91990100M000100Y4"), "area code"),
    (with_check("9135A100M000100Y4"), "area code"),
    (with_check("91350100M000100Y5"), "organisation code check character"),
]


@pytest.mark.parametrize(("code", "reason"), INVALID_CODES)
def test_invalid_credit_codes_are_refused(code: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_credit_code(code)
    assert reason in caught.value.message
    assert code not in str(caught.value)
    assert not is_valid_credit_code(code)


def test_credit_code_table_follows_the_standard() -> None:
    assert set(CREDIT_CODE_CATEGORIES) == set("123456789ANY")
    assert set(CREDIT_CODE_CATEGORIES["9"][1]) == {"1", "2", "3"}
    assert set(CREDIT_CODE_CATEGORIES["5"][1]) == {"1", "2", "3", "9"}


@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from(sorted(CREDIT_CODE_CATEGORIES)))
    category = draw(st.sampled_from(sorted(CREDIT_CODE_CATEGORIES[authority][1])))
    area = f"{draw(st.sampled_from(sorted(PROVINCE_CODES))):02d}{draw(st.integers(0, 9999)):04d}"
    org_body = "".join(draw(st.lists(st.sampled_from(CREDIT_CODE_ALPHABET), min_size=8, max_size=8)))
    org = org_body + org_code_check_char(org_body)
    return with_check(authority + category + area + org)


@given(credit_codes())
def test_generated_credit_codes_round_trip(code: str) -> None:
    assert gb32100_holds(code)
    assert parse_credit_code(code).code == code
    assert parse_credit_code(code.lower()).code == code


@given(credit_codes(), st.integers(0, 17), st.sampled_from(CREDIT_CODE_ALPHABET))
def test_any_single_substitution_breaks_a_credit_code(code: str, position: int, char: str) -> None:
    if code[position] == char:
        return
    changed = code[:position] + char + code[position + 1 :]
    assert not is_valid_credit_code(changed)


@settings(max_examples=300)
@given(st.text(alphabet=CREDIT_CODE_ALPHABET + "IOSVZ-", min_size=4, max_size=20))
def test_credit_code_errors_never_contain_the_input(text: str) -> None:
    try:
        parse_credit_code(text)
    except InvalidInput as exc:
        assert text not in str(exc)


# ---------------------------------------------------------------- phones


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "(+86) 138-1234-5678",
        "0086 13812345678",
        "8613812345678",
        "１３８１２３４５６７８",
        " 138.1234.5678 ",
    ],
)
def test_mobile_numbers_normalise(text: str) -> None:
    assert normalise_phone(text) == "13812345678"
    assert normalise_contact_number(text) == "13812345678"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1381234567", "11 digits"),
        ("138123456789", "11 digits"),
        ("12812345678", "start with 13 to 19"),
        ("23812345678", "start with 13 to 19"),
        ("138l2345678", "only digits"),
        ("", "empty"),
        (" - ", "empty"),
        ("0755-26123456", "11 digits"),
    ],
)
def test_bad_mobile_numbers_are_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_phone(text)
    assert reason in caught.value.message
    assert not text or text not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0755-26123456", "0755-26123456"),
        ("(0755) 2612 3456", "0755-26123456"),
        ("075526123456", "0755-26123456"),
        ("+86 755 2612 3456", "0755-26123456"),
        ("0086-755-26123456", "0755-26123456"),
        ("010-65123456", "010-65123456"),
        ("020 8312 3456", "020-83123456"),
        ("0668-2123456", "0668-2123456"),  # a 7-digit subscriber number
    ],
)
def test_landlines_normalise(text: str, expected: str) -> None:
    assert normalise_landline(text) == expected
    assert normalise_contact_number(text) == expected


def test_local_landline_takes_the_default_area_code() -> None:
    assert normalise_landline("2612 3456", default_area_code=SHENZHEN_AREA_CODE) == "0755-26123456"
    assert normalise_contact_number("26123456", default_area_code="0755") == "0755-26123456"
    with pytest.raises(InvalidInput, match="needs an area code"):
        normalise_landline("26123456")
    with pytest.raises(InvalidInput, match="default area code"):
        normalise_landline("26123456", default_area_code="755")


@pytest.mark.parametrize(
    "text",
    ["0155-26123456", "0755-06123456", "0755-123456", "0755-261234567", "400-820-8820", "0755-2612345x"],
)
def test_bad_landlines_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_landline(text)
    assert text not in str(caught.value)
    with pytest.raises(InvalidInput):
        normalise_contact_number(text)


@settings(max_examples=300)
@given(st.text(alphabet="0123456789 +-()", min_size=5, max_size=20))
def test_phone_errors_never_contain_the_input(text: str) -> None:
    for normalise in (normalise_phone, normalise_landline, normalise_contact_number):
        try:
            normalise(text)
        except InvalidInput as exc:
            assert text.strip() not in str(exc) or len(text.strip()) < 4


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_generated_mobiles_round_trip(number: str) -> None:
    assert normalise_phone(number) == number
    assert normalise_phone(f"+86 {number[:3]} {number[3:7]} {number[7:]}") == number


# ---------------------------------------------------------------- masking


def test_masks() -> None:
    assert mask_resident_id("440305199001011234") == "4403**********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_credit_code("91350100M000100Y43") == "913501********0Y43"
    assert mask_name("张三丰") == "张**"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("张") == "*"
    assert mask_phone("0755-26123456") == "*********3456"


@pytest.mark.parametrize("mask", [mask_resident_id, mask_phone, mask_credit_code, mask_name])
@pytest.mark.parametrize("text", ["", "1", "12345", "4403051990010112", "4403051990010112345", "张三丰 "])
def test_masks_never_raise_and_keep_length(mask: object, text: str) -> None:
    assert callable(mask)
    masked = mask(text)
    assert isinstance(masked, str) and len(masked) == len(text)
    assert masked.count("*") >= len(text) / 2


def test_masks_of_wrong_length_ids_are_fully_starred() -> None:
    assert mask_resident_id("4403051990010112") == "*" * 16
    assert mask_credit_code("91350100M000100Y4") == "*" * 17
    assert mask_phone("12345") == "*****"
    assert mask_resident_id(None) == ""  # type: ignore[arg-type]


@given(st.text(max_size=40))
def test_masks_are_total(text: str) -> None:
    for mask in (mask_resident_id, mask_phone, mask_credit_code, mask_name):
        masked = mask(text)
        assert len(masked) == len(text)
