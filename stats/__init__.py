"""Read-only engagement figures, shared by the CLI, the dashboard and the demo.

Public API (figures are defined once in :mod:`stats.definitions`):

* ``stats.report.campaign_report(engine, slug_or_id, clock=None) -> CampaignReport``
  (raises ``stats.report.UnknownCampaign``); ``stats.report.overview(engine) -> list[CampaignSummary]``.
* ``stats.figures``: ``CampaignReport`` (``emails: list[Funnel]``, ``total: Funnel``, ``dropoff``,
  ``hourly``, ``daily``, ``top_links``, ``as_dict()``), ``Funnel`` (counts + ``open_rate``, ``ctr``,
  ``click_to_open``, ``donation_ctr``, ``unsubscribe_rate``, ``as_dict()``).
* ``stats.export``: ``report_json``, ``report_csv``, ``overview_json``, ``overview_csv``, ``percent``.
* ``stats.charts``: ``timeline_svg(buckets, title, hourly=False)``, ``dropoff_svg(steps)`` (inline SVG).
* ``stats.html_report``: ``render_html_report(report) -> str``,
  ``write_html_report(engine, campaign, path, clock=None) -> Path`` (standalone, offline).
* ``stats.rollup``: ``refresh(engine)`` (reports call it), ``rebuild(engine)``.
"""
