"""Do-not-disturb over HTTP (the page and scripts): the person turns it on and off and sees what was held;
an anonymous caller may not. Every request and response is checked against the OpenAPI description."""

from __future__ import annotations

import time

from tests.http.helpers import TEXT, Api


async def test_the_person_turns_do_not_disturb_on_sees_what_is_held_and_turns_it_off(api: Api) -> None:
    reply = await api.call("POST", "/v1/attention/dnd", {"on": True, "forSeconds": 3600})
    assert reply.status == 200, reply.body
    state = reply.json
    assert state["doNotDisturb"] is True
    assert state["holding"] is True
    assert 3500 < int(state["untilUnixMs"]) / 1000 - time.time() <= 3600
    await api.publish(TEXT)
    held = (await api.call("GET", "/v1/attention")).json["held"]
    assert [(h["agent"], h["reason"]) for h in held] == [("tester", "do-not-disturb")]
    off = (await api.call("POST", "/v1/attention/dnd", {"on": False})).json
    assert (off["doNotDisturb"], off["held"]) == (False, [])


async def test_a_time_in_the_past_is_refused_and_an_anonymous_caller_may_not(api: Api) -> None:
    past = await api.call("POST", "/v1/attention/dnd", {"on": True, "untilUnixMs": "1000"})
    assert past.status == 400
    assert "in the past" in past.body.decode()
    refused = await api.call("POST", "/v1/attention/dnd", {"on": True}, anonymous=True)
    assert refused.status == 403
    assert "only the person" in refused.body.decode()
