"""One module per ``dbaudit`` subcommand (see ``dbaudit.cli``)."""
