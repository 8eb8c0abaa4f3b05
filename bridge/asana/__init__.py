"""Everything that speaks to Asana. No other package calls Asana."""
