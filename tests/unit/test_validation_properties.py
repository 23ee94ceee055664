"""Property tests (hypothesis) of the request validation: whatever a client sends as a run, a message, a
query parameter or an Idempotency-Key, the answer is the checked value or a 4xx ApiError, never anything
else (which the service would turn into a 500)."""
import json

from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import ApiError
from service.idempotency import request_key
from service.validation import (MESSAGE_FIELDS, QUERY_PARAMS, RUN_FIELDS, Int, read_fields, read_message,
                                query_param)

APP = Flask(__name__)
APP.config["MAX_CONTENT_LENGTH"] = 64 * 1024
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10)
RUN_LIKE = st.dictionaries(st.sampled_from([*RUN_FIELDS, "colour"]), JSON_VALUES | st.integers(-10, 2_000_000))
MESSAGE_LIKE = st.fixed_dictionaries(
    {"type": st.sampled_from([*MESSAGE_FIELDS, "launch"]) | JSON_VALUES},
    optional={"value": JSON_VALUES | st.integers(), "by": JSON_VALUES | st.integers(), "extra": JSON_VALUES})


def body(data):
    return APP.test_request_context("/", method="POST", data=json.dumps(data), content_type="application/json")


def within(name, value, spec):
    return type(value) is int and spec.low <= value <= spec.high, name


@settings(max_examples=300, deadline=None)
@given(RUN_LIKE)
def test_a_run_body_is_checked_in_full_or_refused_with_a_400(data):
    try:
        run = read_fields_of(data)
    except ApiError as error:
        assert error.status == 400 and error.code in {"invalid_field", "unknown_field", "missing_field"}
        return
    assert set(run) == set(RUN_FIELDS)
    for name, spec in RUN_FIELDS.items():
        assert all(within(name, run[name], spec))
        if name in data and type(data[name]) is int:
            assert run[name] == data[name]


@settings(max_examples=300, deadline=None)
@given(MESSAGE_LIKE)
def test_a_message_body_is_a_known_type_with_its_fields_or_a_400(data):
    with body(data):
        try:
            message = read_message()
        except ApiError as error:
            assert error.status == 400
            return
    assert message["type"] in MESSAGE_FIELDS
    assert set(message) == {"type", *MESSAGE_FIELDS[message["type"]]}
    for name, spec in MESSAGE_FIELDS[message["type"]].items():
        assert all(within(name, message[name], spec))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_as_a_body_are_read_or_refused_with_a_4xx(raw):
    with APP.test_request_context("/", method="POST", data=raw, content_type="application/json"):
        try:
            read_fields(RUN_FIELDS)
        except ApiError as error:
            assert 400 <= error.status < 500


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(QUERY_PARAMS)), st.lists(st.text(max_size=25), min_size=1, max_size=2))
def test_a_query_parameter_is_parsed_in_range_or_refused_with_invalid_parameter(name, values):
    query = "&".join(f"{name}={value}" for value in values)
    with APP.test_request_context("/?" + query, method="GET"):
        try:
            parsed = query_param(name)
        except ApiError as error:
            assert (error.status, error.code) == (400, "invalid_parameter")
            return
    spec = QUERY_PARAMS[name]
    if isinstance(spec, Int):
        assert spec.low <= parsed <= spec.high
    else:
        assert parsed in (True, False)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_an_idempotency_key_is_taken_when_printable_ascii_up_to_255_else_refused(key):
    if "\r" in key or "\n" in key or any(ord(c) > 255 for c in key):
        return  # not sendable in an HTTP header at all
    with APP.test_request_context("/", method="POST", headers={"Idempotency-Key": key}):
        valid = 1 <= len(key) <= 255 and all(33 <= ord(c) <= 126 for c in key)
        try:
            parsed = request_key({"rows": 1})
        except ApiError as error:
            assert not valid and (error.status, error.code) == (400, "invalid_idempotency_key")
            return
    assert valid and parsed.key == key


@settings(max_examples=100, deadline=None)
@given(RUN_LIKE)
def test_the_same_request_spelt_two_ways_has_one_fingerprint(data):
    try:
        run = read_fields_of(data)
    except ApiError:
        return
    explicit = read_fields_of(dict(run))  # every default written out: the same request
    with APP.test_request_context("/runs", method="POST", headers={"Idempotency-Key": "k"}):
        assert request_key(run).fingerprint == request_key(explicit).fingerprint


def read_fields_of(data):
    with body(data):
        return read_fields(RUN_FIELDS)
