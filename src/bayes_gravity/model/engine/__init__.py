"""The inference engine: the PyMC model compiled once into cached JAX programs.

Owns turning a ``pm.Model`` into a serialised whole-chain JAX program (:mod:`.program`,
:mod:`.driver`), the cache folder and its keys (:mod:`.cache`), and running the chains into
an ArviZ DataTree (:mod:`.sampler`). It imports nothing of the package but
:mod:`bayes_gravity.errors`; the model layer calls it.
"""
