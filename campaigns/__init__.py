"""Campaigns: article -> series of emails, rendering, enrolment and the timetable rules."""
