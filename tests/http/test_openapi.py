"""The shipped OpenAPI description: a valid 3.1 document, in step with the proto messages, listing every
route the server has; real requests and responses are validated against it throughout tests/http (the
`Api` helper), and here once more across every route in one sequence."""

from __future__ import annotations

from typing import Any

import betterproto2
from aiohttp import web
from openapi_spec_validator import validate

from tests.http.helpers import IMAGE_TEXT, INTERACTIVE, PROGRESS, TEXT, Api
from toasty_proto import v1
from toasty_server.http.routes import openapi_document

MESSAGES = [
    v1.PublishRequest, v1.PublishResponse, v1.Notification, v1.TextMessage, v1.ImageTextMessage, v1.Image,
    v1.Interactive, v1.Button, v1.TextInput, v1.SelectionInput, v1.SelectionChoice, v1.Progress, v1.Header,
    v1.SendNotificationRequest, v1.SendNotificationResponse, v1.InteractionEvent, v1.AnswerRequest,
    v1.AnswerResponse, v1.WithdrawRequest, v1.WithdrawResponse, v1.StatusResponse, v1.SubscriberStatus,
    v1.Delivery, v1.ToastReceipt, v1.Gap, v1.DesktopStatus, v1.DoNotDisturbRequest, v1.HeldToast,
    v1.AttentionState, v1.MuteRequest, v1.SnoozeRequest, v1.SnoozeResponse, v1.MutedAgent, v1.ScheduledToast,
    v1.AgentRates,
]  # fmt: skip


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_message_schema_has_exactly_the_proto_fields() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for message in MESSAGES:
        described: Any = message
        fields = {betterproto2.casing.camel_case(name) for name in described._betterproto.meta_by_field_name}
        assert set(schemas[message.__name__]["properties"]) == fields, message.__name__


def test_every_route_is_described() -> None:
    from toasty_server.http.routes import ROUTES, Handlers

    app = web.Application()
    Handlers.add_to(_Recorder(), app)  # type: ignore[arg-type]
    paths = openapi_document()["paths"]
    described = {(path, method) for path, item in paths.items() for method in item}
    served = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    assert served - {("/static/{name}", "get")} == described
    assert set(ROUTES) == {route.name for route in app.router.routes() if route.name}


class _Recorder:
    """Stands in for Handlers when only the route table is wanted."""

    def __getattr__(self, name: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.Response()

        return handler


async def test_a_tour_of_every_route_validates(api: Api) -> None:
    for payload in (TEXT, IMAGE_TEXT, PROGRESS):
        await api.publish(payload, skipToast=True, wantReceipt=True)
    await api.publish({**INTERACTIVE, "id": "tour"})
    await api.call("POST", "/v1/send", {"title": "t", "message": "m", "level": 2})
    await api.call("GET", "/v1/status")
    await api.call("GET", "/v1/log", params={"limit": "20"})
    await api.call("GET", "/v1/asks")
    await api.call("GET", "/v1/notifications/tour/answer", params={"wait": "0"})  # 504
    await api.call("POST", "/v1/notifications/tour/answer", {"buttonId": "approve", "source": "web"})
    await api.call("GET", "/v1/notifications/tour/answer")
    await api.call("POST", "/v1/notifications/tour/withdraw")
    await api.call("GET", "/v1/notifications/gone/answer", params={"wait": "0"})  # 404
    await api.call("GET", "/healthz")
    await api.call("GET", "/openapi.json")
    statuses = {line.rsplit(" ", 1)[1] for line in api.checked}
    assert {"200", "404", "504"} <= statuses
    assert len(api.checked) >= 14
