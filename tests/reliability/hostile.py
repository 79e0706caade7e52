"""Hostile requests for every RPC: hypothesis strategies built from the schema itself, and raw bytes.

`request_bytes(method)` draws, for one RPC, either a random but well-formed request (every field of
every nested message, random values: oversize strings, control characters, invalid paths, unknown
enum values, NaN and infinities, huge repeated fields) or such a request damaged on the wire (flipped
bytes, truncation, a string field holding invalid UTF-8, fields with the wrong wire type, groups), or
plain random bytes. The messages are built with the C protobuf runtime from the schema's descriptor
set, so the strategies follow the .proto without a hand-written list of fields.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

import grpc
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, json_format, message, message_factory
from hypothesis import strategies as st

from toasty_proto import descriptor_set, v1
from toasty_proto.method import RpcMethod

MAX_BYTES = 400_000

ALL_METHODS: tuple[RpcMethod[Any, Any], ...] = tuple(v1.ALL_METHODS)

NASTY_STRINGS = (
    "",
    " ",
    "\t\n",
    "a",
    "ok",
    "watcher",
    "../../../../etc/passwd",
    "/etc/passwd",
    "/etc/shadow",
    "/tmp/../etc/passwd",
    "/proc/self/mem",
    "/dev/zero",
    "/dev/stdin",
    "C:\\Windows\\..\\..\\boot.ini",
    "\\\\server\\share\\x.png",
    "file:///etc/passwd",
    "http://127.0.0.1:9/x.png",
    "https://",
    "javascript:alert(1)",
    "\x00",
    "a\x00b",
    "\x1b[2J\x1b]0;owned\x07",
    "line\n[toast !! critical] forged (from admin, id x)",
    "\u202eevil",
    "\ud7ff\ue000\U0010ffff",
    "🔥" * 300,
    "x" * 129,
    "t" * 257,
    "b" * 2049,
    "%s%n%x",
    "'; DROP TABLE log; --",
)


@cache
def pool() -> descriptor_pool.DescriptorPool:
    p = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor_set()).file:
        p.Add(file)
    return p


def message_class(full_name: str) -> type[message.Message]:
    return message_factory.GetMessageClass(pool().FindMessageTypeByName(full_name))


def request_type_name(method: RpcMethod[Any, Any]) -> str:
    return f"{method.service.rpartition('.')[0]}.{method.request_type.__name__}"


def strings(big: bool = True) -> st.SearchStrategy[str]:
    """Nasty, random and id-like strings; with `big`, also up to 70,000 characters."""
    small = st.one_of(
        st.sampled_from(NASTY_STRINGS),
        st.text(max_size=40),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,20}", fullmatch=True),
    )
    return st.one_of(small, st.integers(0, 70_000).map(lambda n: "x" * n)) if big else small


def _scalar(field: descriptor.FieldDescriptor, big: bool = True) -> st.SearchStrategy[Any]:
    t = field.type
    if t == field.TYPE_STRING:
        return strings(big)
    if t == field.TYPE_BYTES:
        return st.binary(max_size=64)
    if t == field.TYPE_BOOL:
        return st.booleans()
    if t in (field.TYPE_DOUBLE, field.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=64 if t == field.TYPE_DOUBLE else 32)
    if t == field.TYPE_ENUM:
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), st.integers(-(2**31), 2**31 - 1))
    if t in (field.TYPE_UINT32, field.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    if t in (field.TYPE_UINT64, field.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    if t in (field.TYPE_INT32, field.TYPE_SINT32, field.TYPE_SFIXED32):
        return st.integers(-(2**31), 2**31 - 1)
    return st.integers(-(2**63), 2**63 - 1)


def messages(desc: descriptor.Descriptor, depth: int = 0, big: bool = True) -> st.SearchStrategy[message.Message]:
    """Random instances of one message type: any subset of its fields, each with a random value.

    With `big`, a string may be 70,000 characters and a repeated field 3,000 copies of one element; the
    elements of such a huge field are drawn without `big`, so sizes multiply at most once (a request
    stays in the megabytes, the test process in its memory).
    """
    cls = message_factory.GetMessageClass(desc)
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for field in desc.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            optional[field.name] = st.dictionaries(strings(big=False), strings(big=False), max_size=6)
            continue

        def element(big: bool, field: descriptor.FieldDescriptor = field) -> st.SearchStrategy[Any]:
            if field.message_type is None:
                return _scalar(field, big)
            return st.deferred(lambda: messages(field.message_type, depth + 1, big))

        if field.message_type is not None and depth > 5:
            continue
        if field.is_repeated:
            lists = st.lists(element(big=False), max_size=8)
            huge = st.tuples(element(big=False), st.integers(0, 3000)).map(lambda pair: [pair[0]] * pair[1])
            optional[field.name] = st.one_of(lists, huge) if big else lists
        else:
            optional[field.name] = element(big)

    def build(values: dict[str, Any]) -> message.Message:
        msg = cls()
        for name, value in values.items():
            field = desc.fields_by_name[name]
            target = getattr(msg, name) if field.is_repeated or field.message_type is not None else None
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                target.update(value)
            elif field.is_repeated:
                target.extend(value)
            elif field.message_type is not None:
                target.CopyFrom(value)
            else:
                setattr(msg, name, value)  # the last member of a oneof wins
        return msg

    return st.fixed_dictionaries({}, optional=optional).map(build)


def varint(value: int) -> bytes:
    """`value` as a protobuf base-128 varint (to write wire bytes by hand)."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _damaged(data: bytes, draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(["flip", "truncate", "insert", "bad_utf8", "wrong_wire_type", "group", "long"]))
    if how == "flip" and data:
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
        return bytes(buf)
    if how == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    number = draw(st.integers(1, 20))
    if how == "bad_utf8":  # field `number` as a length-delimited field of non-UTF-8 bytes
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"ok\x80", b"\xf8\x88\x80\x80\x80"]))
        return data + varint(number << 3 | 2) + varint(len(junk)) + junk
    if how == "wrong_wire_type":  # a varint where a string or message is declared, and the reverse
        wire = draw(st.sampled_from([0, 1, 2, 5]))
        body = {0: varint(draw(st.integers(0, 2**64 - 1))), 1: b"\0" * 8, 2: b"\x01\x02", 5: b"\0" * 4}[wire]
        return data + varint(number << 3 | wire) + body
    if how == "group":  # deprecated start/end group wire types, possibly unbalanced or deeply nested
        depth = draw(st.integers(1, 200))
        return data + varint(number << 3 | 3) * depth + varint(number << 3 | 4) * draw(st.integers(0, depth))
    # "long": a length prefix far beyond the end
    return data + varint(number << 3 | 2) + varint(draw(st.integers(len(data) + 1, 2**32)))


_HEADER = {"title": "t", "attribution": "a"}
_IMAGE = {"path": "/tmp/a.png", "placement": "IMAGE_PLACEMENT_HERO", "altText": "x"}
# One valid request per method (several for Publish): near-valid requests are these with a few fields
# changed, so the validator's every branch sees hostile values, not just the first check.
VALID: dict[str, list[dict[str, Any]]] = {
    "Publish": [
        {"notification": {"id": "n1", "textMessage": {"header": _HEADER, "bodyTextLine1": "b"}}},
        {"notification": {"imageText": {"header": _HEADER, "image": _IMAGE}}, "targetClientId": "x"},
        {"notification": {"imageText": {"header": _HEADER, "image": {"url": "https://example.org/a.png"}}}},
        {
            "notification": {
                "urgency": "URGENCY_LEVEL_CRITICAL",
                "answerTimeoutSeconds": 1,
                "interactive": {
                    "header": _HEADER,
                    "image": _IMAGE,
                    "buttons": [{"id": "ok", "label": "OK"}, {"id": "no", "label": "No"}],
                    "textInputs": [{"id": "why", "title": "Why", "placeholder": "..."}],
                    "selectionInputs": [
                        {"id": "env", "title": "Env", "choices": [{"id": "p", "label": "P"}], "defaultChoiceId": "p"}
                    ],
                },
            },
            "wantReceipt": True,
        },
        {"notification": {"progress": {"header": _HEADER, "progressKey": "k", "value": 0.5, "status": "s"}}},
    ],
    "SendNotification": [{"title": "t", "message": "m", "level": "URGENCY_LEVEL_WARNING"}],
    "Subscribe": [{"clientId": "c1", "afterSequence": "3"}],
    "AwaitInteraction": [{"notificationId": "n1", "timeoutSeconds": 0.2}],
    "Withdraw": [{"notificationId": "n1"}],
    "Answer": [{"notificationId": "n1", "buttonId": "ok", "inputs": {"why": "because"}, "source": "web"}],
    "GetStatus": [{}],
    "ListQuestions": [{}],
    "SetDoNotDisturb": [{"on": True, "forSeconds": 60}, {"on": False}],
    "GetAttention": [{}],
    "Mute": [{"agent": "chatty", "forSeconds": 60}, {"agent": "chatty", "unmute": True}],
    "Snooze": [{"notificationId": "a~q1", "seconds": 60}],
}
VALID["PublishStream"] = [{"requestId": "7", "publish": publish} for publish in VALID["Publish"]]


def _positions(msg: message.Message) -> list[tuple[message.Message, descriptor.FieldDescriptor]]:
    """Every field of every message present in msg (set or not): where a near-valid request differs."""
    out: list[tuple[message.Message, descriptor.FieldDescriptor]] = []
    stack = [msg]
    while stack:
        current = stack.pop()
        for field in current.DESCRIPTOR.fields:
            out.append((current, field))
            if field.message_type is None or field.message_type.GetOptions().map_entry:
                continue
            if field.is_repeated:
                stack.extend(getattr(current, field.name))
            elif current.HasField(field.name):
                stack.append(getattr(current, field.name))
    return out


@st.composite
def near_valid(draw: st.DrawFn, method: RpcMethod[Any, Any]) -> bytes:
    """A valid request for method with one to three fields given hostile values."""
    cls = message_class(request_type_name(method))
    msg = json_format.ParseDict(draw(st.sampled_from(VALID[method.name])), cls())
    positions = _positions(msg)
    if not positions:
        return msg.SerializeToString()
    for _ in range(draw(st.integers(1, 3))):
        holder, field = draw(st.sampled_from(positions))
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            getattr(holder, field.name).update(draw(st.dictionaries(strings(False), strings(False), max_size=8)))
        elif field.message_type is not None:
            value = draw(messages(field.message_type, depth=4, big=False))
            if field.is_repeated:
                getattr(holder, field.name).extend([value] * draw(st.integers(1, 40)))
            else:
                getattr(holder, field.name).CopyFrom(value)
        elif field.is_repeated:
            getattr(holder, field.name).extend(draw(st.lists(_scalar(field), max_size=8)))
        else:
            setattr(holder, field.name, draw(_scalar(field)))
    return msg.SerializeToString()[:MAX_BYTES]


@st.composite
def request_bytes(draw: st.DrawFn, method: RpcMethod[Any, Any]) -> bytes:
    """What a hostile or broken client could send as this RPC's request body."""
    kind = draw(st.sampled_from(["near_valid", "near_valid", "message", "damaged", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=2048))
    if kind == "near_valid":
        return draw(near_valid(method))
    data = draw(messages(pool().FindMessageTypeByName(request_type_name(method)))).SerializeToString()
    data = data[:MAX_BYTES]  # past the server's 256 KiB limit is tested already; keep the run fast
    return data if kind == "message" else _damaged(data, draw)


# -- sending them ----------------------------------------------------------------------------------------

S = grpc.StatusCode
NEVER = {S.INTERNAL, S.UNKNOWN, S.UNIMPLEMENTED, S.DATA_LOSS, S.UNAVAILABLE}
# What each method may answer to a request it did not like, besides OK.
ALLOWED: dict[str, set[grpc.StatusCode]] = {
    "Publish": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED, S.FAILED_PRECONDITION},
    "SendNotification": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED},
    "AwaitInteraction": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED, S.NOT_FOUND, S.PERMISSION_DENIED}
    | {S.DEADLINE_EXCEEDED},
    "Withdraw": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED, S.NOT_FOUND, S.PERMISSION_DENIED},
    "Answer": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED, S.NOT_FOUND, S.FAILED_PRECONDITION},
    "GetStatus": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED},
    "ListQuestions": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED},
    # attention: the person only (the hostile caller may or may not present the secret)
    "SetDoNotDisturb": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED, S.PERMISSION_DENIED},
    "GetAttention": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED, S.PERMISSION_DENIED},
    "Mute": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED, S.PERMISSION_DENIED},
    "Snooze": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED, S.PERMISSION_DENIED, S.NOT_FOUND},
    # open streams end by deadline; another client's deliveries are refused to a caller without a credential
    "Subscribe": {S.DEADLINE_EXCEEDED, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED, S.PERMISSION_DENIED},
    # the call's own status; a refused request is answered OK with its PublishError (checked like Publish's)
    "PublishStream": {S.OK, S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED},
}
HOSTILE_AGENT = (("x-agent-id", "hostile"),)


@dataclass
class Outcome:
    code: grpc.StatusCode
    details: str
    response: bytes = b""


def call(channel: grpc.Channel, method: RpcMethod[Any, Any], data: bytes) -> Outcome:
    """Send `data` as the request body of `method`, byte for byte (plain grpcio, no serializer)."""
    try:
        if method.client_streaming:  # one request on the call, then its answer
            answers = list(channel.stream_stream(method.path)(iter([data]), timeout=3, metadata=HOSTILE_AGENT))
            return Outcome(S.OK, "", answers[0] if answers else b"")
        if method.server_streaming:
            for _ in channel.unary_stream(method.path)(data, timeout=0.1, metadata=HOSTILE_AGENT):
                pass
            return Outcome(S.OK, "")
        response = channel.unary_unary(method.path)(data, timeout=3, metadata=HOSTILE_AGENT)
        return Outcome(S.OK, "", response)
    except grpc.RpcError as exc:
        return Outcome(exc.code(), exc.details() or "")  # type: ignore[attr-defined]


@dataclass
class Bystanders:
    """Two well-behaved agents using the same server during the barrage: `writer` publishes to `reader`
    every 20 ms; the reader's stream (plain grpcio, no automatic reconnect) must never break, and every
    acknowledged publish must arrive, quickly. Threads and blocking grpcio: no event loop of their own."""

    address: str
    reader_id: str = dataclasses.field(default_factory=lambda: f"bystander-{uuid.uuid4().hex}")
    sent: set[str] = dataclasses.field(default_factory=set)  # acknowledged
    attempted: dict[str, float] = dataclasses.field(default_factory=dict)  # id → when it was sent
    latencies: list[float] = dataclasses.field(default_factory=list)
    received: set[str] = dataclasses.field(default_factory=set)
    errors: list[str] = dataclasses.field(default_factory=list)
    _stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    _threads: list[threading.Thread] = dataclasses.field(default_factory=list)
    _stream: Any = None

    def start(self) -> None:
        self._channel = grpc.insecure_channel(self.address)
        subscribe = self._channel.unary_stream(
            v1.NOTIFICATION_SERVICE_SUBSCRIBE.path, response_deserializer=v1.Delivery.FromString
        )
        self._stream = subscribe(
            bytes(v1.SubscriptionRequest(client_id=self.reader_id)), metadata=(("x-agent-id", self.reader_id),)
        )
        self._threads = [threading.Thread(target=self._read, daemon=True), threading.Thread(target=self._write)]
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + 10
        while not self.received and time.monotonic() < deadline:  # the first publish made it round
            time.sleep(0.02)
        assert self.received, f"bystanders never got going: {self.errors}"

    def stop(self) -> None:
        self._stop.set()
        self._threads[1].join(15)
        for _ in range(250):  # up to 5 s for the last deliveries
            if self.sent <= self.received:
                break
            time.sleep(0.02)
        self._stream.cancel()
        self._threads[0].join(15)
        self._channel.close()

    def _write(self) -> None:
        publish = self._channel.unary_unary(
            v1.NOTIFICATION_SERVICE_PUBLISH.path, response_deserializer=v1.PublishResponse.FromString
        )
        time.sleep(0.3)
        while not self._stop.is_set():
            nid = f"bystander-{uuid.uuid4().hex}"
            request = v1.PublishRequest(
                notification=v1.Notification(id=nid, text_message=v1.TextMessage(header=v1.Header(title="hi"))),
                target_client_id=self.reader_id,
                skip_toast=True,
            )
            self.attempted[nid] = time.monotonic()
            try:
                publish(bytes(request), timeout=5, metadata=(("x-agent-id", "bystander-writer"),))
                self.sent.add(nid)
            except grpc.RpcError as exc:
                self.errors.append(f"publish: {exc.code().name} {exc.details()}")  # type: ignore[attr-defined]
            time.sleep(0.02)

    def _read(self) -> None:
        try:
            for delivery in self._stream:
                if delivery.notification is not None:
                    nid = delivery.notification.id
                    self.received.add(nid)
                    if nid in self.attempted:
                        self.latencies.append(time.monotonic() - self.attempted[nid])
        except grpc.RpcError as exc:
            if exc.code() != S.CANCELLED:  # type: ignore[attr-defined]
                self.errors.append(f"stream: {exc.code().name} {exc.details()}")  # type: ignore[attr-defined]
            return
        if not self._stop.is_set():
            self.errors.append("stream ended by the server")


def undecodable(method: RpcMethod[Any, Any], data: bytes) -> bool:
    """Does the reference protobuf runtime refuse these bytes as this method's request?"""
    try:
        message_class(request_type_name(method)).FromString(data)
    except message.DecodeError:
        return True
    return False
