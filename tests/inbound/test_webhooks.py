"""Provider webhooks over real HTTP (the ASGI app): signed requests act, unsigned, wrongly signed,
stale and replayed ones change nothing. SNS certificates come from a CA made here, served by the
test's own fetcher (no network); a certificate URL off amazonaws.com is refused before any fetch."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from inbound.webhooks import SNS_FIELDS
from subscribers.models import Subscriber
from tests.delivery.factories import add_subscribers, make_campaign
from tests.inbound import helpers as h
from wildmail.web.app import create_app

TOPIC = "arn:aws:sns:eu-west-1:123456789012:wildmail-ses"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
MAILGUN_KEY = "mailgun-signing-key-for-tests"
POSTMARK = "postmark-webhook-secret-for-tests"


def _ca_and_leaf():
    """A CA of our own and an SNS-like signing certificate it issued."""
    now = datetime.now(UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wildmail test CA")])
    (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    return key, leaf.public_bytes(serialization.Encoding.PEM)


KEY, CERT_PEM = _ca_and_leaf()


class Fetcher:
    """Serves the test certificate and records every URL asked for."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return CERT_PEM if url == CERT_URL else b"confirmed"


def sns(
    message: dict[str, Any], kind: str = "Notification", *, version: str = "2", url: str = CERT_URL, key=KEY
) -> bytes:
    body = {
        "Type": kind,
        "MessageId": message.pop("_id", "m-1"),
        "TopicArn": TOPIC,
        "Message": json.dumps(message),
        "Timestamp": message.pop("_at", None) or datetime.now(UTC).isoformat(),
        "SignatureVersion": version,
        "SigningCertURL": url,
    }
    if kind != "Notification":
        body.update(
            SubscribeURL="https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&T=1", Token="t"
        )
    text = "".join(f"{n}\n{body[n]}\n" for n in SNS_FIELDS[kind] if n in body)
    digest = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303 - SNS signature version 1
    body["Signature"] = base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), digest)).decode()
    return json.dumps(body).encode()


@pytest.fixture
def world(ctx):
    ctx.clock.set(datetime.now(UTC))  # the providers' timestamps below are the wall clock's
    ctx.settings = ctx.settings.with_overrides(
        ses_topic_arn=TOPIC,
        mailgun_webhook_signing_key=MAILGUN_KEY,
        postmark_webhook_secret=POSTMARK,
        sendgrid_webhook_public_key=base64.b64encode(
            SENDGRID.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).decode(),
    )
    campaign = make_campaign(ctx, emails=1)
    people = add_subscribers(ctx, [(f"{n}@example.org", n, None) for n in ("ana", "ben", "cai", "dan")])
    ids = h.sent_deliveries(ctx, campaign.id, people)
    fetcher = Fetcher()
    with TestClient(create_app(ctx, sns_fetch=fetcher), base_url="http://testserver") as client:
        yield (
            client,
            fetcher,
            dict(zip(("ana", "ben", "cai", "dan"), zip(people, ids, strict=True), strict=True)),
        )


SENDGRID = ec.generate_private_key(ec.SECP256R1())


def _status(ctx, subscriber_id: int) -> str:
    with Session(ctx.engine) as s:
        person = s.get(Subscriber, subscriber_id)
        assert person is not None
        return person.status


def _ses_bounce(ctx, delivery_id: int, address: str, **extra) -> dict[str, Any]:
    mid = h.delivery(ctx, delivery_id).message_id
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": address, "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}
            ],
        },
        "mail": {"source": "news@wildmail.test", "headers": [{"name": "Message-ID", "value": mid}]},
        **extra,
    }


def test_ses_bounce_and_complaint_through_sns(ctx, world) -> None:
    client, fetcher, people = world
    ana, d_ana = people["ana"]
    r = client.post("/webhooks/ses", content=sns(_ses_bounce(ctx, d_ana, "ana@example.org")))
    assert r.status_code == 200 and r.json() == {"events": 1, "acted": 1}
    assert _status(ctx, ana) == "bounced" and fetcher.urls == [CERT_URL]
    ben, d_ben = people["ben"]
    complaint = {
        "notificationType": "Complaint",
        "_id": "m-2",
        "complaint": {"complainedRecipients": [{"emailAddress": "ben@example.org"}]},
        "mail": {"commonHeaders": {"messageId": h.delivery(ctx, d_ben).message_id}},
    }
    assert client.post("/webhooks/ses", content=sns(complaint, version="1")).json()["acted"] == 1
    assert _status(ctx, ben) == "complained"


def test_sns_subscription_is_confirmed_on_the_aws_host(world) -> None:
    client, fetcher, _ = world
    r = client.post("/webhooks/ses", content=sns({}, "SubscriptionConfirmation"))
    assert r.status_code == 200 and fetcher.urls[-1].startswith(
        "https://sns.eu-west-1.amazonaws.com/?Action="
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
    ],
)
def test_a_certificate_url_off_amazonaws_is_refused_before_fetching(ctx, world, url, caplog) -> None:
    client, fetcher, people = world
    ana, d_ana = people["ana"]
    r = client.post("/webhooks/ses", content=sns(_ses_bounce(ctx, d_ana, "ana@example.org"), url=url))
    assert r.status_code == 403 and fetcher.urls == [] and _status(ctx, ana) == "active"
    assert "refused" in caplog.text


def test_sns_forged_stale_replayed_or_foreign_topic(ctx, world) -> None:
    client, _fetcher, people = world
    ana, d_ana = people["ana"]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = sns(_ses_bounce(ctx, d_ana, "ana@example.org"), key=other_key)
    assert client.post("/webhooks/ses", content=forged).status_code == 403
    unsigned = json.loads(sns(_ses_bounce(ctx, d_ana, "ana@example.org")))
    del unsigned["Signature"]
    assert client.post("/webhooks/ses", content=json.dumps(unsigned)).status_code == 403
    stale_at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    stale = sns({**_ses_bounce(ctx, d_ana, "ana@example.org"), "_at": stale_at})
    assert client.post("/webhooks/ses", content=stale).status_code == 403
    tampered = json.loads(sns(_ses_bounce(ctx, d_ana, "ana@example.org")))
    tampered["TopicArn"] = "arn:aws:sns:eu-west-1:999999999999:someone-else"
    assert client.post("/webhooks/ses", content=json.dumps(tampered)).status_code == 403
    assert _status(ctx, ana) == "active"
    _ben, d_ben = people["ben"]  # a soft bounce, then the same notification again
    soft = _ses_bounce(ctx, d_ben, "ben@example.org", _id="m-soft")
    soft["bounce"] = {
        "bounceType": "Transient",
        "bounceSubType": "MailboxFull",
        "bouncedRecipients": [{"emailAddress": "ben@example.org"}],
    }
    body = sns(soft)
    assert client.post("/webhooks/ses", content=body).json() == {"events": 1, "acted": 1}
    assert client.post("/webhooks/ses", content=body).json() == {"events": 1, "acted": 0}  # replayed


def test_postmark_needs_its_credentials(ctx, world) -> None:
    client, _, people = world
    cai, _ = people["cai"]
    event = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "ID": 42,
        "Email": "cai@example.org",
        "BouncedAt": datetime.now(UTC).isoformat(),
        "Description": "The address does not exist.",
    }
    assert client.post("/webhooks/postmark", json=event).status_code == 403
    assert client.post("/webhooks/postmark", json=event, auth=("postmark", "wrong")).status_code == 403
    assert _status(ctx, cai) == "active"
    r = client.post("/webhooks/postmark", json=event, auth=("postmark", POSTMARK))
    assert r.json() == {"events": 1, "acted": 1} and _status(ctx, cai) == "bounced"
    complaint = {
        "RecordType": "SpamComplaint",
        "ID": 43,
        "Email": "dan@example.org",
        "BouncedAt": datetime.now(UTC).isoformat(),
    }
    assert client.post("/webhooks/postmark", json=complaint, auth=("p", POSTMARK)).json()["acted"] == 1
    assert _status(ctx, people["dan"][0]) == "complained"


def _sendgrid(body: bytes, stamp: str, key=SENDGRID) -> dict[str, str]:
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


def test_sendgrid_signed_event_webhook(ctx, world) -> None:
    client, _, people = world
    ana, d_ana = people["ana"]
    ben, d_ben = people["ben"]
    stamp = str(int(datetime.now(UTC).timestamp()))
    events = [
        {
            "event": "bounce",
            "type": "bounce",
            "email": "ana@example.org",
            "status": "5.1.1",
            "reason": "550 5.1.1 no such user",
            "sg_event_id": "e1",
            "smtp-id": h.delivery(ctx, d_ana).message_id,
        },
        {
            "event": "spamreport",
            "email": "ben@example.org",
            "sg_event_id": "e2",
            "smtp-id": h.delivery(ctx, d_ben).message_id,
        },
        {"event": "delivered", "email": "cai@example.org", "sg_event_id": "e3"},
    ]
    body = json.dumps(events).encode()
    wrong = _sendgrid(body, stamp, ec.generate_private_key(ec.SECP256R1()))
    assert client.post("/webhooks/sendgrid", content=body, headers=wrong).status_code == 403
    old = str(int((datetime.now(UTC) - timedelta(hours=1)).timestamp()))
    assert client.post("/webhooks/sendgrid", content=body, headers=_sendgrid(body, old)).status_code == 403
    assert client.post("/webhooks/sendgrid", content=body).status_code == 403
    assert _status(ctx, ana) == "active"
    r = client.post("/webhooks/sendgrid", content=body, headers=_sendgrid(body, stamp))
    assert r.json() == {"events": 2, "acted": 2}
    assert (_status(ctx, ana), _status(ctx, ben)) == ("bounced", "complained")


def _mailgun(event: dict[str, Any], stamp: str | None = None, key: str = MAILGUN_KEY) -> dict[str, Any]:
    stamp = stamp or str(int(datetime.now(UTC).timestamp()))
    token = hashlib.sha256(json.dumps(event).encode()).hexdigest()
    sig = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": stamp, "token": token, "signature": sig}, "event-data": event}


def test_mailgun_hmac_signature(ctx, world) -> None:
    client, _, people = world
    cai, d_cai = people["cai"]
    mid = h.delivery(ctx, d_cai).message_id.strip("<>")
    event = {
        "event": "failed",
        "severity": "permanent",
        "id": "mg-1",
        "recipient": "cai@example.org",
        "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist"},
        "message": {"headers": {"message-id": mid}},
    }
    assert client.post("/webhooks/mailgun", json={"event-data": event}).status_code == 403
    assert client.post("/webhooks/mailgun", json=_mailgun(event, key="wrong-key")).status_code == 403
    old = str(int((datetime.now(UTC) - timedelta(days=1)).timestamp()))
    assert client.post("/webhooks/mailgun", json=_mailgun(event, old)).status_code == 403
    assert _status(ctx, cai) == "active"
    signed = _mailgun(event)
    assert client.post("/webhooks/mailgun", json=signed).json() == {"events": 1, "acted": 1}
    assert client.post("/webhooks/mailgun", json=signed).json() == {"events": 1, "acted": 0}  # replayed
    assert _status(ctx, cai) == "bounced"


def test_a_provider_without_its_secret_has_no_endpoint(ctx) -> None:
    with TestClient(create_app(ctx), base_url="http://testserver") as client:
        for provider in ("ses", "postmark", "sendgrid", "mailgun"):
            assert client.post(f"/webhooks/{provider}", content=b"{}").status_code == 404
