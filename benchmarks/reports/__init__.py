"""Reports: the one latency result schema and its statistics, JSON/CSV/Markdown files, plots, and the embedded
default's summary of every measured figure."""
