from callgate.dialects.params import (
    Form,
    Kind,
    Param,
    is_http_url,
    openapi_form_body,
    openapi_parameter_schema,
    parse_form,
)

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


def test_a_blank_value_of_a_fixed_form_is_a_bad_value():
    params = (
        *PARAMS,
        Param("Token", code=7, pattern=r"P[AB][0-9a-f]{32}"),
        Param("Since", Kind.DATE_TIME, code=8),
        Param("Cleared", Kind.URL, code=9, clearable=True),
    )
    blanks = [("Count", ""), ("Flag", ""), ("Mode", ""), ("Hook", ""), ("Token", ""), ("Since", "")]
    parsed = parse_form(Form.from_pairs([("Name", "x"), *blanks, ("Cleared", "")]), params)
    assert [(e.code, e.param, e.message) for e in parsed.errors] == [
        (code, name, f"{name} must not be empty")
        for code, (name, _) in zip((2, 3, 4, 6, 7, 8), blanks, strict=True)
    ]
    assert parsed.values == {"name": "x", "cleared": None}


def test_dates_are_days_or_rfc3339_instants_in_utc():
    since = (Param("Since", Kind.DATE_TIME, code=8),)

    def value(raw):
        parsed = parse_form(Form.from_pairs([("Since", raw)]), since)
        return parsed.errors[0].message if parsed.errors else parsed.values["since"]

    assert value("2026-11-22") == "2026-11-22"
    assert value("2026-11-22T10:00:00Z") == "2026-11-22T10:00:00+00:00"
    assert value("2026-11-22t12:00:00.5+02:00") == "2026-11-22T10:00:00.500000+00:00"
    assert value("2026-11-22T10:00:00.1234567z") == "2026-11-22T10:00:00.123456+00:00"
    # the edges of time stay at the edges instead of overflowing
    assert value("0001-01-01T00:00:00+23:59") == "0001-01-01T00:00:00+00:00"
    assert value("9999-12-31T23:59:59-23:59") == "9999-12-31T23:59:59.999999+00:00"
    for bad in ("2026-11-22T10:00", "2026-11-22 10:00:00Z", "2026-13-01", "22/11/2026", "٢٠٢٦-١١-٢٢"):
        assert value(bad) == f"Since must be a date (YYYY-MM-DD) or an RFC 3339 date-time: {bad}", bad


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


def test_openapi_schema_says_what_parsing_refuses():
    free, required = Param("Text", code=1), Param("To", code=2, required_code=3)
    assert openapi_parameter_schema(free) == {"type": "string", "pattern": "^[^\\x00]*$", "x-error-code": 1}
    assert openapi_parameter_schema(required)["minLength"] == 1  # a blank counts as absent
    assert openapi_parameter_schema(Param("Since", Kind.DATE_TIME))["anyOf"] == [
        {"format": "date"},
        {"format": "date-time"},
    ]
    assert openapi_parameter_schema(Param("Hook", Kind.URL, clearable=True))["anyOf"] == [
        {"format": "uri"},
        {"maxLength": 0},
    ]
    # booleans: the parser takes true and false only, as the seeds say
    assert openapi_parameter_schema(PARAMS[2])["type"] == "boolean"


def test_a_form_body_is_required_only_where_a_parameter_is():
    assert openapi_form_body(PARAMS)["required"] is True
    assert openapi_form_body(PARAMS[1:])["required"] is False
