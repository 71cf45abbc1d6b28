"""The data layer: dataset folders on disk and the modelling panel built from them.

Owns the dataset format, its loader and validation (:mod:`.dataset`: every problem of a
folder reported at once, naming file, column and keys), the World Bank importer, the check
that a dataset holds what a spec names (:mod:`.spec_check`) and the panel a model or the
classic pipeline fits on (:mod:`.panel`: transforms, covariates, exclusions). It may import
only the foundation: :mod:`bayes_gravity.config`, :mod:`bayes_gravity.errors` and
:mod:`bayes_gravity.io`.
"""
