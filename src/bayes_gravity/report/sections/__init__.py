"""The report's sections, one module each, in the order the page shows them.

Each module builds one :class:`~bayes_gravity.report.section.Section` from the
:class:`~bayes_gravity.report.inputs.ReportInputs` of a run folder; the sections share the
formats of :mod:`bayes_gravity.report.section` and the figures of
:mod:`bayes_gravity.report.figures`, and import nothing of each other.
"""
