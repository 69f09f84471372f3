"""Reports people read: the PNG plots, report.md, and the pull-request review against another revision."""
