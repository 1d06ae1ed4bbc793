"""Attribution methods: each a plain function, registered in :mod:`chronolens._builtin_methods`.

A method's signature is ``fn(model, x, target, *, <params>, batch_size, progress) ->
MethodResult``, written once in torch against :class:`chronolens.models.Model`. Shared engines
live in private modules: ``_common`` (chunked gradient loops), ``_perturbation`` and
``_incremental`` (perturbed series, the exact incremental occlusion path), ``_segments`` (time
intervals x channels), ``_receptive_field`` (layer positions -> input time), ``_quadrature``.
"""
