from callgate.dialects.params import Form, Kind, Param, is_http_url, openapi_parameter_schema, parse_form

PARAMS = (
    Param("Name", required_code=1, missing_message="Name please"),
    Param("Count", Kind.INT, code=2, minimum=1, maximum=5),
    Param("Flag", Kind.BOOL, code=3),
    Param("Mode", Kind.ENUM, code=4, choices=("GET", "POST"), case_insensitive=True),
    Param("Event", Kind.ENUM, code=5, choices=("a", "b"), many=True, split_spaces=True),
    Param("Hook", Kind.URL, code=6),
)


def test_typed_values_and_repeated_keys():
    form = Form.from_pairs(
        [("Name", "x"), ("Count", "3"), ("Flag", "True"), ("Mode", "get"), ("Event", "a"), ("Event", "b a")]
    )
    parsed = parse_form(form, PARAMS)
    assert parsed.errors == []
    assert parsed.values == {"name": "x", "count": 3, "flag": True, "mode": "GET", "event": ("a", "b", "a")}
    assert parsed.present == {"Name", "Count", "Flag", "Mode", "Event"}


def test_every_error_is_collected_with_its_code():
    form = Form.from_pairs(
        [("Count", "9"), ("Flag", "yes please"), ("Mode", "PUT"), ("Event", "c"), ("Hook", "x")]
    )
    parsed = parse_form(form, PARAMS)
    assert [(e.code, e.param) for e in parsed.errors] == [
        (1, "Name"),
        (2, "Count"),
        (3, "Flag"),
        (4, "Mode"),
        (5, "Event"),
        (6, "Hook"),
    ]
    assert parsed.errors[0].message == "Name please"
    assert parsed.errors[1].message == "Count must be between 1 and 5: 9"


def test_blank_counts_as_missing_and_unknown_keys_are_ignored():
    parsed = parse_form(Form.from_pairs([("Name", ""), ("Other", "1")]), PARAMS)
    assert [e.code for e in parsed.errors] == [1]
    assert parsed.values == {}


def test_http_urls():
    assert is_http_url("https://example.com/a?b=c")
    assert is_http_url("http://127.0.0.1:8080/x")
    for bad in (
        "example.com",
        "/relative",
        "ftp://example.com",
        "https://",
        "https://exa mple.com",
        "http://h:99999",
    ):
        assert not is_http_url(bad), bad


def test_openapi_schema_mirrors_the_param():
    assert openapi_parameter_schema(PARAMS[1]) == {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
        "x-error-code": 2,
    }
    assert openapi_parameter_schema(PARAMS[4]) == {
        "type": "array",
        "items": {"type": "string", "enum": ["a", "b"]},
        "x-error-code": 5,
    }


def test_urlencoded_parsing_matches_the_standard_library():
    from urllib.parse import parse_qsl

    for text in (
        "To=%2B14155550100&From=%2B1415&Url=https%3A%2F%2Fe.com%2Fa%3Fb%3Dc",
        "a=1&a=2&b=&c&&d=x+y&e=%E2%82%AC&f=%ZZ&g=1=2",
        "",
    ):
        assert Form.from_urlencoded(text) == Form.from_pairs(parse_qsl(text, keep_blank_values=True)), text


def test_values_seen_before_parse_the_same_and_bad_ones_are_refused_every_time():
    form = Form.from_pairs([("Name", "x"), ("Count", "4"), ("Mode", "post"), ("Event", "b")])
    first, again = parse_form(form, PARAMS), parse_form(form, PARAMS)
    assert first.values == again.values == {"name": "x", "count": 4, "mode": "POST", "event": ("b",)}
    for _ in range(2):
        parsed = parse_form(Form.from_pairs([("Name", "x"), ("Count", "6")]), PARAMS)
        assert [(e.code, e.param) for e in parsed.errors] == [(2, "Count")]
    # The same text under another parameter is that parameter's to judge.
    other = (Param("Name"), Param("Count", Kind.INT, code=7, minimum=5, maximum=9))
    assert parse_form(Form.from_pairs([("Count", "4")]), other).errors[0].code == 7
    long = "https://example.com/" + "a" * 300
    assert parse_form(Form.from_pairs([("Hook", long)]), PARAMS).values == {"hook": long}
    refused = parse_form(Form.from_pairs([("Name", "x"), ("Hook", long + " x")]), PARAMS)
    assert [(e.code, e.param) for e in refused.errors] == [(6, "Hook")]


def test_the_memory_of_values_stays_bounded():
    from callgate.dialects import params

    for n in range(params._CONVERTED_MAX + 10):
        parse_form(Form.from_pairs([("Name", f"n{n}")]), PARAMS)
    assert 0 < len(params._CONVERTED) <= params._CONVERTED_MAX


def test_a_value_seen_before_is_not_checked_again():
    checked: list[str] = []

    def check(raw: str) -> str | None:
        checked.append(raw)
        return None if raw.startswith("ok") else f"bad: {raw}"

    params = (Param("Thing", code=9, check=check),)
    for _ in range(3):
        assert parse_form(Form.from_pairs([("Thing", "ok-1")]), params).values == {"thing": "ok-1"}
        assert parse_form(Form.from_pairs([("Thing", "nope")]), params).errors[0].message == "bad: nope"
    assert checked.count("ok-1") == 1  # remembered
    assert checked.count("nope") == 3  # a refused value is judged every time
