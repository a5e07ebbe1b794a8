"""One module per ``geovpr`` subcommand (see :mod:`geovpr.cli`)."""
