"""The report layer: one self-contained HTML page per run folder, drawn from saved files.

Owns what the report reads (:mod:`.inputs`), the section type and shared formats
(:mod:`.section`), the figures (:mod:`.figures`), one module per section
(:mod:`.sections`), the HTML assembly (:mod:`.assemble`) and its template. It renders; it
does not fit or re-run a pipeline. It may import results, model, classic, data and the
foundation; never the API or the CLI.
"""
