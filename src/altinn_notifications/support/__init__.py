"""Support lookups: what one recipient (a person, an organisation, an email address) was sent, across
every sender, for support staff (docs/compatibility.md C22)."""
