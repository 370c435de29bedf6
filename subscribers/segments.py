"""Segments: which subscribers of a list a campaign goes to.

``Campaign.segment`` JSON shape (every key optional; ``{}`` = all active members)::

    {
      "status": ["active"],                      # statuses to include; default ["active"]
      "attributes": {"country": "ru",            # attribute equals value (compared as text)
                     "tier": ["gold", "silver"]},  # ... or is one of the values
      "timezones": ["Europe/Berlin", null]       # IANA zones; null matches "no zone set"
    }

Other statuses can be selected for reports; forgotten people are always left out. Senders must
still check ``subscribers.lifecycle.is_suppressed`` right before sending.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select

from subscribers.models import ListMembership, Subscriber, SubscriberStatus

STATUSES = {s.value for s in SubscriberStatus}


class SegmentError(ValueError):
    """The segment JSON is malformed; the message names the key."""


def validate_segment(segment: dict[str, Any] | None) -> dict[str, Any]:
    """Check a segment's shape and return it normalised (lists everywhere)."""
    seg = dict(segment or {})
    unknown = set(seg) - {"status", "attributes", "timezones"}
    if unknown:
        raise SegmentError(f"segment: unknown key(s) {', '.join(sorted(unknown))}")
    status = seg.get("status", ["active"])
    status = [status] if isinstance(status, str) else status
    if not isinstance(status, list) or not status or any(s not in STATUSES for s in status):
        raise SegmentError(f"segment.status: expected a list of {sorted(STATUSES)}, got {status!r}")
    attrs = seg.get("attributes", {})
    if not isinstance(attrs, dict):
        raise SegmentError("segment.attributes: expected an object of name -> value or list of values")
    norm_attrs: dict[str, list[str]] = {}
    for key, value in attrs.items():
        values = value if isinstance(value, list) else [value]
        if not values or any(isinstance(v, (dict, list)) or v is None for v in values):
            raise SegmentError(f"segment.attributes.{key}: expected a value or a non-empty list of values")
        norm_attrs[str(key)] = [str(v) for v in values]
    zones = seg.get("timezones")
    if zones is not None and (
        not isinstance(zones, list) or any(not (z is None or isinstance(z, str)) for z in zones)
    ):
        raise SegmentError("segment.timezones: expected a list of zone names (or null for 'no zone')")
    result: dict[str, Any] = {"status": status, "attributes": norm_attrs}
    if zones is not None:
        result["timezones"] = zones
    return result


def segment_clause(segment: dict[str, Any] | None) -> ColumnElement[bool]:
    """A WHERE condition on ``subscribers`` columns for ``segment`` (raises SegmentError).

    Used by ``campaigns.enrolment`` on top of its own list-membership query.
    """
    seg = validate_segment(segment)
    conditions: list[ColumnElement[bool]] = [
        Subscriber.forgotten_at.is_(None),
        Subscriber.status.in_(seg["status"]),
    ]
    for key, values in seg["attributes"].items():
        conditions.append(Subscriber.attributes[key].as_string().in_(values))
    zones = seg.get("timezones")
    if zones is not None:
        named = [z for z in zones if z is not None]
        options = [Subscriber.timezone.in_(named)] if named else []
        if None in zones:
            options.append(Subscriber.timezone.is_(None))
        conditions.append(or_(*options) if options else false())
    return and_(*conditions)


def segment_select(list_id: int, segment: dict[str, Any] | None = None) -> Select[tuple[int]]:
    """``SELECT subscribers.id`` of the list's members matching ``segment`` (raises SegmentError)."""
    members = select(ListMembership.subscriber_id).where(ListMembership.list_id == list_id)
    query = select(Subscriber.id).where(Subscriber.id.in_(members), segment_clause(segment))
    return query.order_by(Subscriber.id)
