"""The timetable's wiring to APScheduler (filled by the delivery issue): no business logic here."""
