"""``wildmail demo``: the whole mission end to end on one machine, with simulated readers."""
