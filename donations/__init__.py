"""Donations attributed to the email that led to them.

* ``donations.intake``: ``checked(...) -> DonationIn`` (a ``DonationError`` names the field),
  ``record_donation(session, item, attribution, at) -> Recorded`` (stored once per source and
  external id, matched, ``donation.attributed`` emitted), ``record_committed``.
* ``donations.matching``: by the signed ``wm_cid``, else by address + ``utm_campaign`` in a window.
* ``donations.webhooks``: the signed JSON shape and Stripe's ``checkout.session.completed``.
* ``donations.csv_import``: ``wildmail donations import FILE``.
* ``donations.money``: ISO 4217 codes, minor units, display.
"""
