"""The model layer: the Bayesian models, and how they are sampled.

Owns the latent CBEC index (:mod:`.latent_index`), the hierarchical gravity block
(:mod:`.gravity`), the model class that builds, samples and saves a posterior
(:mod:`.gravity_model`), the inference engine (:mod:`.engine`), the nutpie path
(:mod:`.nutpie_sampler`), the fast approximations (:mod:`.approximate`) and the bambi
baseline (:mod:`.baseline`); later the frontier and multi-country models. It may import the
data layer and the foundation (config, errors, io, potential), never the classic pipeline
(a peer), results, report, validation, the API or the CLI.
"""
