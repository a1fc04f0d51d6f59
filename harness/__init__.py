"""planeval's engine: registries, specs, corpus, cache, runner and the model API.

It knows no method by name; tasks, trainers and variants plug in through the registries.
"""

__version__ = "0.1.0"
