from specinterp.cli import cli

cli()
