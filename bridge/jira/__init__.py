"""Everything that speaks to Jira Server / Data Center. No other package calls Jira."""
