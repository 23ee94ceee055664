"""greenrow's command line (./greenrow at the top of the repository): the HTTP API for people.

main.py parses and dispatches, client.py talks HTTP, commands.py does each command, progress.py
follows a run to its end (a bar on a terminal, plain lines in a pipe, JSON lines with --json),
top.py refreshes a table of nodes and runs, output.py formats what is printed.
"""
