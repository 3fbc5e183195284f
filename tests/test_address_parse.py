"""Address parser: rule engine on hand examples, CRF training on a slice of the NAACL 2019 corpus, offsets."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgov.address.crf import Example, Lexicon, spans_to_tags, tags_to_spans, tokenize, train
from gridgov.address.labels import LABEL_SET, normalise_label
from gridgov.address.parse import (
    MAX_CHARS,
    Gazetteer,
    GazetteerEntry,
    ParsedAddress,
    Parser,
    Span,
    infer_admin,
    to_jsonl_record,
)

REPO = Path(__file__).resolve().parent.parent
NAACL = REPO.parent / "shared" / "data" / "address" / "naacl2019"

NANSHAN_GAZETTEER = [
    GazetteerEntry("南山区", "district", district="440305000000"),
    GazetteerEntry("粤海街道", "town", district="440305000000", town="440305007000"),
    GazetteerEntry("南山街道", "town", district="440305000000", town="440305001000"),
    GazetteerEntry("科技园社区", "community", "440305000000", "440305007000", "440305007004"),
    GazetteerEntry("向南社区", "community", "440305000000", "440305001000", "440305001006"),
    GazetteerEntry("科苑路", "road", district="440305000000", town="440305007000"),
    GazetteerEntry("向南路", "road", district="440305000000", town="440305001000"),
    GazetteerEntry("南粤山庄", "poi", "440305000000", "440305001000", "440305001006"),
    GazetteerEntry("科兴科学园", "poi", "440305000000", "440305007000", "440305007004"),
    # Two roads of the same name in different streets: inference must not pick one.
    GazetteerEntry("新城路", "road", district="440305000000", town="440305001000"),
    GazetteerEntry("新城路", "road", district="440305000000", town="440305007000"),
]


def labelled(parsed: ParsedAddress) -> list[tuple[str, str]]:
    return [(s.label, s.text_of(parsed.text)) for s in parsed.spans]


# --- rule parser -----------------------------------------------------------------------------------------


def test_rules_full_shenzhen_address_without_gazetteer() -> None:
    parsed = Parser().parse("广东省深圳市南山区粤海街道科技园社区科苑路15号科兴科学园B栋3单元1201")
    assert labelled(parsed) == [
        ("prov", "广东省"),
        ("city", "深圳市"),
        ("district", "南山区"),
        ("town", "粤海街道"),
        ("community", "科技园社区"),
        ("road", "科苑路"),
        ("roadno", "15号"),
        ("poi", "科兴科学园"),
        ("houseno", "B栋"),
        ("cellno", "3单元"),
        ("roomno", "1201"),
    ]


def test_rules_estate_building_room() -> None:
    parsed = Parser(NANSHAN_GAZETTEER).parse("南山区向南路49号南粤山庄10栋601")
    assert labelled(parsed) == [
        ("district", "南山区"),
        ("road", "向南路"),
        ("roadno", "49号"),
        ("poi", "南粤山庄"),
        ("houseno", "10栋"),
        ("roomno", "601"),
    ]


def test_rules_dashed_building_room_and_fullwidth_digits() -> None:
    parsed = Parser(NANSHAN_GAZETTEER).parse("南山区向南路４９号南粤山庄10-601")
    assert labelled(parsed) == [
        ("district", "南山区"),
        ("road", "向南路"),
        ("roadno", "４９号"),
        ("poi", "南粤山庄"),
        ("houseno", "10"),
        ("redundant", "-"),
        ("roomno", "601"),
    ]


def test_rules_gazetteer_name_without_suffix_and_repeated_admin() -> None:
    gazetteer = [("深圳", "city"), ("海岸城", "poi")]
    parsed = Parser(gazetteer).parse("深圳深圳市南山区海岸城3楼")
    assert labelled(parsed) == [
        ("city", "深圳"),
        ("redundant", "深圳市"),
        ("district", "南山区"),
        ("poi", "海岸城"),
        ("floorno", "3楼"),
    ]


def test_rules_do_not_cut_names_after_the_road() -> None:
    # 市 in 城市花园 comes after the road: part of the estate's name, not a city.
    parsed = Parser().parse("南山区南油大道城市花园5栋")
    assert ("poi", "城市花园") in labelled(parsed)
    assert "city" not in {s.label for s in parsed.spans}


def test_chinese_numerals_before_units_are_numbers() -> None:
    parsed = Parser().parse("南山区金家一路南粤山庄九栋二单元")
    assert labelled(parsed)[-2:] == [("houseno", "九栋"), ("cellno", "二单元")]
    assert ("road", "金家一路") in labelled(parsed)


# --- admin inference -------------------------------------------------------------------------------------


def test_infer_admin_from_road_and_estate() -> None:
    gazetteer = Gazetteer(NANSHAN_GAZETTEER)
    parsed = Parser(gazetteer).parse("向南路49号南粤山庄10栋601")
    inferred = infer_admin(parsed, gazetteer)
    assert inferred.as_dict() == {
        "district": "440305000000",
        "town": "440305001000",
        "community": "440305001006",
    }
    assert inferred.evidence == ("向南路", "南粤山庄")
    # No span was invented for what the text does not say.
    assert {s.label for s in parsed.spans}.isdisjoint({"district", "town", "community"})


def test_infer_admin_leaves_stated_levels_and_ambiguity_alone() -> None:
    gazetteer = Gazetteer(NANSHAN_GAZETTEER)
    stated = infer_admin(Parser(gazetteer).parse("南山区粤海街道科苑路15号"), gazetteer)
    assert stated.district is None and stated.town is None and stated.community is None

    ambiguous = infer_admin(Parser(gazetteer).parse("新城路8号"), gazetteer)
    assert ambiguous.district == "440305000000"
    assert ambiguous.town is None and "town" in ambiguous.ambiguous

    # A stated street settles which 新城路 is meant.
    settled = infer_admin(Parser(gazetteer).parse("粤海街道新城路8号"), gazetteer)
    assert settled.district == "440305000000" and settled.town is None


def test_jsonl_record_shape() -> None:
    parsed = Parser().parse("南山区向南路49号")
    record = to_jsonl_record(parsed)
    assert json.loads(json.dumps(record, ensure_ascii=False)) == {
        "text": "南山区向南路49号",
        "spans": [
            {"label": "district", "start": 0, "end": 3},
            {"label": "road", "start": 3, "end": 6},
            {"label": "roadno", "start": 6, "end": 9},
        ],
    }


# --- tokens, tags, labels --------------------------------------------------------------------------------


def test_tokens_keep_digit_and_letter_runs_whole() -> None:
    text = "万里公路832弄soho B栋１２"
    assert [text[s:e] for s, e in tokenize(text)] == [
        *"万里公路",
        "832",
        "弄",
        "soho",
        " ",
        "B",
        "栋",
        "１２",
    ]


def test_tags_round_trip() -> None:
    text = "浙江省杭州市832弄"
    spans = [("prov", 0, 3), ("city", 3, 6), ("roadno", 6, 10)]
    tokens = tokenize(text)
    assert tags_to_spans(tokens, spans_to_tags(tokens, spans)) == spans


def test_normalise_label() -> None:
    assert normalise_label("B-devZone") == "devzone"
    assert normalise_label("subRoadno") == "subroadno"
    with pytest.raises(ValueError):
        normalise_label("I-street")


# --- properties ------------------------------------------------------------------------------------------

_PARSERS = {"rules": Parser(), "rules+gazetteer": Parser(NANSHAN_GAZETTEER)}
_ADDRESSY = st.text(
    alphabet="南山区向南路粤海街道社区科苑号栋座单元楼层室市省镇村0123456789-AB ＃，九二 \t", max_size=60
)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=80), _ADDRESSY))
def test_parse_never_raises_and_offsets_round_trip(text: str) -> None:
    for parser in _PARSERS.values():
        parsed = parser.parse(text)
        assert parsed.text == text
        last_end = 0
        for span in parsed.spans:
            assert span.label in LABEL_SET
            assert last_end <= span.start < span.end <= len(text)
            piece = text[span.start : span.end]
            assert piece == piece.strip() and piece
            last_end = span.end


def test_over_long_input_is_clipped_not_refused() -> None:
    text = "南山区向南路49号" * 500
    parsed = Parser().parse(text)
    assert parsed.text == text
    assert parsed.spans and parsed.spans[-1].end <= MAX_CHARS


def test_auto_falls_back_to_rules_without_a_model(tmp_path: Path) -> None:
    parser = Parser.auto([("南粤山庄", "poi")], model=tmp_path / "absent.model")
    assert parser.engine == "rules"
    assert ("poi", "南粤山庄") in labelled(parser.parse("南粤山庄10栋"))


def test_parse_rejects_non_text() -> None:
    with pytest.raises(TypeError):
        Parser().parse(b"\xc4\xcf\xc9\xbd")  # type: ignore[arg-type]


# --- CRF on a slice of the research corpus ---------------------------------------------------------------


def _naacl(require_file: Callable[[Path], Path]) -> Path:
    """The NAACL 2019 corpus under ../shared/data (skip where missing; fail under CI)."""
    for name in ("train.jsonl", "dev.jsonl", "dev.txt"):
        require_file(NAACL / name)
    return NAACL


def _read_jsonl(path: Path, limit: int) -> list[Example]:
    examples = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            spans = tuple((normalise_label(s["label"]), s["start"], s["end"]) for s in row["spans"])
            examples.append(Example(row["text"], spans))
            if len(examples) >= limit:
                break
    return examples


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_parse", REPO / "bench" / "parse.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_parse"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_crf_learns_from_a_slice(tmp_path: Path, require_file: Callable[[Path], Path]) -> None:
    data = _naacl(require_file)
    train_set = _read_jsonl(data / "train.jsonl", 300)
    dev = _read_jsonl(data / "dev.jsonl", 100)
    model = tmp_path / "slice.model"
    report = train(train_set, model, max_iterations=60, folds=3)
    assert report.model_path == model and model.is_file()

    parser = Parser.auto(model=model)
    assert parser.engine == "crf"
    predicted = []
    for example in dev:
        parsed = parser.parse(example.text)
        for span in parsed.spans:
            assert parsed.text[span.start : span.end] == span.text_of(example.text)
        predicted.append([(s.label, s.start, s.end) for s in parsed.spans])
    bench = _bench()
    f1 = bench.f1(bench.score(dev, predicted)[""])[2]
    # Measured 0.854 (the same 300 and 100 addresses every run): a floor just below.
    assert f1 > 0.83, f"CRF on 300 addresses reached span F1 {f1:.3f} on 100 dev addresses"

    # The CRF parser never raises either, and library names join its lexicon.
    with_names = Parser.from_model(model, gazetteer=[("科兴科学园", "poi")])
    assert with_names.tagger is not None and with_names.tagger.lexicon.find("科兴科学园")
    for junk in ("", " ", "\x00\ufffd", "A" * (MAX_CHARS + 50), "１２３－４"):
        junk_parsed = with_names.parse(junk)
        assert all(0 <= s.start < s.end <= len(junk) for s in junk_parsed.spans)


def test_bench_reader_matches_jsonl(require_file: Callable[[Path], Path]) -> None:
    data = _naacl(require_file)
    bench = _bench()
    from_txt = bench.read_conll(data / "dev.txt")[:50]
    from_jsonl = _read_jsonl(data / "dev.jsonl", 50)
    assert from_txt == from_jsonl


def test_lexicon_round_trip(tmp_path: Path) -> None:
    lexicon = Lexicon([("科苑路", "road"), ("科苑路", "poi"), ("x", "poi")])
    path = tmp_path / "lex.tsv"
    lexicon.save(path)
    assert list(Lexicon.load(path).entries()) == [("科苑路", "poi"), ("科苑路", "road")]
    assert Span("road", 0, 3).text_of("科苑路") == "科苑路"
